import t from 'tap';
import { startSystem } from '../helpers/system.js';

t.test('blocks, both directions, and unblock restores sending', async (t) => {
  const sys = await startSystem(t);
  const alice = await sys.connect('alice');
  const aliceLaptop = await sys.connect('alice', { deviceId: 'laptop' });
  const bob = await sys.connect('bob');
  alice.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: 'before', content: 'hi' } });
  await bob.next('message.new');

  alice.send({ type: 'block.add', ref: 'b', payload: { userId: 'bob' } });
  const added = await alice.next('block.added');
  t.equal(added.ref, 'b');
  t.equal(added.payload.userId, 'bob');
  await aliceLaptop.next('block.added');
  t.equal(bob.of('block.added').length, 0, 'the blocked user is not told');

  bob.send({ type: 'message.send', ref: 'x', payload: { toUserId: 'alice', tempId: 'blocked-1', content: 'hello?' } });
  const e1 = await bob.next('error', (f) => f.ref === 'x');
  t.equal(e1.error!.code, 'blocked');
  t.equal(e1.error!.tempId, 'blocked-1');
  alice.send({ type: 'message.send', ref: 'y', payload: { toUserId: 'bob', tempId: 'blocked-2', content: 'me neither' } });
  t.equal((await alice.next('error', (f) => f.ref === 'y')).error!.code, 'blocked', 'the blocker cannot send either');

  // Blocking again is already true; blocking yourself is not a thing.
  alice.send({ type: 'block.add', ref: 'again', payload: { userId: 'bob' } });
  t.equal((await alice.next('block.added', (f) => f.ref === 'again')).payload.userId, 'bob');
  alice.send({ type: 'block.add', ref: 'self', payload: { userId: 'alice' } });
  t.equal((await alice.next('error', (f) => f.ref === 'self')).error!.code, 'validation_error');

  // Groups are unaffected.
  alice.send({ type: 'conversation.create', payload: { kind: 'group', title: 'g', members: ['bob'] } });
  const group = (await bob.next('conversation.created', (f) => f.payload.conversation.kind === 'group')).payload.conversation.id;
  bob.send({ type: 'message.send', payload: { conversationId: group, tempId: 'in-group', content: 'group is fine' } });
  await alice.next('message.new', (f) => f.payload.message.tempId === 'in-group');

  alice.send({ type: 'block.remove', ref: 'u', payload: { userId: 'bob' } });
  t.equal((await alice.next('block.removed')).ref, 'u');
  bob.send({ type: 'message.send', payload: { toUserId: 'alice', tempId: 'after', content: 'back' } });
  t.equal((await alice.next('message.new', (f) => f.payload.message.tempId === 'after')).payload.message.content, 'back');

  // Now bob blocks alice: the other direction.
  bob.send({ type: 'block.add', payload: { userId: 'alice' } });
  await bob.next('block.added');
  alice.send({ type: 'message.send', ref: 'z', payload: { toUserId: 'bob', tempId: 'blocked-3', content: '?' } });
  t.equal((await alice.next('error', (f) => f.ref === 'z')).error!.code, 'blocked');
  t.notOk(bob.frames.some((f) => f.payload?.message?.tempId?.startsWith('blocked')), 'no blocked message was delivered');
});
