import t from 'tap';
import fc from 'fast-check';
import { InboxDedupe } from '../../sdk/src/dedupe.js';

/** The seqs of `delivered` the application sees, in order. */
const seen = (dedupe: InboxDedupe, delivered: number[]) => delivered.filter((seq) => dedupe.accept(seq));

t.test('a replay after a reconnect: what is at or below the cursor is dropped, the cursor moves', async (t) => {
  const dedupe = new InboxDedupe(10);
  t.strictSame(seen(dedupe, [9, 10, 11, 12, 11, 12, 13]), [11, 12, 13]);
  t.equal(dedupe.cursor, 13);
  t.equal(dedupe.dropped, 4, '9, 10 (at the cursor), and 11, 12 again');
});

t.test('out of order below the cursor is dropped: the app never goes back', async (t) => {
  const dedupe = new InboxDedupe(0);
  t.strictSame(seen(dedupe, [1, 3, 2, 4]), [1, 3, 4], '2 after 3 is below the cursor');
  t.equal(dedupe.cursor, 4);
});

t.test('a gap is accepted: seqs need not be consecutive (the inbox holds other frames)', async (t) => {
  const dedupe = new InboxDedupe(5);
  t.strictSame(seen(dedupe, [8, 20]), [8, 20]);
});

t.test('without a cursor, the first seq starts it', async (t) => {
  const dedupe = new InboxDedupe();
  t.equal(dedupe.cursor, undefined);
  t.strictSame(seen(dedupe, [7, 7, 8]), [7, 8]);
});

t.test('connection.success: resumed keeps our cursor, otherwise the server sets it', async (t) => {
  const fresh = new InboxDedupe();
  fresh.session({ cursor: 40, resumed: false });
  t.equal(fresh.cursor, 40, 'the first connection without a cursor starts at the inbox end');
  t.strictSame(seen(fresh, [40, 41]), [41]);

  const resumed = new InboxDedupe(12);
  resumed.session({ cursor: 12, resumed: true });
  t.equal(resumed.cursor, 12);

  const reset = new InboxDedupe(12);
  reset.session({ cursor: 3, resumed: false });
  t.equal(reset.cursor, 3, 'a session the server could not resume (resume.reset) restarts from its cursor, even below ours');
  t.strictSame(seen(reset, [4, 5]), [4, 5], 'so its new frames are not dropped');
});

t.test('reset starts over from the given cursor', async (t) => {
  const dedupe = new InboxDedupe(100);
  dedupe.reset(50);
  t.strictSame(seen(dedupe, [50, 51]), [51]);
  dedupe.reset(undefined);
  t.equal(dedupe.cursor, undefined);
});

t.test('property: any delivery with duplicates and reorders reaches the app once per seq, in increasing order', async (t) => {
  // A delivery: the inbox's seqs (a strictly increasing run above some start), each delivered one
  // or more times, shuffled a little (reconnect replays and failovers reorder only nearby frames,
  // but the property must hold for any order).
  const delivery = fc
    .record({
      initial: fc.option(fc.nat({ max: 50 }), { nil: undefined }),
      seqs: fc.uniqueArray(fc.nat({ max: 200 }), { maxLength: 60 }),
      copies: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 60, maxLength: 60 }),
    })
    .chain(({ initial, seqs, copies }) => {
      const sent = seqs.sort((a, b) => a - b).flatMap((seq, i) => Array.from({ length: copies[i]! }, () => seq));
      return fc.record({ initial: fc.constant(initial), delivered: fc.shuffledSubarray(sent, { minLength: sent.length, maxLength: sent.length }) });
    });
  fc.assert(
    fc.property(delivery, ({ initial, delivered }) => {
      const dedupe = new InboxDedupe(initial);
      const got = seen(dedupe, delivered);
      for (let i = 1; i < got.length; i++) if (!(got[i]! > got[i - 1]!)) return false; // increasing, so no seq twice
      if (initial !== undefined && got.some((seq) => seq <= initial)) return false; // nothing at or below the start
      if (dedupe.dropped !== delivered.length - got.length) return false;
      const top = Math.max(...delivered);
      // The cursor ends at the highest seq delivered (when anything was above the start).
      const expected = delivered.length === 0 || (initial !== undefined && top <= initial) ? initial : top;
      return dedupe.cursor === expected;
    }),
    { numRuns: 500 },
  );
  t.pass('500 deliveries');
});

t.test('property: delivered in order with duplicates, the app sees every seq above the start exactly once', async (t) => {
  fc.assert(
    fc.property(fc.nat({ max: 20 }), fc.array(fc.nat({ max: 100 }), { maxLength: 80 }), (initial, raw) => {
      // In order (sorted) with duplicates: nothing is lost, only repeats are dropped.
      const delivered = [...raw].sort((a, b) => a - b);
      const got = seen(new InboxDedupe(initial), delivered);
      const expected = [...new Set(delivered)].filter((seq) => seq > initial);
      return JSON.stringify(got) === JSON.stringify(expected);
    }),
    { numRuns: 500 },
  );
  t.pass('500 deliveries');
});
