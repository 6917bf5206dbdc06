// The gateways' admission rule (gateway/admission.ts): when sends are refused with `overloaded`.
import t from 'tap';
import { decideAdmission, DrainRate, fairShare, isOverloaded, MODEST_SENDS_PER_SECOND, RecentSends, WAIT_FLOOR } from '../../gateway/admission.js';

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

t.test('decideAdmission: from half a limit the heaviest senders are refused first, past it everyone', async (t) => {
  const decide = (backlog: number, userRate: number, activeSenders = 2, drainPerSec: number | undefined = undefined) =>
    decideAdmission({ backlog, drainPerSec, userRate, activeSenders }, limits);
  t.equal(decide(10_000, 1_000), 'admit', 'at half the count limit: everyone, however fast');
  t.equal(decide(10_001, 1_000), 'shed', 'past half: a flooder is refused');
  t.equal(decide(10_001, 1), 'admit', 'while a person typing is let in');
  t.equal(decide(10_001, MODEST_SENDS_PER_SECOND), 'admit', 'up to the typing rate');
  t.equal(decide(20_000, 1), 'admit', 'up to the limit');
  t.equal(decide(20_001, 1), 'refuse', 'past the limit: everyone, as before (the bound holds)');
  t.equal(decide(3_000, 1_001, 2, 2_000), 'shed', 'the wait limit too: 1.5 s at 2,000/s is past half of 2 s, and 1,001/s is over the fair share');
  t.equal(decide(3_000, 900, 2, 2_000), 'admit', 'but a user under the fair share (2,000/s over 2 senders) is let in');
  t.equal(decide(4_001, 1, 2, 2_000), 'refuse', 'past 2 s: refused');
});

t.test('fairShare: the drain rate split between the senders, never under a typing rate', async (t) => {
  t.equal(fairShare(3_000, 1_000), 3);
  t.equal(fairShare(3_000, 100), 30);
  t.equal(fairShare(0, 1), MODEST_SENDS_PER_SECOND, 'nothing draining');
  t.equal(fairShare(undefined, 0), MODEST_SENDS_PER_SECOND, 'not measured yet, nobody sending');
});

t.test('RecentSends: per-user sends over the last second, and how many users sent', async (t) => {
  const recent = new RecentSends();
  const T = 1_000_000;
  for (let i = 0; i < 50; i++) recent.add('flooder', T + i * 10); // 50 in half a second
  t.equal(recent.add('person', T + 500), 1, 'a first send: rate 1');
  t.equal(recent.rate('flooder', T + 500), 50);
  t.equal(recent.active(T + 500), 2);
  t.equal(recent.rate('flooder', T + 1_500), 25, 'half a second later half of it is still in the window');
  t.equal(recent.active(T + 1_500), 2, 'last second\'s senders still count');
  t.equal(recent.add('person', T + 1_500), 1.5, 'the person: half of the earlier send and this one');
  t.equal(recent.rate('flooder', T + 2_000), 0, 'a whole second later: gone');
  recent.add('person', T + 3_100);
  t.equal(recent.size, 1, 'users with nothing in the last two seconds are forgotten');
  t.equal(recent.active(T + 3_100), 1);
});
