import t from 'tap';
import { KeyedBuckets, MinuteCounter, TokenBucket } from '../../gateway/rate-limit.js';

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

  t.test('retryAfterMs: the time until the next token', async (t) => {
    const bucket = new TokenBucket(4, 1, T0); // a token every 250 ms
    t.equal(bucket.retryAfterMs(T0), 0, 'a token is there');
    t.equal(bucket.take(T0), true);
    t.equal(bucket.retryAfterMs(T0), 250);
    t.equal(bucket.retryAfterMs(T0 + 100), 150);
    t.equal(bucket.take(T0 + 250), true, 'and a take then succeeds');
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

t.test('KeyedBuckets', async (t) => {
  const takes = (b: KeyedBuckets, key: string, n: number, now: number) => Array.from({ length: n }, () => b.take(key, now));

  t.test('one bucket per key: 0 when taken, else the ms until a token', async (t) => {
    const b = new KeyedBuckets(10, 2, 100); // a token every 100 ms
    t.strictSame(takes(b, 'alice', 3, T0), [0, 0, 100]);
    t.strictSame(takes(b, 'bob', 2, T0), [0, 0], 'bob has his own');
    t.equal(b.take('alice', T0 + 40), 60, 'the wait shrinks as the bucket refills');
    t.equal(b.take('alice', T0 + 100), 0);
  });

  t.test('a bucket outlives its use: emptied, it is still empty later, until it refills', async (t) => {
    const b = new KeyedBuckets(1, 5, 100);
    t.strictSame(takes(b, 'u', 5, T0), [0, 0, 0, 0, 0]);
    b.sweep(T0 + 2_000); // an empty bucket is kept
    t.equal(b.size, 1);
    t.strictSame(takes(b, 'u', 3, T0 + 2_000), [0, 0, 1000], '2 s later: 2 tokens, not a fresh burst of 5');
  });

  t.test('entries are dropped once refilled (they would start full anyway), at most one sweep a second', async (t) => {
    const b = new KeyedBuckets(10, 10, 100);
    b.take('a', T0);
    b.take('b', T0 + 500);
    t.equal(b.size, 2);
    b.take('c', T0 + 1_050); // a new key sweeps: a refilled at T0 + 100, b at T0 + 600
    t.equal(b.size, 1, 'only c is left');
    t.equal(b.tokens('a', T0 + 1_050), 10, 'a missing key has a full bucket');
  });

  t.test('bounded: past maxKeys the oldest entries go', async (t) => {
    const b = new KeyedBuckets(1, 1, 3);
    for (const k of ['k1', 'k2', 'k3', 'k4', 'k5']) b.take(k, T0);
    t.equal(b.size, 3);
    t.equal(b.take('k5', T0) > 0, true, 'the newest still remembers its take');
    t.equal(b.take('k1', T0), 0, 'the oldest was forgotten: full again');
  });

  t.test('debit: tokens used elsewhere, down to a debt of one bucket, paid off by the refill', async (t) => {
    const b = new KeyedBuckets(10, 5, 100);
    b.debit('u', 3, T0);
    t.equal(b.tokens('u', T0), 2);
    b.debit('u', 100, T0);
    t.equal(b.tokens('u', T0), -5, 'the debt is at most one bucket');
    t.equal(b.take('u', T0), 600, '6 tokens to refill before one can be taken');
    t.equal(b.take('u', T0 + 600), 0);
  });

  t.test('takeUsage: the keys that took at least `min` since the last call', async (t) => {
    const b = new KeyedBuckets(100, 100, 100);
    takes(b, 'busy', 10, T0);
    takes(b, 'quiet', 1, T0);
    b.debit('remote', 50, T0);
    t.strictSame(b.takeUsage(2), [['busy', 10]], 'debits are not usage; quiet is under the threshold');
    t.strictSame(b.takeUsage(1), [], 'counts restart at every call');
    b.take('quiet', T0);
    t.strictSame(b.takeUsage(1), [['quiet', 1]]);
  });
});
