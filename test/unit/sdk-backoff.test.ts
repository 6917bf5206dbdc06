import t from 'tap';
import { Backoff } from '../../sdk/src/backoff.js';

/** A random that returns these values in turn (then the last one). */
const sequence = (...values: number[]) => {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)]!;
};
const delays = (backoff: Backoff, n: number) => Array.from({ length: n }, () => backoff.next());

t.test('the ceiling grows by `factor` from `firstMs` and stops at `maxMs`', async (t) => {
  const backoff = new Backoff({ firstMs: 100, maxMs: 1_000, factor: 2, random: () => 0.5 });
  const ceilings = Array.from({ length: 7 }, () => {
    const c = backoff.ceiling();
    backoff.next();
    return c;
  });
  t.strictSame(ceilings, [100, 200, 400, 800, 1_000, 1_000, 1_000]);
  t.equal(backoff.failures, 7);
});

t.test('full jitter: each delay is random × ceiling, a whole number of ms', async (t) => {
  const low = new Backoff({ firstMs: 100, maxMs: 1_000, factor: 2, random: () => 0 });
  t.strictSame(delays(low, 5), [0, 0, 0, 0, 0], 'random 0: no pause at all');
  const high = new Backoff({ firstMs: 100, maxMs: 1_000, factor: 2, random: () => 0.999_999 });
  t.strictSame(delays(high, 6), [100, 200, 400, 800, 1_000, 1_000], 'random just below 1: the ceiling, never above the cap');
  const mixed = new Backoff({ firstMs: 100, maxMs: 1_000, factor: 3, random: sequence(0.5, 0.25, 0.1, 0.333) });
  t.strictSame(delays(mixed, 4), [50, 75, 90, 333], '0.5×100, 0.25×300, 0.1×900, 0.333×1000');
});

t.test('with Math.random, every delay lies in [0, ceiling]', async (t) => {
  const backoff = new Backoff({ firstMs: 250, maxMs: 5_000, factor: 2 });
  for (let i = 0; i < 200; i++) {
    const ceiling = backoff.ceiling();
    const delay = backoff.next();
    if (!(Number.isInteger(delay) && delay >= 0 && delay <= ceiling)) return t.fail(`delay ${delay} outside [0, ${ceiling}] at failure ${i}`);
  }
  t.pass('200 delays within their bounds');
});

t.test('reset starts again from firstMs', async (t) => {
  const backoff = new Backoff({ firstMs: 100, maxMs: 1_000, factor: 2, random: () => 0.999_999 });
  delays(backoff, 4);
  backoff.reset();
  t.equal(backoff.failures, 0);
  t.strictSame(delays(backoff, 2), [100, 200]);
});

t.test('a connection that stayed up `stableAfterMs` resets; a short one keeps the delay growing', async (t) => {
  const backoff = new Backoff({ firstMs: 100, maxMs: 10_000, factor: 2, stableAfterMs: 5_000, random: () => 0.999_999 });
  delays(backoff, 3);
  backoff.connectionLasted(4_999);
  t.equal(backoff.next(), 800, 'up 4.999 s: accepted then dropped, the fourth delay');
  backoff.connectionLasted(5_000);
  t.equal(backoff.next(), 100, 'up 5 s: a success, from the first delay again');
});

t.test('firstMs 0 means no pause, even after many failures (no NaN)', async (t) => {
  const backoff = new Backoff({ firstMs: 0, maxMs: 1_000, factor: 2, random: () => 0.5 });
  delays(backoff, 2_000);
  t.equal(backoff.next(), 0);
});

t.test('a huge number of failures stays at the cap', async (t) => {
  const backoff = new Backoff({ firstMs: 100, maxMs: 1_000, factor: 2, random: () => 0.999_999 });
  delays(backoff, 5_000);
  t.equal(backoff.next(), 1_000);
});

t.test('bad options fail at once', async (t) => {
  t.throws(() => new Backoff({ firstMs: 100, maxMs: 50 }), RangeError, 'maxMs below firstMs');
  t.throws(() => new Backoff({ factor: 0.5 }), RangeError, 'a shrinking factor');
  t.throws(() => new Backoff({ firstMs: -1 }), RangeError, 'a negative delay');
  t.throws(() => new Backoff({ firstMs: Number.NaN }), RangeError, 'NaN');
});
