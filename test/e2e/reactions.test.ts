import t from 'tap';
import { pollUntil } from '../helpers/poll.js';
import { startSystem } from '../helpers/system.js';

type Reactions = { emoji: string; count: number; me: boolean }[];

for (const codec of ['json', 'msgpack'] as const) {
  t.test(`reactions, ${codec}: to every member once, in order, replayed on resume; idempotent; bounded; the rules; REST history`, async (t) => {
    const sys = await startSystem(t);
    const base = sys.url.replace('ws://', 'http://').replace('/ws', '');
    const token = await sys.token('cat');
    const history = async (conversationId: string) => {
      const res = await fetch(`${base}/v1/conversations/${conversationId}/messages?limit=50`, { headers: { authorization: `Bearer ${token}` } });
      return (await res.json()) as { messages: { id: string; deletedAt?: string; reactions: Reactions }[] };
    };
    const [ann, ben, cat, dan] = await Promise.all(['ann', 'ben', 'cat', 'dan'].map((u) => sys.connect(u, { codec })));
    ann!.send({ type: 'conversation.create', payload: { kind: 'group', title: 'Team', members: ['ben', 'cat'] } });
    const conversationId = (await ann!.next('conversation.created')).payload.conversation.id as string;
    await cat!.next('conversation.created');
    for (const [i, content] of ['one', 'two'].entries()) ben!.send({ type: 'message.send', payload: { conversationId, tempId: `b${i}`, content } });
    const sent = (await ben!.collect('message.sent', 2)).map((f) => f.payload.message as { id: string; seq: number });
    await cat!.collect('message.new', 2);
    const catCursor = cat!.cursor;
    await cat!.close();
    const [m1, m2] = [sent[0]!.id, sent[1]!.id];

    // ann reacts twice on m1 (the second time a no-op), ben reacts too, ann takes one back.
    ann!.send({ type: 'reaction.add', ref: 'r1', payload: { conversationId, messageId: m1, emoji: '👍' } });
    const added = await ann!.next('reaction.added', (f) => f.ref === 'r1');
    t.match(added.payload, { conversationId, messageId: m1, seq: 1, userId: 'ann', emoji: '👍' });
    t.type(added.seq, 'number', 'a durable frame, with an inbox seq');
    ann!.send({ type: 'reaction.add', ref: 'r1-again', payload: { conversationId, messageId: m1, emoji: '👍' } });
    ann!.send({ type: 'reaction.add', ref: 'r2', payload: { conversationId, messageId: m1, emoji: '🎉' } });
    await ann!.next('reaction.added', (f) => f.ref === 'r2');
    ben!.send({ type: 'reaction.add', ref: 'r3', payload: { conversationId, messageId: m1, emoji: '👍' } });
    await ben!.next('reaction.added', (f) => f.ref === 'r3');
    ann!.send({ type: 'reaction.remove', ref: 'r4', payload: { conversationId, messageId: m1, emoji: '🎉' } });
    const removed = await ann!.next('reaction.removed', (f) => f.ref === 'r4');
    t.match(removed.payload, { conversationId, messageId: m1, seq: 1, userId: 'ann', emoji: '🎉' });
    ann!.send({ type: 'reaction.remove', ref: 'r4-again', payload: { conversationId, messageId: m1, emoji: '🎉' } });
    // m2 gets a reaction, then is deleted: its reactions go with it.
    ann!.send({ type: 'reaction.add', ref: 'r5', payload: { conversationId, messageId: m2, emoji: '❤️' } });
    await ann!.next('reaction.added', (f) => f.ref === 'r5');
    ben!.send({ type: 'message.delete', ref: 'd1', payload: { conversationId, messageId: m2 } });
    await ben!.next('message.deleted', (f) => f.ref === 'd1');

    // Refusals: a deleted message, an unknown one, a stranger, a bad emoji, more than 3 per user.
    ann!.send({ type: 'reaction.add', ref: 'x1', payload: { conversationId, messageId: m2, emoji: '👍' } });
    t.equal((await ann!.next('error', (f) => f.ref === 'x1')).error!.code, 'message_not_found');
    ann!.send({ type: 'reaction.add', ref: 'x2', payload: { conversationId, messageId: 'm_nothing', emoji: '👍' } });
    t.equal((await ann!.next('error', (f) => f.ref === 'x2')).error!.code, 'message_not_found');
    dan!.send({ type: 'reaction.add', ref: 'x3', payload: { conversationId, messageId: m1, emoji: '👍' } });
    t.equal((await dan!.next('error', (f) => f.ref === 'x3')).error!.code, 'conversation_not_found');
    ann!.send({ type: 'reaction.add', ref: 'x4', payload: { conversationId, messageId: m1, emoji: 'two words' } });
    t.equal((await ann!.next('error', (f) => f.ref === 'x4')).error!.code, 'validation_error');
    for (const [i, emoji] of ['a', 'b'].entries()) {
      ben!.send({ type: 'reaction.add', ref: `y${i}`, payload: { conversationId, messageId: m1, emoji } });
      await ben!.next('reaction.added', (f) => f.ref === `y${i}`);
    }
    ben!.send({ type: 'reaction.add', ref: 'x5', payload: { conversationId, messageId: m1, emoji: 'c' } });
    t.equal((await ben!.next('error', (f) => f.ref === 'x5')).error!.code, 'validation_error', 'a fourth emoji from one user');

    // Every member's devices got each change once, in order (the no-ops sent nothing).
    const expected = [
      ['reaction.added', 'ann', '👍'],
      ['reaction.added', 'ann', '🎉'],
      ['reaction.added', 'ben', '👍'],
      ['reaction.removed', 'ann', '🎉'],
      ['reaction.added', 'ann', '❤️'],
      ['reaction.added', 'ben', 'a'],
      ['reaction.added', 'ben', 'b'],
    ];
    const changes = (frames: { type: string; seq?: number; payload?: any }[]) =>
      frames.filter((f) => (f.type === 'reaction.added' || f.type === 'reaction.removed') && typeof f.seq === 'number').map((f) => [f.type, f.payload.userId, f.payload.emoji]);
    for (const member of [ann!, ben!]) t.same(changes(member.frames), expected, 'from the inbox, once each, in order');
    t.notOk(ann!.frames.some((f) => f.ref === 'r1-again' || f.ref === 'r4-again'), 'a no-op is answered with nothing');
    const resumed = await sys.connect('cat', { codec, cursor: catCursor });
    await resumed.next('reaction.added', (f) => f.payload.emoji === 'b');
    t.same(changes(resumed.frames), expected, 'replayed after a resume, in order');

    // REST history: per emoji counts and whether the reader (cat: never reacted) is among them.
    const page = await pollUntil(() => history(conversationId), (h) => h.messages?.[0]?.reactions.length === 3 && h.messages?.[1]?.deletedAt !== undefined);
    t.same(page.messages[0]!.reactions, [
      { emoji: '👍', count: 2, me: false },
      { emoji: 'a', count: 1, me: false },
      { emoji: 'b', count: 1, me: false },
    ]);
    t.same(page.messages[1]!.reactions, [], 'a deleted message has no reactions');
  });
}

t.test('REST: PUT adds, DELETE removes a reaction (the emoji URL-encoded), with the same rules', async (t) => {
  const sys = await startSystem(t);
  const base = sys.url.replace('ws://', 'http://').replace('/ws', '');
  const tokens = { ann: await sys.token('ann'), ben: await sys.token('ben'), eve: await sys.token('eve') };
  const call = async (who: keyof typeof tokens, method: string, path: string) => {
    const res = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${tokens[who]}` } });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const ben = await sys.connect('ben');
  ben.send({ type: 'message.send', payload: { toUserId: 'ann', tempId: 'r1', content: 'hi' } });
  const m = (await ben.next('message.sent')).payload.message as { id: string; conversationId: string };
  const path = (emoji: string) => `/v1/conversations/${m.conversationId}/messages/${m.id}/reactions/${encodeURIComponent(emoji)}`;

  const added = await call('ann', 'PUT', path('👍'));
  t.equal(added.status, 200);
  t.match(added.body, { changed: true, reaction: { messageId: m.id, seq: 1, userId: 'ann', emoji: '👍' } });
  t.same((await call('ann', 'PUT', path('👍'))).body, { changed: false }, 'already there: nothing changed');
  t.equal((await call('eve', 'PUT', path('👍'))).body.error.code, 'conversation_not_found');
  t.equal((await call('ann', 'PUT', path('a b'))).status, 400);
  t.equal((await call('ann', 'PUT', `/v1/conversations/${m.conversationId}/messages/${m.id}/reactions/%E0%A4%A`)).status, 400, 'a broken escape');
  t.equal((await call('ann', 'PUT', `/v1/conversations/${m.conversationId}/messages/m_nothing/reactions/x`)).body.error.code, 'message_not_found');

  const history = await pollUntil(
    () => call('ann', 'GET', `/v1/conversations/${m.conversationId}/messages`),
    (r) => r.body.messages?.[0]?.reactions?.length === 1,
  );
  t.same(history.body.messages[0].reactions, [{ emoji: '👍', count: 1, me: true }], 'me: the reader reacted');
  const removed = await call('ann', 'DELETE', path('👍'));
  t.match(removed.body, { changed: true, reaction: { emoji: '👍', userId: 'ann' } });
  t.same((await call('ann', 'DELETE', path('👍'))).body, { changed: false }, 'not there: nothing changed');
  const after = await pollUntil(() => call('ben', 'GET', `/v1/conversations/${m.conversationId}/messages`), (r) => r.body.messages?.[0]?.reactions?.length === 0);
  t.same(after.body.messages[0].reactions, []);
});
