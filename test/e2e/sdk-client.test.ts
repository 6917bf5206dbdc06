import t from 'tap';
import { pack, unpack } from 'msgpackr';
import { NodeWebSocket } from '../../cli/sdk-node.js';
import { signDevToken } from '../../lib/dev-token.js';
import { MemoryCursorStore, msgpackCodec, ParleyClient, type ParleyClientOptions, type WireMessage } from '../../sdk/src/index.js';
import { freePort } from '../helpers/nats-server.js';
import { startRoleProcess } from '../helpers/processes.js';
import { startSystem, type TestSystem } from '../helpers/system.js';

/** The SDK against a real system: a gateway process (or in-process), real NATS and Postgres. */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sdk(sys: Pick<TestSystem, 'token'>, userId: string, url: string | (() => string), more: Partial<ParleyClientOptions> = {}): ParleyClient {
  return new ParleyClient({
    url,
    token: () => sys.token(userId),
    WebSocket: NodeWebSocket,
    reconnect: { firstMs: 100, maxMs: 1_000 },
    outbox: { maxAttempts: 100, giveUpAfterMs: 40_000, retry: { firstMs: 100, maxMs: 1_000, factor: 2, stableAfterMs: 10_000, random: Math.random } },
    ...more,
  });
}

async function until(what: string, pred: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(10);
  }
}

/** What an app keeps of the messages it is shown, to check exactly-once and order. */
function inbox(client: ParleyClient): WireMessage[] {
  const got: WireMessage[] = [];
  client.on('message.new', ({ message }) => got.push(message));
  return got;
}

t.test('send resolves with message.sent; the peer sees it once; receipts flow back by ack and markRead; unread follows', async (t) => {
  const sys = await startSystem(t);
  const alice = sdk(sys, 'alice', sys.url);
  const bob = sdk(sys, 'bob', sys.url);
  t.teardown(() => Promise.all([alice.close(), bob.close()]));
  const states: string[] = [];
  alice.on('state', (s) => states.push(s));
  const [a] = await Promise.all([alice.connect(), bob.connect()]);
  t.equal(a.userId, 'alice', 'connected as the token says');
  t.equal(alice.state, 'open');
  const bobGot = inbox(bob);
  const statuses: string[] = [];
  alice.on('message.status', (p) => statuses.push(p.newStatus));

  const sent = await alice.send({ toUserId: 'bob' }, 'hello bob');
  t.equal(sent.message.content, 'hello bob', 'send resolves with the stored message');
  t.equal(sent.message.seq, 1);
  await until('bob gets it', () => bobGot.length === 1);
  t.equal(bobGot[0]!.id, sent.message.id, 'the same message');
  await until('the delivered receipt (ack)', () => statuses.includes('delivered'));
  await until('bob has one unread', () => bob.unread.of(sent.message.conversationId) === 1);
  t.equal(bob.unread.total, 1);
  t.ok(bob.markRead(sent.message.conversationId, 1), 'markRead goes out');
  await until('the read receipt', () => statuses.includes('read'));
  await until('bob has no unread', () => bob.unread.total === 0);
  t.same(alice.pending(), [], 'nothing pending');
  t.same(states, ['connecting', 'open'], 'states');

  // A refused send rejects with the protocol's code, at once (not retried).
  const refused = await alice.send({ conversationId: 'g_nope' }, 'x').catch((e) => e);
  t.equal(refused.code, 'conversation_not_found', 'a rejection carries its code');
  t.equal(refused.attempts, 1, 'a permanent error is not retried');
});

t.test('kill -9 the gateway under connected SDK clients while messages flow, restart it: every message once, in order; the outbox drains', async (t) => {
  const sys = await startSystem(t, {}, ['engine', 'projector']);
  const env = { PARLEY_FRAMES_PER_SECOND: '1000', PARLEY_FRAME_BURST: '2000' };
  // A fixed port: uWS sets SO_REUSEADDR only on a listen socket with a port given, and without
  // it the dead gateway's TIME_WAIT sockets keep a port picked by the kernel (port 0) from being
  // bound again for a minute. Production gateways have a fixed port.
  const port = String(await freePort());
  let gateway = await startRoleProcess(t, 'gateway', sys.config, { ...env, PARLEY_PORT: port });
  const alice = sdk(sys, 'alice', gateway.url);
  const bob = sdk(sys, 'bob', gateway.url);
  t.teardown(() => Promise.all([alice.close(), bob.close()]));
  await Promise.all([alice.connect(), bob.connect()]);
  const bobGot = inbox(bob);
  const bobDrops: number[] = [];
  bob.on('disconnected', ({ code }) => bobDrops.push(code));

  const total = 300;
  const killAt = 100;
  const sends: Promise<unknown>[] = [];
  let restarted: Promise<void> | undefined;
  let beforeKill = -1;
  for (let i = 0; i < total; i++) {
    sends.push(alice.send({ toUserId: 'bob' }, `m${i}`, { tempId: `k${i}` }));
    if (i === killAt) {
      beforeKill = bobGot.length;
      restarted = (async () => {
        await gateway.kill('SIGKILL');
        gateway = await startRoleProcess(t, 'gateway', sys.config, { ...env, PARLEY_PORT: port });
      })();
    }
    await sleep(10);
  }
  await restarted;
  const results = await Promise.allSettled(sends);
  t.same(results.filter((r) => r.status === 'rejected'), [], 'every send resolved');
  t.same(alice.pending(), [], 'the outbox drained');
  await until('bob has every message', () => bobGot.length >= total, 20_000);
  await sleep(300);
  t.comment(`kill -9 under the SDK: bob had ${beforeKill} before the kill, closes ${JSON.stringify(bobDrops)}, ${bob.duplicatesDropped} replayed frames dropped`);
  t.ok(beforeKill > 0 && beforeKill < total, 'the kill came mid-stream');
  t.ok(bobDrops.length >= 1, 'bob lost his socket');
  t.same(
    bobGot.map((m) => m.seq),
    Array.from({ length: total }, (_, i) => i + 1),
    'bob saw message seqs 1..N, each once, in order',
  );
  t.equal(new Set(bobGot.map((m) => m.tempId)).size, total, 'no message twice');
  await gateway.kill('SIGTERM');
});

t.test('disconnect() keeps the outbox and the cursor; connect() resumes with exactly what was missed', async (t) => {
  const sys = await startSystem(t);
  const alice = sdk(sys, 'alice', sys.url);
  const bob = sdk(sys, 'bob', sys.url, { codec: msgpackCodec({ pack, unpack }) });
  t.teardown(() => Promise.all([alice.close(), bob.close()]));
  await Promise.all([alice.connect(), bob.connect()]);
  const bobGot = inbox(bob);
  await alice.send({ toUserId: 'bob' }, 'first');
  await until('first', () => bobGot.length === 1);

  await bob.disconnect();
  t.equal(bob.state, 'idle', 'disconnected, not reconnecting');
  await alice.disconnect();
  const queued = alice.send({ toUserId: 'bob' }, 'queued while away');
  await sleep(100);
  t.equal(alice.pending()[0]?.state, 'waiting', 'a send waits for the connection');
  await alice.connect();
  await queued;
  for (let i = 0; i < 5; i++) await alice.send({ toUserId: 'bob' }, `missed ${i}`);
  await sleep(200);
  t.equal(bobGot.length, 1, 'nothing arrives while disconnected');
  const session = await bob.connect();
  t.equal(session.resumed, true, 'resumed from the cursor');
  await until('the missed ones', () => bobGot.length === 7);
  t.same(
    bobGot.map((m) => m.content),
    ['first', 'queued while away', ...Array.from({ length: 5 }, (_, i) => `missed ${i}`)],
    'exactly the missed ones, in order (over msgpack)',
  );
});

t.test('a cursor the inbox cannot honour: resync event, the client continues from the new cursor', async (t) => {
  const sys = await startSystem(t);
  const bob = sdk(sys, 'bob', sys.url, { cursorStore: new MemoryCursorStore(9_000_000) });
  t.teardown(() => bob.close());
  const resync = new Promise<{ requestedCursor: number; cursor: number }>((resolve) => bob.on('resync', resolve));
  const session = await bob.connect();
  t.equal(session.resumed, false);
  const info = await resync;
  t.equal(info.requestedCursor, 9_000_000, 'resume.reset names the cursor asked for');
  t.equal(bob.cursor, info.cursor, 'the client continues from the server’s cursor');
});

t.test('tokens: an expired one is replaced at reconnect (4001); a short one is refreshed before it expires', async (t) => {
  const sys = await startSystem(t);
  const secret = sys.config.auth.secret!;
  let calls = 0;
  // The first token is expired: the server closes with 4001 and the client asks again.
  const carol = new ParleyClient({
    url: sys.url,
    WebSocket: NodeWebSocket,
    reconnect: { firstMs: 50, maxMs: 200 },
    token: () => signDevToken({ secret }, { sub: 'carol' }, calls++ === 0 ? -60 : 3_600),
  });
  t.teardown(() => carol.close());
  const closes: number[] = [];
  carol.on('disconnected', ({ code }) => closes.push(code));
  await carol.connect();
  t.same(closes, [4001], 'the expired token was refused with 4001');
  t.equal(calls, 2, 'and a fresh one asked for');

  // A static token that is refused cannot get better: connect() rejects, the client stops.
  const dave = new ParleyClient({ url: sys.url, WebSocket: NodeWebSocket, token: await signDevToken({ secret }, { sub: 'dave' }, -60) });
  const err = await dave.connect().catch((e) => e);
  t.equal(err.code, 'unauthorized', 'a refused static token rejects connect()');
  t.equal(dave.state, 'closed');

  // Tokens of 8 s (the server's tolerance is 5 s), refreshed 6 s before: the socket outlives them.
  const erin = new ParleyClient({ url: sys.url, WebSocket: NodeWebSocket, refreshBeforeExpiryMs: 6_000, token: () => signDevToken({ secret }, { sub: 'erin' }, 8) });
  t.teardown(() => erin.close());
  const refreshed: string[] = [];
  erin.on('auth.refreshed', (p) => refreshed.push(p.expiresAt));
  const drops: number[] = [];
  erin.on('disconnected', ({ code }) => drops.push(code));
  await erin.connect();
  await until('two refreshes', () => refreshed.length >= 2, 20_000);
  t.same(drops, [], 'never disconnected: each token was refreshed in time');
});
