// The gateways' admission rule (gateway/admission.ts): when sends are refused with `overloaded`.
import t from 'tap';
import { DrainRate, isOverloaded, WAIT_FLOOR } from '../../gateway/admission.js';

const limits = { maxBacklog: 20_000, maxWaitMs: 2_000, ackLagMs: 0 };

t.test('the count limit applies whatever the rate', async (t) => {
  t.equal(isOverloaded(20_000, 1_000_000, limits), false, 'at the limit: still admitted');
  t.equal(isOverloaded(20_001, 1_000_000, limits), true, 'past it: refused, however fast it drains');
  t.equal(isOverloaded(20_001, undefined, limits), true, 'past it before any rate is known');
});

t.test('the wait limit: backlog / drain rate', async (t) => {
  t.equal(isOverloaded(3_999, 2_000, limits), false, '3,999 at 2,000/s: < 2 s');
  t.equal(isOverloaded(4_001, 2_000, limits), true, '4,001 at 2,000/s: > 2 s');
  t.equal(isOverloaded(15_000, 10_000, limits), false, 'a faster pipeline admits a larger backlog');
  t.equal(isOverloaded(WAIT_FLOOR + 1, 0, limits), true, 'nothing draining: the wait is unbounded');
  t.equal(isOverloaded(WAIT_FLOOR, 0, limits), false, 'at or below the floor the wait is not estimated');
  t.equal(isOverloaded(5_000, undefined, limits), false, 'no rate measured yet: only the count applies');
  t.equal(isOverloaded(19_000, 1, { ...limits, maxWaitMs: 0 }), false, 'maxWaitMs 0 turns the wait limit off');
});

t.test('the events finished but not yet acked (the unread flush) are not counted as waiting', async (t) => {
  const lagged = { ...limits, ackLagMs: 1_000 };
  t.equal(isOverloaded(8_000, 3_000, lagged), false, 'keeping up at 3,000/s: 2.7 s unacked, of which 1 s is the flush');
  t.equal(isOverloaded(8_000, 3_000, limits), true, 'the same without the lag: 2.7 s');
  t.equal(isOverloaded(10_000, 3_000, lagged), true, '3.3 s - 1 s: over 2 s');
});

t.test('DrainRate: events a second over the window', async (t) => {
  const rate = new DrainRate(2_000);
  t.equal(rate.perSecond(), undefined, 'no samples');
  rate.add(0, 100);
  rate.add(500, 1_100);
  t.equal(rate.perSecond(), undefined, 'less than half the window covered');
  rate.add(1_000, 2_100);
  t.equal(rate.perSecond(), 2_000, '2,000 events in 1 s');
  for (let at = 1_250; at <= 5_000; at += 250) rate.add(at, 2_100 + (at - 1_000) * 3); // 3,000/s from here
  t.equal(rate.perSecond(), 3_000, 'older samples leave the window: the rate follows the recent past');
  rate.add(5_250, 10); // the consumer was recreated: its count starts over
  t.equal(rate.perSecond(), undefined, 'a count that goes back starts over');
  rate.add(6_250, 1_010);
  t.equal(rate.perSecond(), 1_000);
  rate.clear();
  t.equal(rate.perSecond(), undefined, 'cleared');
});
