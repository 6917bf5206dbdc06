import t from 'tap';
import { pollUntil } from '../helpers/poll.js';
import { startSystem } from '../helpers/system.js';

for (const codec of ['json', 'msgpack'] as const) {
  t.test(`message edit and delete, ${codec}: to every member once, in order, replayed on resume; the rules; REST history`, async (t) => {
    const sys = await startSystem(t);
    const base = sys.url.replace('ws://', 'http://').replace('/ws', '');
    const token = await sys.token('cat');
    const history = async (conversationId: string) => {
      const res = await fetch(`${base}/v1/conversations/${conversationId}/messages?limit=50`, { headers: { authorization: `Bearer ${token}` } });
      return (await res.json()) as { messages: { id: string; content?: string; editedAt?: string; deletedAt?: string; media?: unknown }[] };
    };
    const [ann, ben, cat, dan] = await Promise.all(['ann', 'ben', 'cat', 'dan'].map((u) => sys.connect(u, { codec })));
    ann!.send({ type: 'conversation.create', payload: { kind: 'group', title: 'Team', members: ['ben', 'cat'] } });
    const conversationId = (await ann!.next('conversation.created')).payload.conversation.id as string;
    await cat!.next('conversation.created');

    for (const [i, content] of ['one', 'two', 'three'].entries()) {
      ben!.send({ type: 'message.send', payload: { conversationId, tempId: `b${i}`, content } });
    }
    const sent = (await ben!.collect('message.sent', 3)).map((f) => f.payload.message as { id: string; seq: number });
    await cat!.collect('message.new', 3);
    const catCursor = cat!.cursor;
    await cat!.close();

    // The sender edits (with an editId, sent twice: decided once); the owner deletes ben's second message.
    ben!.send({ type: 'message.edit', ref: 'e1', payload: { conversationId, messageId: sent[0]!.id, content: 'one, fixed', editId: 'ed-1' } });
    const edited = await ben!.next('message.edited', (f) => f.ref === 'e1');
    t.match(edited.payload, { conversationId, messageId: sent[0]!.id, seq: 1, content: 'one, fixed', editedBy: 'ben' });
    t.type(edited.seq, 'number', 'a durable frame, with an inbox seq');
    ben!.send({ type: 'message.edit', ref: 'e1-again', payload: { conversationId, messageId: sent[0]!.id, content: 'one, fixed', editId: 'ed-1' } });
    const again = await ben!.next('message.edited', (f) => f.ref === 'e1-again');
    t.equal(again.payload.editedAt, edited.payload.editedAt, 'the same edit answered again');
    ann!.send({ type: 'message.delete', ref: 'd1', payload: { conversationId, messageId: sent[1]!.id } });
    const deleted = await ann!.next('message.deleted', (f) => f.ref === 'd1');
    t.match(deleted.payload, { conversationId, messageId: sent[1]!.id, seq: 2, deletedBy: 'ann' });
    ann!.send({ type: 'message.delete', ref: 'd1-again', payload: { conversationId, messageId: sent[1]!.id } });
    t.equal((await ann!.next('message.deleted', (f) => f.ref === 'd1-again')).payload.deletedAt, deleted.payload.deletedAt, 'deleting twice: the first delete');

    // Refusals: another member edits (forbidden), deletes someone else's (forbidden), edits a deleted one, a stranger.
    ann!.send({ type: 'message.edit', ref: 'x1', payload: { conversationId, messageId: sent[2]!.id, content: 'not mine' } });
    t.equal((await ann!.next('error', (f) => f.ref === 'x1')).error!.code, 'forbidden');
    ben!.send({ type: 'message.edit', ref: 'x2', payload: { conversationId, messageId: sent[1]!.id, content: 'back?' } });
    t.equal((await ben!.next('error', (f) => f.ref === 'x2')).error!.code, 'message_not_found');
    ben!.send({ type: 'message.delete', ref: 'x3', payload: { conversationId, messageId: 'm_nothing' } });
    t.equal((await ben!.next('error', (f) => f.ref === 'x3')).error!.code, 'message_not_found');
    dan!.send({ type: 'message.delete', ref: 'x4', payload: { conversationId, messageId: sent[2]!.id } });
    t.equal((await dan!.next('error', (f) => f.ref === 'x4')).error!.code, 'conversation_not_found');
    dan!.send({ type: 'message.edit', ref: 'x5', payload: { conversationId, messageId: sent[2]!.id, content: 'x' } });
    t.equal((await dan!.next('error', (f) => f.ref === 'x5')).error!.code, 'conversation_not_found');

    // ann had not read anything: three unread, one deleted → two.
    await ann!.next('unread.update', (f) => f.payload.conversationId === conversationId && f.payload.unread === 2);

    // Every member's devices got each change once, in order; cat gets them on resume.
    for (const member of [ann!, ben!]) {
      const changes = member.frames.filter((f) => f.type === 'message.edited' || f.type === 'message.deleted');
      t.same(
        changes.filter((f) => typeof f.seq === 'number').map((f) => f.type),
        ['message.edited', 'message.deleted'],
        'from the inbox: edited then deleted, once each (the repeats are answers, without seq)',
      );
    }
    const resumed = await sys.connect('cat', { codec, cursor: catCursor });
    await resumed.next('message.deleted');
    const replayed = resumed.frames.filter((f) => f.type === 'message.edited' || f.type === 'message.deleted');
    t.same(
      replayed.map((f) => [f.type, f.payload.messageId]),
      [
        ['message.edited', sent[0]!.id],
        ['message.deleted', sent[1]!.id],
      ],
      'replayed after a resume, in order',
    );

    // REST history: the current content with editedAt, and a tombstone.
    // Until the read model has the conversation the answer is an error without messages: ask again.
    const page = await pollUntil(
      () => history(conversationId),
      (h) => (h.messages ?? []).some((m) => m.deletedAt !== undefined) && (h.messages ?? []).some((m) => m.editedAt),
    );
    const [m1, m2, m3] = page.messages;
    t.match(m1, { id: sent[0]!.id, content: 'one, fixed' });
    t.ok(m1!.editedAt, 'editedAt');
    t.equal(m2!.id, sent[1]!.id);
    t.ok(m2!.deletedAt, 'deletedAt');
    t.equal(m2!.content, undefined, 'a tombstone has no content');
    t.match(m3, { content: 'three' });
    t.equal(m3!.editedAt, undefined);
  });
}

t.test('REST: PATCH edits, DELETE deletes, with the same rules; CORS allows both', async (t) => {
  const sys = await startSystem(t);
  const base = sys.url.replace('ws://', 'http://').replace('/ws', '');
  const tokens = { ann: await sys.token('ann'), ben: await sys.token('ben'), eve: await sys.token('eve') };
  const call = async (who: keyof typeof tokens, method: string, path: string, body?: object) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${tokens[who]}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as Record<string, any>, replay: res.headers.get('idempotent-replay') };
  };
  const ben = await sys.connect('ben');
  ben.send({ type: 'message.send', payload: { toUserId: 'ann', tempId: 'r1', content: 'typo' } });
  const m = (await ben.next('message.sent')).payload.message as { id: string; conversationId: string };
  const path = `/v1/conversations/${m.conversationId}/messages/${m.id}`;

  const edited = await call('ben', 'PATCH', path, { content: 'no typo', editId: 'rest-1' });
  t.equal(edited.status, 200);
  t.match(edited.body, { messageId: m.id, seq: 1, content: 'no typo', editedBy: 'ben' });
  const again = await call('ben', 'PATCH', path, { content: 'no typo', editId: 'rest-1' });
  t.equal(again.replay, 'true', 'the same editId: the original answer');
  t.equal((await call('ann', 'PATCH', path, { content: 'mine' })).body.error.code, 'forbidden');
  t.equal((await call('ann', 'PATCH', path, { content: 'mine' })).status, 403);
  t.equal((await call('eve', 'DELETE', path)).body.error.code, 'conversation_not_found');
  t.equal((await call('ben', 'PATCH', path, { content: 'x', extra: 1 })).status, 400);
  t.equal((await call('ben', 'PATCH', `/v1/conversations/${m.conversationId}/messages/m_nothing`, { content: 'x' })).body.error.code, 'message_not_found');

  const deleted = await call('ben', 'DELETE', path);
  t.equal(deleted.status, 200);
  t.match(deleted.body, { messageId: m.id, deletedBy: 'ben' });
  t.equal((await call('ben', 'DELETE', path)).replay, 'true', 'deleting twice: the first delete');
  t.equal((await call('ben', 'PATCH', path, { content: 'back' })).status, 404);

  const history = await pollUntil(
    () => call('ann', 'GET', `/v1/conversations/${m.conversationId}/messages`),
    (r) => r.body.messages?.[0]?.deletedAt !== undefined,
  );
  t.ok(history.body.messages[0].deletedAt);
  t.equal(history.body.messages[0].content, undefined);
  const list = await pollUntil(() => call('ann', 'GET', '/v1/conversations'), (r) => r.body.conversations?.[0]?.unread === 0);
  t.equal(list.body.conversations[0].unread, 0, 'the deleted message is no longer unread');
});
