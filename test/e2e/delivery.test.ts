import t from 'tap';
import { startSystem } from '../helpers/system.js';

t.test('multi-device: both sockets of the recipient get it; the sender\'s other device gets message.new', async (t) => {
  const sys = await startSystem(t);
  const alicePhone = await sys.connect('alice', { deviceId: 'phone' });
  const aliceLaptop = await sys.connect('alice', { deviceId: 'laptop', codec: 'msgpack' });
  const bobPhone = await sys.connect('bob', { deviceId: 'phone' });
  const bobTablet = await sys.connect('bob', { deviceId: 'tablet', codec: 'msgpack' });
  alicePhone.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: 'm1', content: 'on every device' } });
  const sent = await alicePhone.next('message.sent');
  const onLaptop = await aliceLaptop.next('message.new');
  t.equal(onLaptop.payload.message.id, sent.payload.message.id);
  t.equal(onLaptop.payload.message.tempId, 'm1');
  t.equal(aliceLaptop.of('message.sent').length, 0);
  for (const device of [bobPhone, bobTablet]) {
    const got = await device.next('message.new');
    t.equal(got.payload.message.id, sent.payload.message.id);
  }
});

t.test('idempotent retry: the same tempId yields the original message, never a second one', async (t) => {
  const sys = await startSystem(t);
  const alice = await sys.connect('alice');
  const bob = await sys.connect('bob');
  alice.send({ type: 'message.send', ref: 'a', payload: { toUserId: 'bob', tempId: 'same', content: 'once' } });
  const first = await alice.next('message.sent', (f) => f.ref === 'a');
  // The retry from the same socket, then from a new socket (the app reconnected and retried).
  alice.send({ type: 'message.send', ref: 'b', payload: { toUserId: 'bob', tempId: 'same', content: 'once' } });
  const second = await alice.next('message.sent', (f) => f.ref === 'b');
  const again = await sys.connect('alice');
  again.send({ type: 'message.send', ref: 'c', payload: { toUserId: 'bob', tempId: 'same', content: 'once' } });
  const third = await again.next('message.sent', (f) => f.ref === 'c');
  t.equal(second.payload.message.id, first.payload.message.id);
  t.equal(third.payload.message.id, first.payload.message.id);
  t.equal(third.payload.message.seq, 1);
  // A different tempId is a new message; bob sees exactly two.
  alice.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: 'other', content: 'twice' } });
  const news = await bob.collect('message.new', 2);
  await new Promise((r) => setTimeout(r, 300));
  t.equal(bob.of('message.new').length, 2);
  t.same(news.map((f) => f.payload.message.seq), [1, 2]);
});

t.test('two users sending concurrently get consecutive seqs and see the same order', async (t) => {
  const sys = await startSystem(t);
  const alice = await sys.connect('alice');
  const bob = await sys.connect('bob');
  alice.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: 'open', content: 'start' } });
  const conversationId = (await alice.next('message.sent')).payload.message.conversationId;
  await bob.next('message.new');
  const perUser = 40;
  for (let i = 0; i < perUser; i++) {
    alice.send({ type: 'message.send', payload: { conversationId, tempId: `a${i}`, content: `a${i}` } });
    bob.send({ type: 'message.send', payload: { conversationId, tempId: `b${i}`, content: `b${i}` } });
  }
  const total = 1 + 2 * perUser;
  const view = async (c: typeof alice) => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const msgs = c.frames.filter((f) => f.type === 'message.new' || f.type === 'message.sent').map((f) => f.payload.message);
      if (msgs.length >= total || Date.now() > deadline) return msgs;
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const [aliceSaw, bobSaw] = await Promise.all([view(alice), view(bob)]);
  t.equal(aliceSaw.length, total);
  t.equal(bobSaw.length, total);
  t.same(aliceSaw.map((m) => m.seq), Array.from({ length: total }, (_, i) => i + 1), 'consecutive seqs, in order');
  t.same(aliceSaw.map((m) => m.id), bobSaw.map((m) => m.id), 'both see the same order');
  // Each sender's own messages keep the order they were sent in.
  const aOrder = aliceSaw.filter((m) => m.senderId === 'alice' && m.content !== 'start').map((m) => m.content);
  t.same(aOrder, Array.from({ length: perUser }, (_, i) => `a${i}`));
});
