import t from 'tap';
import { AckFloor } from '../../lib/ack-floor.js';

/** A message that records its acks. */
function message(seq: number, acked: number[]) {
  return { seq, ack: () => acked.push(seq) };
}

t.test('one ack covers the finished prefix, never a message still in progress', async (t) => {
  const acked: number[] = [];
  const floor = new AckFloor(10);
  for (const seq of [11, 12, 13, 15]) t.equal(floor.track(message(seq, acked)), 'new');
  t.equal(floor.flush(), 0, 'nothing done: no ack');
  floor.done(12);
  floor.done(13);
  t.equal(floor.flush(), 0, '11 is still in progress: 12 and 13 wait behind it');
  floor.done(11);
  t.equal(floor.flush(), 13, 'then one ack for 11..13');
  t.same(acked, [13]);
  t.equal(floor.acked, 13);
  t.equal(floor.outstanding, 1, '15 is still out (14 never came: deleted from the stream)');
  floor.done(15);
  t.equal(floor.flush(), 15);
  t.same(acked, [13, 15]);
});

t.test('a redelivered message in progress is the same entry; one at or below the floor is acked again', async (t) => {
  const acked: number[] = [];
  const floor = new AckFloor(0);
  floor.track(message(1, acked));
  floor.track(message(2, acked));
  t.equal(floor.track(message(1, acked)), 'redelivered');
  floor.done(1);
  t.equal(floor.flush(), 1);
  t.equal(floor.track(message(1, acked)), 'already-acked', 'a redelivery that crossed our ack');
  t.same(acked, [1, 1], 'it is acked again at once');
  floor.done(2);
  floor.done(2);
  t.equal(floor.flush(), 2);
  t.equal(floor.flush(), 0, 'nothing new');
});

t.test('first deliveries out of stream order are refused (the floor would cover unseen messages)', async (t) => {
  const floor = new AckFloor(0);
  floor.track(message(5, []));
  t.throws(() => floor.track(message(3, [])), /stream order/);
});

t.test('long runs: the consumed prefix is dropped and the floor keeps up', async (t) => {
  const acked: number[] = [];
  const floor = new AckFloor(0);
  for (let seq = 1; seq <= 10_000; seq++) {
    floor.track(message(seq, acked));
    // Finish in reverse within windows of 7, like pipelined writes completing out of order.
    if (seq % 7 === 0) for (let s = seq; s > seq - 7; s--) floor.done(s);
    if (seq % 50 === 0) floor.flush();
  }
  for (let s = 9_997; s <= 10_000; s++) floor.done(s);
  floor.flush();
  t.equal(floor.acked, 10_000);
  t.equal(floor.outstanding, 0);
  t.ok(acked.length < 250, `${acked.length} acks for 10,000 messages`);
});
