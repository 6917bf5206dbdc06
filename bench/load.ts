/**
 * `npm run bench -- load`: the open-loop load generator. Starts the system under test (or targets
 * --url), spreads N connections over generator processes and source addresses, sends at a fixed
 * rate by the clock, and measures send → message.sent and send → message.new latency from each
 * message's scheduled time, throughput, loss, duplicates, and the CPU and memory of every process.
 *
 * The parts are in bench/load/: options.ts (flags and help), run.ts (one run, step by step),
 * target.ts, generators.ts and observe.ts (its steps), worker.ts (a generator process), merge.ts
 * (the generators' results made one), report.ts, chart.ts and medians.ts (what is written).
 */
import { FlagError } from './lib/flags.js';
import { rel, runId, writeRun } from './lib/results.js';
import { medians, mediansMarkdown } from './load/medians.js';
import { help, parseOptions, type Options } from './load/options.js';
import type { LoadResult } from './load/result.js';
import { runOnce, wasInterrupted } from './load/run.js';

export { flags, help } from './load/options.js';
export type { LoadResult } from './load/result.js';

const out = (line = '') => process.stdout.write(`${line}\n`);
const err = (line = '') => process.stderr.write(`${line}\n`);

export async function run(argv: string[]): Promise<number> {
  let o: Options | 'help';
  try {
    o = parseOptions(argv);
  } catch (e) {
    if (e instanceof FlagError || (e instanceof Error && /conversation|connections|generator/.test(e.message))) {
      err(`bench load: ${(e as Error).message}\n\nRun \`npm run bench -- load --help\` for the flags.`);
      return 2;
    }
    throw e;
  }
  if (o === 'help') {
    out(help);
    return 0;
  }
  const runs: LoadResult[] = [];
  let code = 0;
  for (let r = 0; r < o.repeat; r++) {
    if (o.repeat > 1) out(`\n=== run ${r + 1} of ${o.repeat} ===`);
    const result = await runOnce(o);
    if (result === 'refused') return 2;
    if (result === 'failed') return 1;
    runs.push(result);
    if (!result.verdict.ok) code = 1;
    if (wasInterrupted()) break;
  }
  if (runs.length > 1) {
    const md = mediansMarkdown(runs);
    const id = runId('load-median', o.label);
    const files = writeRun(o.outDir, id, { json: { scenario: 'load-median', runs: runs.map((x) => x.runId), medians: medians(runs) }, md });
    out(`\n${md}`);
    out(`Medians: ${rel(files.md!)}`);
  }
  return code;
}

