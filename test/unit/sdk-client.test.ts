import fc from 'fast-check';
import t from 'tap';
import { ParleyClient, serverFrameTypes, type ParleyClientOptions, type WebSocketLike } from '../../sdk/src/index.js';
import { ManualClock } from '../helpers/manual-clock.js';

/**
 * ParleyClient's own decisions, on a socket the test plays the server on and a manual clock:
 * when it reconnects and with which cursor, what it hands the app, when it acks, what a close
 * code does. (Against a real gateway: test/e2e/sdk-client.test.ts.)
 */

class FakeSocket implements WebSocketLike {
  readyState = 0;
  protocol = '';
  binaryType = 'blob';
  onopen: ((e: unknown) => void) | null = null;
  onmessage: ((e: { data: unknown }) => void) | null = null;
  onclose: ((e: { code: number; reason: string }) => void) | null = null;
  onerror: ((e: unknown) => void) | null = null;
  readonly sent: any[] = [];
  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {}
  send(data: string | Uint8Array): void {
    this.sent.push(JSON.parse(data as string));
  }
  close(code = 1000, reason = ''): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  // The server's side:
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  frame(f: object): void {
    this.onmessage?.({ data: JSON.stringify(f) });
  }
  success(userId: string, cursor: number, resumed: boolean): void {
    this.frame({ type: 'connection.success', payload: { userId, deviceId: 'd', connectionId: 'conn_1', cursor, resumed, serverTime: '', limits: {} } });
  }
  of(type: string): any[] {
    return this.sent.filter((f) => f.type === type);
  }
}

function setup(more: Partial<ParleyClientOptions> = {}) {
  const clock = new ManualClock();
  const sockets: FakeSocket[] = [];
  const client = new ParleyClient({
    url: 'ws://gw/ws',
    token: 'tok',
    clock,
    createSocket: (url, protocols) => {
      const s = new FakeSocket(url, protocols);
      sockets.push(s);
      return s;
    },
    reconnect: { firstMs: 1_000, maxMs: 8_000, factor: 2, stableAfterMs: 10_000, random: () => 1 },
    fetch: async () => ({ status: 200, ok: true, json: async () => ({}) }),
    ...more,
  });
  /** Let the client's awaited token and cursor reads finish. */
  const settle = () => new Promise((r) => setTimeout(r, 0));
  return { clock, sockets, client, settle, last: () => sockets.at(-1)! };
}

const message = (seq: number, senderId: string, tempId = `t${seq}`) => ({
  id: `m_${seq}`,
  conversationId: 'c1',
  seq,
  senderId,
  sender: { id: senderId },
  type: 'text',
  content: `#${seq}`,
  tempId,
  status: 'sent',
  createdAt: '',
});

t.test('authenticates with the authenticate frame; reconnects with back-off and the cursor; drops what it processed', async (t) => {
  const { clock, sockets, client, settle, last } = setup();
  const seen: number[] = [];
  client.on('message.new', ({ message: m }) => seen.push(m.seq));
  const connected = client.connect();
  await settle();
  t.equal(last().url, 'ws://gw/ws', 'no cursor on the first connect');
  t.same(last().protocols, ['parley.v1.json']);
  last().open();
  t.same(last().sent, [{ type: 'authenticate', payload: { token: 'tok' } }], 'the token goes in a frame, not the URL');
  last().success('bob', 10, false);
  t.equal((await connected).cursor, 10);
  last().frame({ type: 'message.new', seq: 11, payload: { message: message(1, 'alice') } });
  last().frame({ type: 'message.new', seq: 12, payload: { message: message(2, 'alice') } });
  last().close(1006, '');
  t.equal(client.state, 'reconnecting');
  clock.advance(999);
  await settle();
  t.equal(sockets.length, 1, 'no reconnect before the back-off');
  clock.advance(1);
  await settle();
  t.equal(last().url, 'ws://gw/ws?cursor=12', 'reconnects after the back-off with the last seq processed');
  last().close(1006, ''); // the attempt fails
  clock.advance(1_999);
  await settle();
  t.equal(sockets.length, 2, 'the delay doubled');
  clock.advance(1);
  await settle();
  last().open();
  last().success('bob', 12, true);
  // A failover replays what was processed: dropped.
  last().frame({ type: 'message.new', seq: 12, payload: { message: message(2, 'alice') } });
  last().frame({ type: 'message.new', seq: 13, payload: { message: message(3, 'alice') } });
  t.same(seen, [1, 2, 3], 'each message once, in order');
  t.equal(client.duplicatesDropped, 1);
  t.equal(client.state, 'open');
  await client.close();
  t.equal(client.state, 'closed');
});

t.test('acks: one ack for a burst of messages from others, at most every ackEveryMs; none for own messages', async (t) => {
  const { clock, client, settle, last } = setup({ ackEveryMs: 250 });
  void client.connect();
  await settle();
  last().open();
  last().success('bob', 0, false);
  for (let i = 1; i <= 5; i++) last().frame({ type: 'message.new', seq: i, payload: { message: message(i, 'alice') } });
  t.same(last().of('ack'), [], 'not at once');
  clock.advance(250);
  t.same(
    last().of('ack').map((f) => f.payload.seq),
    [5],
    'one ack covering the burst',
  );
  last().frame({ type: 'message.new', seq: 6, payload: { message: message(6, 'bob') } });
  last().frame({ type: 'message.sent', seq: 7, payload: { tempId: 'x', message: message(7, 'bob', 'x') } });
  clock.advance(1_000);
  t.equal(last().of('ack').length, 1, 'own messages are not receipts: no ack');
  await client.close();
});

t.test('sends: go out once connected, re-sent with the same tempId on the next connection, confirmed by message.sent', async (t) => {
  const { clock, client, settle, last } = setup();
  void client.connect();
  await settle();
  const sent = client.send({ toUserId: 'alice' }, 'hi', { tempId: 'T1' });
  t.equal(client.pending()[0]?.state, 'waiting', 'no connection yet: waiting');
  last().open();
  t.same(last().of('message.send'), [], 'nothing before connection.success');
  last().success('bob', 0, false);
  t.same(last().of('message.send'), [{ type: 'message.send', ref: 's:T1', payload: { toUserId: 'alice', content: 'hi', tempId: 'T1' } }]);
  last().close(1001, 'server going away');
  clock.advance(1_000);
  await settle();
  last().open();
  last().success('bob', 0, true);
  t.equal(last().of('message.send')[0]?.payload.tempId, 'T1', 're-sent with the same tempId');
  last().frame({ type: 'message.sent', seq: 1, ref: 's:T1', payload: { tempId: 'T1', message: message(1, 'bob', 'T1') } });
  t.equal((await sent).message.id, 'm_1');
  t.same(client.pending(), []);
  await client.close();
});

t.test('close 4001: a token function is asked again; a static token stops the client', async (t) => {
  let n = 0;
  const a = setup({ token: () => `tok${++n}` });
  void a.client.connect();
  await a.settle();
  a.last().open();
  a.last().frame({ type: 'error', error: { code: 'token_expired', message: 'expired' } });
  a.last().close(4001, 'token_expired');
  a.clock.advance(1_000);
  await a.settle();
  a.last().open();
  t.same(a.last().sent[0], { type: 'authenticate', payload: { token: 'tok2' } }, 'a fresh token from the function');
  await a.client.close();

  const b = setup();
  const connecting = b.client.connect();
  await b.settle();
  b.last().open();
  b.last().close(4001, 'unauthorized');
  const err = await connecting.catch((e) => e);
  t.equal(err.code, 'unauthorized', 'connect() rejects');
  t.equal(b.client.state, 'closed', 'and the client stops: the same token would be refused again');
  b.clock.advance(60_000);
  await b.settle();
  t.equal(b.sockets.length, 1, 'no reconnect loop');
});

t.test('a half-open socket (nothing heard for two ping periods) is dropped and replaced', async (t) => {
  const { clock, sockets, client, settle, last } = setup({ pingEveryMs: 1_000 });
  void client.connect();
  await settle();
  last().open();
  last().success('bob', 0, false);
  clock.advance(1_000);
  t.equal(last().of('ping').length, 1, 'a ping after a quiet period');
  clock.advance(1_000);
  t.equal(last().readyState, 3, 'nothing heard for 2 s: dropped');
  clock.advance(1_000);
  await settle();
  t.equal(sockets.length, 2, 'and replaced');
  await client.close();
});

t.test('resume.reset: the app is told to resync, the client continues from the server cursor; unread follows the server', async (t) => {
  const { client, settle, last } = setup();
  const resyncs: number[] = [];
  client.on('resync', (r) => resyncs.push(r.cursor));
  void client.connect();
  await settle();
  last().open();
  last().success('bob', 40, false);
  last().frame({ type: 'resume.reset', payload: { requestedCursor: 3, cursor: 40, reason: 'gone' } });
  t.same(resyncs, [40]);
  t.equal(client.cursor, 40);
  last().frame({ type: 'unread.summary', payload: { conversations: [{ conversationId: 'c1', unread: 2 }], totalUnread: 2 } });
  last().frame({ type: 'unread.update', payload: { conversationId: 'c2', unread: 1, totalUnread: 3 } });
  t.equal(client.unread.total, 3);
  t.equal(client.unread.of('c1'), 2);
  // A handler that throws does not stop the client.
  const errors: string[] = [];
  client.on('handler_error', (_e, event) => errors.push(event));
  client.on('message.new', () => {
    throw new Error('app bug');
  });
  last().frame({ type: 'message.new', seq: 41, payload: { message: message(1, 'alice') } });
  t.same(errors, ['message.new']);
  t.equal(client.cursor, 41, 'the frame still counts as processed');
  await client.close();
});

t.test('hostile server frames (any shape, any value, known types with broken payloads) never throw out of the socket handler; the client keeps working', async (t) => {
  const { client, settle, last } = setup();
  const dropped: unknown[] = [];
  client.on('frame_error', (_err, frame) => dropped.push(frame));
  const seen: number[] = [];
  client.on('message.new', ({ message: m }) => seen.push(m.seq));
  void client.connect();
  await settle();
  last().open();
  last().success('bob', 0, false);
  const socket = last();
  const hostileValue = fc.oneof(
    fc.constantFrom(null, NaN, Infinity, -1, 2 ** 64, '', '\u0000', '\ud800', '%zz', [], {}),
    fc.jsonValue({ maxDepth: 6 }),
    fc.string(),
  );
  const hostileFrame = fc.record(
    {
      type: fc.oneof(fc.constantFrom(...serverFrameTypes, 'error'), fc.string()),
      seq: hostileValue,
      ref: hostileValue,
      payload: fc.oneof(hostileValue, fc.dictionary(fc.constantFrom('message', 'cursor', 'tempId', 'users', 'conversations', 'conversationId', 'userId'), hostileValue)),
      error: hostileValue,
    },
    { requiredKeys: ['type'] },
  );
  fc.assert(
    fc.property(hostileFrame, (frame) => {
      // JSON cannot carry NaN or Infinity, msgpack can: hand the decoded object over directly.
      socket.onmessage!({ data: frame as never });
      socket.onmessage!({ data: JSON.stringify(frame) });
    }),
    { numRuns: 1_000 },
  );
  socket.onmessage!({ data: '{"type":' });
  socket.onmessage!({ data: 42 });
  t.ok(dropped.length > 0, `malformed frames were dropped and reported (${dropped.length})`);
  t.equal(client.state, 'open', 'the client is still open');
  const cursor = client.cursor;
  t.ok(cursor === undefined || Number.isSafeInteger(cursor), `the cursor is still a whole number (${cursor})`);
  // A valid frame after all that still reaches the app.
  const next = (cursor ?? 0) + 1;
  socket.frame({ type: 'message.new', seq: next, payload: { message: message(99, 'alice') } });
  t.same(seen.at(-1), 99, 'a valid message still reaches the app');
  t.equal(client.cursor, next);
  await client.close();
});
