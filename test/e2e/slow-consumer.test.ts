import t from 'tap';
import { defaultConfig } from '../../lib/config.js';
import { AppClient, describe, tally, assertExactlyOnce } from '../helpers/app-client.js';
import { startSystem } from '../helpers/system.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('a client that stops reading is closed with 4009; others are unaffected; it resumes with every message once, in order', async (t) => {
  const maxBackpressureBytes = 64 * 1024;
  const sys = await startSystem(t, {
    limits: { ...defaultConfig().limits, maxBackpressureBytes, framesPerSecond: 10_000, frameBurst: 10_000 },
  });
  const gateway = sys.running[0]!.gateway!;
  const deadline = Date.now() + 50_000;
  const token = (sub: string) => () => sys.token(sub);
  const alice = await AppClient.start({ userId: 'alice', url: sys.url, token: token('alice'), deadline });
  const bob = await AppClient.start({ userId: 'bob', url: sys.url, token: token('bob'), deadline });
  const carol = await AppClient.start({ userId: 'carol', url: sys.url, token: token('carol'), deadline });
  t.teardown(() => {
    for (const app of [alice, bob, carol]) app.stop();
  });

  // A group, so that one send reaches the slow reader (bob) and a healthy one (carol).
  const created = new Promise<string>((resolve) => {
    const timer = setInterval(() => {
      const f = alice.accepted.find((x) => x.type === 'conversation.created');
      if (f) {
        clearInterval(timer);
        resolve(f.payload.conversation.id as string);
      }
    }, 10);
  });
  alice.sdk.sendFrame('conversation.create', { kind: 'group', title: 'slow', members: ['bob', 'carol'] });
  const conversationId = await created;
  await bob.until(() => bob.accepted.some((f) => f.type === 'conversation.created'), 5_000, 'the group');
  await carol.until(() => carol.accepted.some((f) => f.type === 'conversation.created'), 5_000, 'the group');
  t.equal(gateway.stats().connections, 3, 'three sockets on the gateway');

  // Bob's app stops reading: the socket is paused, so the kernel buffers fill, then uWS's.
  const slowSocket = bob.socket!;
  const closed = bob.nextClose();
  slowSocket.pause();
  const pausedAt = Date.now();
  const filler = 'x'.repeat(2 * 1024);
  let sent = 0;
  const send = () => {
    alice.send({ conversationId, tempId: `s${sent}`, content: `${sent}|${Date.now()}|${filler}` });
    sent++;
  };
  // Keep sending (at most 200 unconfirmed at a time) until the gateway has closed bob, bounded.
  const sendBound = Date.now() + 25_000;
  while (gateway.stats().connections === 3 && Date.now() < sendBound && sent < 30_000) {
    if (alice.outbox.size < 200) for (let i = 0; i < 20; i++) send();
    await sleep(2);
  }
  const closedAfterMs = Date.now() - pausedAt;
  const sentBeforeClose = sent;
  t.equal(gateway.stats().connections, 2, `the gateway closed the paused socket (after ${closedAfterMs} ms, ${sentBeforeClose} messages of 2 KiB)`);

  // Carol kept up meanwhile: she has everything acknowledged so far, promptly, while bob is still paused.
  const ackedAtClose = new Set(alice.acknowledged.keys());
  await carol.until(() => [...ackedAtClose].every((id) => carol.deliveries.some((d) => d.tempId === id)), 3_000, 'everything acknowledged while bob was paused');
  const lagMs = carol.deliveries.map((d) => d.at - Number(d.content!.split('|')[1]));
  const maxLag = Math.max(...lagMs);
  t.pass(`carol got all ${ackedAtClose.size} messages acknowledged while bob was paused (max lag ${maxLag} ms)`);
  // Held up by bob, her lag would grow with his pause; a fixed bound would only measure the machine's load.
  t.ok(maxLag < closedAfterMs / 2, `carol was never held up by bob (max lag ${maxLag} ms against a pause of ${closedAfterMs} ms)`);

  // A few more while bob is closed and still not reading.
  for (let i = 0; i < 50; i++) send();

  // Bob's app reads again: it sees what the kernel held, then the close, and resumes from its cursor.
  slowSocket.resume();
  const close = await closed;
  t.equal(close.code, 4009, `closed with 4009 (${close.reason})`);

  await alice.until(() => alice.outbox.size === 0 && alice.acknowledged.size + alice.failed.size === sent, 30_000, 'every send confirmed');
  for (const app of [bob, carol]) await app.until(() => app.delivered >= alice.acknowledged.size, 30_000, 'every message delivered');
  await sleep(500);

  t.equal(bob.sessions.length, 2, 'bob reconnected once');
  t.equal(bob.sessions[1]?.resumed, true, 'from his cursor');
  for (const app of [bob, carol]) {
    const x = tally(alice, app);
    t.comment(`${describe(`slow consumer (${app.userId})`, x)} (${app.droppedBySeq} frames dropped by cursor)`);
    assertExactlyOnce(t, x, app, sent);
  }
  t.same(carol.closes, [], 'carol was never disconnected');
  t.comment(`slow consumer: closed ${closedAfterMs} ms after it stopped reading, after ${sentBeforeClose} sends; carol max lag ${maxLag} ms`);
});
