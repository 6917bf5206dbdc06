import t from 'tap';
import { startSystem } from '../helpers/system.js';

t.test('1:1 receipts: ack → delivered, read → read, unread counts follow', async (t) => {
  const sys = await startSystem(t);
  const alice = await sys.connect('alice');
  const alice2 = await sys.connect('alice', { deviceId: 'laptop' });
  const bob = await sys.connect('bob');
  const bobTablet = await sys.connect('bob', { deviceId: 'tablet' });
  for (let i = 1; i <= 3; i++) alice.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: `r${i}`, content: `m${i}` } });
  const received = await bob.collect('message.new', 3);
  const conversationId = received[0]!.payload.message.conversationId;

  // Unread goes up with each message from someone else, on every device of bob.
  const lastUnread = await bob.next('unread.update', (f) => f.payload.unread === 3);
  t.same(lastUnread.payload, { conversationId, unread: 3, totalUnread: 3 });
  await bobTablet.next('unread.update', (f) => f.payload.unread === 3);
  t.equal(alice.of('unread.update').length, 0, 'own messages are never unread');

  // bob acks the inbox cursor of the 2nd message: messages 1..2 are delivered.
  bob.send({ type: 'ack', payload: { seq: received[1]!.seq } });
  const delivered = await alice.next('message.status', (f) => f.payload.newStatus === 'delivered');
  t.match(delivered.payload, { conversationId, fromSeq: 1, upToSeq: 2, oldStatus: 'sent', newStatus: 'delivered', updatedBy: 'bob' });
  await alice2.next('message.status', (f) => f.payload.newStatus === 'delivered');
  t.equal(bob.of('message.status').length, 0, 'the reader gets no status for messages that are not theirs');

  // A stale receipt is a no-op, not an error.
  bob.send({ type: 'message.delivered', ref: 'stale', payload: { conversationId, upToSeq: 1 } });
  // Read all (no upToSeq): 1..2 go delivered → read, 3 goes sent → read.
  bob.send({ type: 'message.read', ref: 'read', payload: { conversationId } });
  const ack = await bob.next('message.read_ack');
  t.match(ack.payload, { conversationId, upToSeq: 3 });
  t.equal(ack.ref, 'read', 'the reading socket gets its ref back');
  await bobTablet.next('message.read_ack');
  const update = await alice.next('message.read_update');
  t.match(update.payload, { conversationId, readBy: 'bob', upToSeq: 3 });
  await alice.collect('message.status', 3);
  const statuses = alice.of('message.status').map((f) => `${f.payload.fromSeq}-${f.payload.upToSeq}:${f.payload.oldStatus}>${f.payload.newStatus}`);
  t.same(statuses, ['1-2:sent>delivered', '1-2:delivered>read', '3-3:sent>read']);
  const zero = await bob.next('unread.update', (f) => f.payload.unread === 0);
  t.same(zero.payload, { conversationId, unread: 0, totalUnread: 0 });
  await new Promise((r) => setTimeout(r, 300));
  t.equal(bob.of('error').length, 0, 'stale receipts are not errors');
  t.equal(alice.of('message.status').length, 3, 'a stale receipt changes nothing');

  // A new device sees where it stands on connect.
  const updatesSoFar = bob.of('unread.update').length;
  alice.send({ type: 'message.send', payload: { conversationId, tempId: 'r4', content: 'm4' } });
  // A new update, not the unread 1 from the first message.
  await bob.next('unread.update', (f) => bob.of('unread.update').indexOf(f) >= updatesSoFar && f.payload.unread === 1);
  // The bucket it reads is written up to PARLEY_UNREAD_FLUSH_MS after the live update: a device that
  // connects at once may still be told the older count, one that connects a little later is not.
  let summary: unknown;
  for (let i = 0; i < 50; i++) {
    const late = await sys.connect('bob', { deviceId: `late-${i}` });
    summary = (await late.next('unread.summary')).payload;
    if ((summary as { totalUnread: number }).totalUnread === 1) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.same(summary, { conversations: [{ conversationId, unread: 1 }], totalUnread: 1 });

  // You cannot mark your own messages delivered or read.
  alice.send({ type: 'message.read', ref: 'own', payload: { conversationId } });
  await new Promise((r) => setTimeout(r, 300));
  t.equal(bob.of('message.read_update').length, 0);
  t.equal(alice.of('message.read_ack').length, 0);
});

t.test('group receipts are per recipient', async (t) => {
  const sys = await startSystem(t);
  const [ann, ben, cat] = await Promise.all(['ann', 'ben', 'cat'].map((u) => sys.connect(u)));
  ann!.send({ type: 'conversation.create', payload: { kind: 'group', title: 'r', members: ['ben', 'cat'] } });
  const conversationId = (await ann!.next('conversation.created')).payload.conversation.id;
  ann!.send({ type: 'message.send', payload: { conversationId, tempId: 'a1', content: 'from ann' } });
  ben!.send({ type: 'message.send', payload: { conversationId, tempId: 'b1', content: 'from ben' } });
  await cat!.collect('message.new', 2);
  cat!.send({ type: 'message.read', payload: { conversationId } });
  const toAnn = await ann!.next('message.status', (f) => f.payload.newStatus === 'read');
  const toBen = await ben!.next('message.status', (f) => f.payload.newStatus === 'read');
  t.equal(toAnn.payload.updatedBy, 'cat');
  t.equal(toBen.payload.updatedBy, 'cat');
  ben!.send({ type: 'message.read', payload: { conversationId } });
  const benReadAnn = await ann!.next('message.read_update', (f) => f.payload.readBy === 'ben');
  t.equal(benReadAnn.payload.upToSeq, 2);
  await new Promise((r) => setTimeout(r, 300));
  t.equal(cat!.of('message.status').length, 0, 'cat sent nothing, so cat gets no status');
  t.equal(ben!.of('message.read_update').filter((f) => f.payload.readBy === 'ben').length, 0, 'no read_update about your own read');
});
