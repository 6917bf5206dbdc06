import t from 'tap';
import { startSystem } from '../helpers/system.js';

for (const codec of ['json', 'msgpack'] as const) {
  t.test(`group, ${codec}: create, message to every member, join, leave`, async (t) => {
    const sys = await startSystem(t);
    const [ann, ben, cat, dan] = await Promise.all(['ann', 'ben', 'cat', 'dan'].map((u) => sys.connect(u, { codec })));
    // Open, so that dan can join it by id (groups are invite-only by default).
    ann!.send({ type: 'conversation.create', ref: 'g', payload: { kind: 'group', title: ' Team ', members: ['ben', 'cat'], joinPolicy: 'open' } });
    const created = await ann!.next('conversation.created');
    const conversation = created.payload.conversation;
    t.equal(conversation.kind, 'group');
    t.equal(conversation.title, 'Team');
    t.equal(conversation.joinPolicy, 'open');
    t.same(
      conversation.members.map((m: { userId: string; role: string }) => `${m.userId}:${m.role}`).sort(),
      ['ann:owner', 'ben:member', 'cat:member'],
    );
    await ben!.next('conversation.created');
    await cat!.next('conversation.created');

    ann!.send({ type: 'message.send', payload: { conversationId: conversation.id, tempId: 'g1', content: 'hi team' } });
    const sent = await ann!.next('message.sent');
    for (const member of [ben!, cat!]) {
      const got = await member.next('message.new');
      t.equal(got.payload.message.id, sent.payload.message.id);
      t.equal(got.payload.message.content, 'hi team');
    }

    // dan is not a member: his send is rejected with the tempId (as not found: test/e2e/privacy.test.ts), and he saw nothing.
    dan!.send({ type: 'message.send', ref: 'd1', payload: { conversationId: conversation.id, tempId: 'd1', content: 'let me in' } });
    const rejected = await dan!.next('error');
    t.equal(rejected.error!.code, 'conversation_not_found');
    t.equal(rejected.error!.tempId, 'd1');
    t.equal(rejected.ref, 'd1');
    t.equal(dan!.of('message.new').length, 0);

    dan!.send({ type: 'conversation.join', ref: 'j', payload: { conversationId: conversation.id } });
    const joined = await ann!.next('conversation.member_joined');
    t.same(joined.payload.members, [{ userId: 'dan', role: 'member' }]);
    await dan!.next('conversation.member_joined');
    dan!.send({ type: 'message.send', payload: { conversationId: conversation.id, tempId: 'd2', content: 'thanks' } });
    const fromDan = await cat!.next('message.new', (f) => f.payload.message.senderId === 'dan');
    t.equal(fromDan.payload.message.seq, 2);

    ben!.send({ type: 'conversation.leave', payload: { conversationId: conversation.id } });
    const left = await cat!.next('conversation.member_left');
    t.equal(left.payload.userId, 'ben');
    await ben!.next('conversation.member_left');
    ann!.send({ type: 'message.send', payload: { conversationId: conversation.id, tempId: 'g3', content: 'after ben left' } });
    await cat!.next('message.new', (f) => f.payload.message.content === 'after ben left');
    await dan!.next('message.new', (f) => f.payload.message.content === 'after ben left');
    await new Promise((r) => setTimeout(r, 200));
    t.notOk(ben!.frames.some((f) => f.payload?.message?.content === 'after ben left'), 'a member who left gets no more messages');

    ann!.send({ type: 'conversation.join', ref: 'again', payload: { conversationId: conversation.id } });
    t.equal((await ann!.next('error', (f) => f.ref === 'again')).error!.code, 'already_a_member');
    ann!.send({ type: 'conversation.join', ref: 'nf', payload: { conversationId: 'g_nothing' } });
    t.equal((await ann!.next('error', (f) => f.ref === 'nf')).error!.code, 'conversation_not_found');
  });
}
