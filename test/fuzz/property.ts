import fc from 'fast-check';

/**
 * One fuzz property: the same one runs with a small fixed budget in `npm test` and for minutes
 * with fresh seeds in `npm run fuzz` (test/fuzz/run.ts).
 */
export type FuzzProperty = {
  name: string;
  /** Inputs tried in `npm test`: what a few seconds allow. */
  testRuns: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  property: fc.IRawProperty<any, boolean>;
};

/** A failed check as a report: the counterexample, the error, and the seed and path that replay it. */
export function failureReport(p: FuzzProperty, details: fc.RunDetails<unknown>): string {
  return `${p.name}\n${fc.defaultReportMessage(details) ?? ''}\nreplay: npm run fuzz -- --only '${p.name}' --seed ${details.seed} --path ${details.counterexamplePath ?? ''}`;
}
