import t from 'tap';
import { startSystem } from '../helpers/system.js';

t.test('REST writes: POST /v1/messages answers 201 once the event is in the log, idempotent by tempId', async (t) => {
  const sys = await startSystem(t);
  const base = sys.url.replace('ws://', 'http://').replace('/ws', '');
  const token = await sys.token('alice', { name: 'Alice' });
  const post = (path: string, body: unknown, auth = `Bearer ${token}`) =>
    fetch(`${base}${path}`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });

  const bob = await sys.connect('bob');
  const first = await post('/v1/messages', { toUserId: 'bob', tempId: 'rest-1', content: 'over REST' });
  t.equal(first.status, 201);
  const created = await first.json();
  t.match(created, { seq: 1, status: 'sent', tempId: 'rest-1' });
  t.match(created.id, /^m_/);
  t.ok(Date.parse(created.createdAt));
  const got = await bob.next('message.new');
  t.equal(got.payload.message.id, created.id, 'the same message reaches sockets');
  t.equal(got.payload.message.sender.name, 'Alice');

  const again = await post('/v1/messages', { toUserId: 'bob', tempId: 'rest-1', content: 'over REST' });
  t.equal(again.status, 201);
  t.equal(again.headers.get('idempotent-replay'), 'true');
  t.equal((await again.json()).id, created.id, 'a retry yields the original message');
  await new Promise((r) => setTimeout(r, 200));
  t.equal(bob.of('message.new').length, 1, 'never a second one');

  const group = await post('/v1/conversations', { kind: 'group', title: 'REST group', members: ['bob'] });
  t.equal(group.status, 201);
  const conversation = (await group.json()).conversation;
  t.equal(conversation.title, 'REST group');

  const read = await fetch(`${base}/v1/conversations/${created.conversationId}/read`, { method: 'POST', headers: { authorization: `Bearer ${await sys.token('bob')}` } });
  t.equal(read.status, 200);
  t.same(await read.json(), { conversationId: created.conversationId, changed: true });

  // Errors: the protocol's codes with their HTTP statuses, always as { error: { code, message } }.
  const cases: [string, Response, number, string][] = [
    ['no token', await post('/v1/messages', { toUserId: 'bob', tempId: 'x', content: 'x' }, ''), 401, 'unauthorized'],
    ['bad token', await post('/v1/messages', { toUserId: 'bob', tempId: 'x', content: 'x' }, 'Bearer nope'), 401, 'unauthorized'],
    ['invalid JSON', await post('/v1/messages', '{"toUserId": '), 400, 'bad_frame'],
    ['missing field', await post('/v1/messages', { toUserId: 'bob', content: 'no tempId' }), 400, 'validation_error'],
    ['wrong type', await post('/v1/messages', { toUserId: 'bob', tempId: 'y', content: 5 }), 400, 'validation_error'],
    ['unknown conversation', await post('/v1/messages', { conversationId: 'g_none', tempId: 'z', content: 'z' }), 404, 'conversation_not_found'],
    ['too large', await post('/v1/messages', { toUserId: 'bob', tempId: 'big', content: 'x'.repeat(70_000) }), 413, 'payload_too_large'],
  ];
  for (const [name, res, status, code] of cases) {
    t.equal(res.status, status, `${name}: status`);
    t.equal((await res.json()).error.code, code, `${name}: code`);
  }
  const outsider = await fetch(`${base}/v1/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await sys.token('mallory')}`, 'content-type': 'application/json' },
    body: JSON.stringify({ conversationId: conversation.id, tempId: 'm', content: 'let me in' }),
  });
  t.equal(outsider.status, 404, 'a non-member is told the conversation is not there');
  t.equal((await outsider.json()).error.code, 'conversation_not_found');
});
