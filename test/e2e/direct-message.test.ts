import t from 'tap';
import { startSystem } from '../helpers/system.js';

for (const codec of ['json', 'msgpack'] as const) {
  t.test(`1:1 message, ${codec}: sender gets message.sent, recipient message.new with sender info`, async (t) => {
    const sys = await startSystem(t);
    const alice = await sys.connect('alice', { codec, name: 'Alice', picture: 'https://example.test/a.png' });
    const bob = await sys.connect('bob', { codec });
    alice.send({ type: 'message.send', ref: 'r1', payload: { toUserId: 'bob', tempId: 't-1', content: 'hello bob' } });
    const sent = await alice.next('message.sent');
    t.equal(sent.ref, 'r1');
    t.equal(sent.payload.tempId, 't-1');
    t.equal(sent.payload.message.seq, 1);
    t.equal(sent.payload.message.content, 'hello bob');
    t.type(sent.seq, 'number');
    const got = await bob.next('message.new');
    t.equal(got.payload.message.id, sent.payload.message.id);
    t.equal(got.payload.message.senderId, 'alice');
    t.same(got.payload.message.sender, { id: 'alice', name: 'Alice', avatar: 'https://example.test/a.png' });
    t.equal(got.payload.message.conversationId, sent.payload.message.conversationId);
    const created = await bob.next('conversation.created');
    t.equal(created.payload.conversation.kind, 'direct');
    t.equal(alice.of('message.new').length, 0, 'the sending socket gets message.sent, not message.new');
  });
}
