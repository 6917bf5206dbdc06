import t from 'tap';
import { MinuteCounter, TokenBucket } from '../../gateway/rate-limit.js';

const T0 = 1_700_000_000_000;

/** take() `n` times at `now`, the answers in order. */
const takes = (bucket: TokenBucket, n: number, now: number) => Array.from({ length: n }, () => bucket.take(now));
const adds = (counter: MinuteCounter, n: number, now: number) => Array.from({ length: n }, () => counter.add(now));

t.test('TokenBucket', async (t) => {
  t.test('a full bucket allows a burst of `capacity`, then refuses', async (t) => {
    const bucket = new TokenBucket(10, 3, T0);
    t.strictSame(takes(bucket, 4, T0), [true, true, true, false]);
  });

  t.test('refills at perSecond: one token per 1/perSecond', async (t) => {
    const bucket = new TokenBucket(4, 2, T0); // a token every 250 ms
    t.strictSame(takes(bucket, 3, T0), [true, true, false]);
    t.equal(bucket.take(T0 + 100), false, '0.4 of a token is not enough');
    t.strictSame(takes(bucket, 2, T0 + 250), [true, false], 'one token after 250 ms');
    t.strictSame(takes(bucket, 3, T0 + 750), [true, true, false], 'two tokens after 500 ms more');
  });

  t.test('never holds more than capacity', async (t) => {
    const bucket = new TokenBucket(100, 3, T0);
    t.strictSame(takes(bucket, 3, T0), [true, true, true]);
    t.strictSame(takes(bucket, 4, T0 + 3_600_000), [true, true, true, false], 'an hour idle refills to 3, not 360000');
  });

  t.test('refused takes cost nothing', async (t) => {
    const bucket = new TokenBucket(1, 1, T0);
    t.equal(bucket.take(T0), true);
    t.strictSame(takes(bucket, 10, T0 + 500), Array(10).fill(false));
    t.equal(bucket.take(T0 + 1000), true, 'still a full token after 1 s');
  });
});

t.test('MinuteCounter', async (t) => {
  t.test('passes the limit on the (limit+1)th event within a minute', async (t) => {
    const counter = new MinuteCounter(3, T0);
    t.strictSame(adds(counter, 3, T0), [false, false, false]);
    t.equal(counter.add(T0 + 30_000), true);
  });

  t.test('events spread over the minute all count', async (t) => {
    const counter = new MinuteCounter(3, T0);
    t.strictSame(
      [0, 15_000, 35_000, 59_999].map((dt) => counter.add(T0 + dt)),
      [false, false, false, true],
    );
  });

  t.test('forgets after a minute', async (t) => {
    const counter = new MinuteCounter(3, T0);
    t.strictSame(adds(counter, 3, T0), [false, false, false]);
    t.equal(counter.add(T0 + 60_000), false, 'the events of a minute ago are gone');
    t.strictSame(adds(counter, 2, T0 + 60_000), [false, false]);
    t.equal(counter.add(T0 + 60_000), true, 'the new minute has its own limit');
  });

  t.test('forgets in ten-second steps (sliding window)', async (t) => {
    const counter = new MinuteCounter(2, T0);
    t.strictSame(adds(counter, 2, T0), [false, false]); // slot [T0, T0+10s)
    t.equal(counter.add(T0 + 20_000), true, '3 within the minute');
    t.equal(counter.add(T0 + 65_000), false, 'the first slot expired: only the event at +20s and this one');
  });

  // A quiet gap longer than the window must clear every slot, not only the next one.
  for (const gap of [75_000, 10 * 60_000, 24 * 3_600_000]) {
    t.test(`forgets everything after a long quiet gap (${gap / 1000} s)`, async (t) => {
      const counter = new MinuteCounter(3, T0);
      t.strictSame(adds(counter, 3, T0), [false, false, false]);
      t.equal(counter.add(T0 + gap), false, 'one event after the gap is not over the limit');
      t.strictSame(adds(counter, 2, T0 + gap), [false, false]);
      t.equal(counter.add(T0 + gap), true, 'the fourth event in the new minute is');
    });
  }
});
