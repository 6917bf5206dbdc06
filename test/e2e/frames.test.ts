import t from 'tap';
import { pack } from 'msgpackr';
import { startSystem } from '../helpers/system.js';

t.test('bad frames get an error and the socket stays usable', async (t) => {
  const sys = await startSystem(t, { limits: { ...(await import('../../lib/config.js')).defaultConfig().limits, maxPayloadBytes: 1024 } });
  const c = await sys.connect('frank');
  const cases: [string, string | Buffer, string][] = [
    ['invalid JSON', '{"type": "ping", ', 'bad_frame'],
    ['invalid msgpack', Buffer.from([0xc1, 0xc1, 0xc1]), 'bad_frame'],
    ['not an object', '42', 'bad_frame'],
    ['no type', JSON.stringify({ payload: {} }), 'bad_frame'],
    ['type not a string', JSON.stringify({ type: 7 }), 'bad_frame'],
    ['unknown type', JSON.stringify({ type: 'message.teleport', ref: 'u' }), 'unknown_type'],
    ['missing field', JSON.stringify({ type: 'message.send', payload: { toUserId: 'bob', content: 'no tempId' } }), 'validation_error'],
    ['wrong type', JSON.stringify({ type: 'message.send', payload: { toUserId: 'bob', tempId: 't', content: 42 } }), 'validation_error'],
    ['msgpack missing field', pack({ type: 'conversation.join', payload: {} }), 'validation_error'],
    ['both targets', JSON.stringify({ type: 'message.send', payload: { toUserId: 'bob', conversationId: 'c', tempId: 't', content: 'x' } }), 'validation_error'],
    ['empty text', JSON.stringify({ type: 'message.send', payload: { toUserId: 'bob', tempId: 't2', content: '   ' } }), 'validation_error'],
    ['bad id', JSON.stringify({ type: 'conversation.join', payload: { conversationId: 'has.dots' } }), 'validation_error'],
    ['too large', JSON.stringify({ type: 'ping', payload: { pad: 'x'.repeat(1500) } }), 'payload_too_large'],
  ];
  for (const [name, data, code] of cases) {
    const before = c.of('error').length;
    c.sendRaw(data);
    await c.next('error', () => c.of('error').length > before);
    const err = c.of('error')[before]!;
    t.equal(err.error!.code, code, name);
  }
  t.equal(c.of('error').find((f) => f.error!.code === 'unknown_type')!.ref, 'u', 'ref is echoed on errors');
  c.send({ type: 'ping', ref: 'p', payload: { timestamp: 123 } });
  const pong = await c.next('pong');
  t.equal(pong.ref, 'p');
  t.equal(pong.payload.timestamp, 123);
  c.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: 'fine', content: 'still works' } });
  t.equal((await c.next('message.sent')).payload.message.content, 'still works');
});

t.test('rules the decider alone holds reach the client as the same error frame, with its ref', async (t) => {
  const sys = await startSystem(t);
  const c = await sys.connect('frank');
  const cases: [string, unknown, string][] = [
    ['a direct message to yourself', { type: 'message.send', ref: 'r1', payload: { toUserId: 'frank', tempId: 't1', content: 'me' } }, 'cannot send a direct message to yourself'],
    ['to yourself, and empty', { type: 'message.send', ref: 'r2', payload: { toUserId: 'frank', tempId: 't2', content: ' ' } }, 'cannot send a direct message to yourself'],
    ['empty text', { type: 'message.send', ref: 'r3', payload: { toUserId: 'bob', tempId: 't3', content: '   ' } }, 'a message needs content or media'],
    ['a text with only media', { type: 'message.send', ref: 'r4', payload: { toUserId: 'bob', tempId: 't4', media: [{ url: 'https://cdn.test/a.png' }] } }, 'a text message needs content'],
    ['a direct conversation with yourself', { type: 'conversation.create', ref: 'r5', payload: { kind: 'direct', userId: 'frank' } }, 'a direct conversation needs another user'],
    ['blocking yourself', { type: 'block.add', ref: 'r6', payload: { userId: 'frank' } }, 'you cannot block yourself'],
  ];
  for (const [name, frame, message] of cases) {
    const before = c.of('error').length;
    c.send(frame as never);
    await c.next('error', () => c.of('error').length > before);
    const err = c.of('error')[before]!;
    t.strictSame([err.ref, err.error!.code, err.error!.message], [(frame as { ref: string }).ref, 'validation_error', message], name);
  }
  t.equal(c.of('message.sent').length, 0, 'nothing was sent');
});

t.test('a flood of bad frames closes the socket with 4008', async (t) => {
  const sys = await startSystem(t, { limits: { ...(await import('../../lib/config.js')).defaultConfig().limits, badFramesPerMinute: 5 } });
  const c = await sys.connect('flooder');
  for (let i = 0; i < 10; i++) c.sendRaw('nope');
  t.equal((await c.closed).code, 4008);
});

t.test('rate limit: frames beyond the burst get rate_limited', async (t) => {
  const sys = await startSystem(t, { limits: { ...(await import('../../lib/config.js')).defaultConfig().limits, framesPerSecond: 1, frameBurst: 3 } });
  const c = await sys.connect('eager');
  // The client is told its limits up front.
  t.match(c.of('connection.success')[0]!.payload.limits, { framesPerSecond: 1, frameBurst: 3, badFramesPerMinute: 30, maxPayloadBytes: 65536 });
  for (let i = 0; i < 6; i++) c.send({ type: 'ping', ref: `p${i}`, payload: {} });
  await c.collect('pong', 3);
  await c.next('error', (f) => f.error!.code === 'rate_limited');
  await new Promise((r) => setTimeout(r, 100));
  t.equal(c.of('pong').length, 3);
  t.equal(c.of('error').filter((f) => f.error!.code === 'rate_limited').length, 3);
  t.ok(c.of('error').every((f) => (f.error as { retryAfterMs?: number }).retryAfterMs! > 0), 'each says when to retry (retryAfterMs)');
});

t.test('/health reports NATS, connections, users and the uWS runtime', async (t) => {
  const sys = await startSystem(t);
  await sys.connect('h1');
  await sys.connect('h1', { deviceId: 'second' });
  await sys.connect('h2');
  const res = await fetch(sys.url.replace('ws://', 'http://').replace('/ws', '/health'));
  t.equal(res.status, 200);
  const body = await res.json();
  t.equal(body.status, 'ok');
  t.equal(body.nats.connected, true);
  t.equal(body.nats.commands.connected, true, 'the command connection is reported too');
  t.equal(body.connections, 3);
  t.equal(body.users, 2);
  t.equal(body.uws.native, true, 'the native uWebSockets.js binary is loaded');
});
