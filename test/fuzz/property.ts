import fc from 'fast-check';

/**
 * One fuzz property: the same one runs with a small fixed budget in `npm test` and for minutes
 * with fresh seeds in `npm run fuzz` (test/fuzz/run.ts).
 */
export type FuzzProperty = {
  name: string;
  /** Inputs tried in `npm test`: what a few seconds allow. */
  testRuns: number;
  /** Its share of `npm run fuzz`'s time (default 1): the end-to-end properties, slower per input and nearer to production, get more. */
  fuzzShare?: number;
  property: fc.IRawProperty<any, boolean>; // eslint-disable-line @typescript-eslint/no-explicit-any
};

/** A failed check as a report: what went wrong first, then the counterexample and the seed and path that replay it. */
export function failureReport(p: FuzzProperty, details: fc.RunDetails<unknown>): string {
  const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
  return [
    `${p.name}: ${error.split('\n')[0]}`,
    fc.defaultReportMessage(details) ?? '',
    `replay: npm run fuzz -- --only '${p.name}' --seed ${details.seed} --path ${details.counterexamplePath ?? ''}`,
  ].join('\n');
}
