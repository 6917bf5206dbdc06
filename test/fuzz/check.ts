import fc from 'fast-check';
import type { Test } from 'tap';
import { failureReport, type FuzzProperty } from './property.js';

/** Fixed, so `npm test` tries the same inputs every time; FUZZ_SEED tries others. */
const TEST_SEED = Number(process.env.FUZZ_SEED ?? 12);

/** Run a property with its small `npm test` budget; a failure names the counterexample and how to replay it. */
export async function checkInTest(t: Test, p: FuzzProperty): Promise<void> {
  const details = await fc.check(p.property, { numRuns: p.testRuns, seed: TEST_SEED });
  if (!details.failed) return void t.pass(`${details.numRuns} inputs`);
  const [first, ...rest] = failureReport(p, details).split('\n');
  t.fail(first!, { report: rest.join('\n') });
}
