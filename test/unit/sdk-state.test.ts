import fc from 'fast-check';
import t from 'tap';
import { decodeFrame, jsonCodec, msgpackCodec } from '../../sdk/src/codec.js';
import { restUrlOf } from '../../sdk/src/rest.js';
import { refreshDelay, tokenExpiry } from '../../sdk/src/token.js';
import { TypingSender } from '../../sdk/src/typing-sender.js';
import { TypingState } from '../../sdk/src/typing-state.js';
import { UnreadState } from '../../sdk/src/unread-state.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { pack, unpack } from 'msgpackr';

t.test('typing sender: start at once, renewed at most every 2.5 s while typing, stop after 4 s idle or at stop()', async (t) => {
  const clock = new ManualClock();
  const sent: string[] = [];
  const typing = new TypingSender((type, c) => sent.push(`${type} ${c}`), clock);
  typing.keystroke('c1');
  t.same(sent, ['typing.start c1'], 'the first keystroke starts');
  for (let i = 0; i < 50; i++) {
    clock.advance(100); // 5 s of keystrokes, 10 a second
    typing.keystroke('c1');
  }
  t.same(sent, ['typing.start c1', 'typing.start c1', 'typing.start c1'], 'renewed twice in 5 s, not per keystroke');
  clock.advance(3_999);
  t.equal(sent.length, 3, 'not stopped before 4 s idle');
  clock.advance(1);
  t.same(sent.at(-1), 'typing.stop c1', 'stopped after 4 s idle');
  typing.keystroke('c2');
  typing.stop('c2');
  typing.stop('c2');
  t.same(sent.slice(-2), ['typing.start c2', 'typing.stop c2'], 'stop() once; a second stop sends nothing');
  typing.keystroke('c3');
  typing.reset();
  clock.advance(10_000);
  t.same(sent.at(-1), 'typing.start c3', 'reset (the connection dropped) sends nothing and stops its timers');
  t.equal(clock.timers, 0);
});

t.test('typing state: a set per conversation; clear empties all', async (t) => {
  const s = new TypingState();
  t.ok(s.start('c', 'bob'));
  t.notOk(s.start('c', 'bob'), 'a repeat changes nothing');
  t.ok(s.start('c', 'carol'));
  t.same(s.in('c'), ['bob', 'carol']);
  t.ok(s.stop('c', 'bob'));
  t.notOk(s.stop('c', 'dave'));
  t.same(s.clear(), ['c']);
  t.same(s.in('c'), []);
});

t.test('unread state: the summary replaces everything; updates set or remove one; total is the server’s', async (t) => {
  const u = new UnreadState();
  u.update({ conversationId: 'x', unread: 9, totalUnread: 9 });
  u.summary({ conversations: [{ conversationId: 'a', unread: 2 }], totalUnread: 2 });
  t.equal(u.of('x'), 0, 'a summary forgets what it does not list');
  t.equal(u.of('a'), 2);
  u.update({ conversationId: 'b', unread: 1, totalUnread: 3 });
  u.update({ conversationId: 'a', unread: 0, totalUnread: 1 });
  t.same([...u.byConversation], [['b', 1]]);
  t.equal(u.total, 1);
});

t.test('tokens: exp read without checking; refresh lead, or half of what is left', async (t) => {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  t.equal(tokenExpiry(`${b64({ alg: 'HS256' })}.${b64({ sub: 'a', exp: 2_000_000_000, name: 'Zoë ✓' })}.sig`), 2_000_000_000_000);
  for (const bad of ['', 'a.b.c', 'x', `h.${b64({ exp: 'soon' })}.s`, `h.${b64({})}.s`, 'h.%%%.s']) t.equal(tokenExpiry(bad), undefined, JSON.stringify(bad));
  fc.assert(fc.property(fc.string(), (s) => tokenExpiry(s) === undefined || typeof tokenExpiry(s) === 'number'), { numRuns: 500 });
  t.equal(refreshDelay(0, 3_600_000, 60_000), 3_540_000, 'an hour: a minute before');
  t.equal(refreshDelay(0, 60_000, 60_000), 30_000, 'a token shorter than the lead: half-way, not at once');
  t.equal(refreshDelay(0, 8_000, 6_000), 4_000);
  t.equal(refreshDelay(0, 100_000, 30_000), 70_000);
  t.equal(refreshDelay(10, 0, 1_000), 0, 'expired: at once');
});

t.test('rest url from the socket url', async (t) => {
  t.equal(restUrlOf('ws://127.0.0.1:8080/ws'), 'http://127.0.0.1:8080');
  t.equal(restUrlOf('wss://chat.example.com/parley/ws?x=1'), 'https://chat.example.com/parley');
  t.equal(restUrlOf('WSS://h/'), 'https://h');
  t.throws(() => restUrlOf('http://h/ws'), TypeError);
});

t.test('codec: text is JSON, binary is msgpack when the client has it; anything else throws, never crashes', async (t) => {
  const mp = msgpackCodec({ pack, unpack });
  t.same(decodeFrame(jsonCodec, '{"type":"pong"}'), { type: 'pong' });
  t.same(decodeFrame(mp, pack({ type: 'pong', seq: 3 })), { type: 'pong', seq: 3 });
  const bytes = pack({ type: 'x' });
  t.same(decodeFrame(mp, bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)), { type: 'x' }, 'an ArrayBuffer (browsers)');
  t.same(decodeFrame(mp, [bytes.subarray(0, 2), bytes.subarray(2)]), { type: 'x' }, 'fragments (ws)');
  t.throws(() => decodeFrame(jsonCodec, bytes), /no msgpack codec/);
  t.throws(() => decodeFrame(jsonCodec, 42));
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.uint8Array()), (data) => {
      try {
        decodeFrame(mp, data);
      } catch (err) {
        if (!(err instanceof Error)) throw err;
      }
    }),
    { numRuns: 500 },
  );
});
