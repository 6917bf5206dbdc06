import t from 'tap';
import { planReplay, SCAN_COST_PER_ENTRY } from '../../gateway/replay-plan.js';

const read = (afterSeq: number, untilSeq: number) => ({ afterSeq, untilSeq });

t.test('one resume walks: a scan of its range costs more than walking it', async (t) => {
  const plan = planReplay([read(1_000, 101_000)]);
  t.equal(plan.scan.length, 0);
  t.equal(plan.walk.length, 1);
});

t.test('a storm over one stretch is one scan from the oldest cursor to the newest end', async (t) => {
  const reads = Array.from({ length: 100 }, (_, i) => read(10_000 + i * 10, 120_000 + i));
  const plan = planReplay(reads);
  t.equal(plan.scan.length, 100);
  t.equal(plan.walk.length, 0);
  t.equal(plan.from, 10_001, 'starts right after the oldest cursor');
  t.equal(plan.until, 120_099, 'ends at the newest end');
});

t.test('an old cursor among a storm walks instead of stretching the scan', async (t) => {
  const storm = Array.from({ length: 100 }, () => read(100_000, 110_000));
  const old = read(1, 110_000);
  const plan = planReplay([...storm, old]);
  t.equal(plan.scan.length, 100);
  t.same(plan.walk, [old]);
  t.equal(plan.from, 100_001);
});

t.test('the break-even is SCAN_COST_PER_ENTRY readers of the same range', async (t) => {
  const few = planReplay(Array.from({ length: SCAN_COST_PER_ENTRY }, () => read(0, 1_000)));
  t.equal(few.scan.length, 0, 'as many readers as the cost ratio: no gain, walk');
  const more = planReplay(Array.from({ length: SCAN_COST_PER_ENTRY + 1 }, () => read(0, 1_000)));
  t.equal(more.scan.length, SCAN_COST_PER_ENTRY + 1, 'one more: scan');
});

t.test('unbounded and empty reads are walked, never scanned', async (t) => {
  const storm = Array.from({ length: 100 }, () => read(5_000, 10_000));
  const unbounded = read(5_000, Number.POSITIVE_INFINITY);
  const empty = read(9_000, 9_000);
  const plan = planReplay([...storm, unbounded, empty]);
  t.equal(plan.scan.length, 100);
  t.ok(plan.walk.includes(unbounded) && plan.walk.includes(empty));
});
