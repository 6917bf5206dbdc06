/**
 * `npm run fuzz -- --minutes N`: the fuzz properties of `npm test` (test/fuzz/*.test.ts), for N
 * minutes with fresh random seeds, against one whole Parley. Prints the inputs tried per property
 * and in all; on a failure prints the counterexample with the seed and path that replay it
 * (`--only <name> --seed S --path P`) and exits 1. Not a *.test.ts: tap does not run it.
 */
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { startSystem } from '../helpers/system.js';
import { assertStillServes, fuzzConfig, fuzzTarget } from './e2e/target.js';
import { clientFrameProperties } from './properties/client-frames.js';
import { decoderProperties } from './properties/decoders.js';
import { edgeDecoderProperties } from './properties/edge-decoders.js';
import { presenceNoticeProperties } from './properties/presence-notices.js';
import { presenceSubscribeProperties } from './properties/presence-subscribe.js';
import { restProperties } from './properties/rest.js';
import { socketProperties } from './properties/socket.js';
import { typingProperties } from './properties/typing.js';
import { upgradeProperties } from './properties/upgrade.js';
import { failureReport, type FuzzProperty } from './property.js';

const { values: args } = parseArgs({
  options: { minutes: { type: 'string', default: '1' }, only: { type: 'string' }, seed: { type: 'string' }, path: { type: 'string' } },
});
const minutes = Number(args.minutes);
if (!(minutes > 0)) throw new Error(`--minutes must be a positive number, not ${args.minutes}`);

const teardowns: (() => unknown)[] = [];
async function finish(code: number): Promise<never> {
  for (const fn of teardowns.reverse()) await fn();
  process.exit(code);
}

const system = await startSystem({ teardown: (fn) => void teardowns.push(fn) }, fuzzConfig);
const target = await fuzzTarget(system);
const all: FuzzProperty[] = [
  ...decoderProperties,
  ...edgeDecoderProperties,
  ...clientFrameProperties,
  ...presenceNoticeProperties,
  ...socketProperties(target),
  ...typingProperties(target),
  ...presenceSubscribeProperties(target),
  ...upgradeProperties(target),
  ...restProperties(target),
];
const properties = args.only === undefined ? all : all.filter((p) => p.name.includes(args.only!));
if (properties.length === 0) {
  console.error(`no property's name contains ${JSON.stringify(args.only)}`);
  await finish(2);
}

/** Stop at the first failure: its report, and exit 1. */
async function check(p: FuzzProperty, params: fc.Parameters<unknown>): Promise<number> {
  const details = await fc.check(p.property, params);
  if (details.failed) {
    console.error(`\nFAILED ${failureReport(p, details)}`);
    await finish(1);
  }
  return details.numRuns;
}

if (args.seed !== undefined) {
  // Replay one counterexample (and shrink it again).
  const p = properties[0]!;
  await check(p, { seed: Number(args.seed), ...(args.path ? { path: args.path } : {}), numRuns: 1 });
  console.log(`${p.name}: passes now`);
  await finish(0);
}

// Every property gets its share of the time, in four slices taken in turn, each with a new seed.
const totalMs = minutes * 60_000;
const shares = properties.reduce((sum, p) => sum + (p.fuzzShare ?? 1), 0);
const sliceOf = (p: FuzzProperty) => Math.max(1_000, (totalMs * (p.fuzzShare ?? 1)) / shares / 4);
const tried = new Map(properties.map((p) => [p, 0]));
const deadline = Date.now() + totalMs;
console.log(`fuzzing ${properties.length} properties for ${minutes} min`);
while (Date.now() < deadline) {
  for (const p of properties) {
    const timeLimit = Math.min(sliceOf(p), deadline - Date.now());
    if (timeLimit <= 0) break;
    const seed = Math.floor(Math.random() * 2 ** 31);
    tried.set(p, tried.get(p)! + (await check(p, { seed, numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: timeLimit, markInterruptAsFailure: false })));
  }
  console.log(`  ${Math.round((totalMs - (deadline - Date.now())) / 1000)} s: ${[...tried.values()].reduce((a, b) => a + b, 0)} inputs`);
}

try {
  await assertStillServes(target);
} catch (err) {
  const cause = (err as Error).cause;
  console.error(`\nFAILED afterwards: ${(err as Error).message}${cause ? ` (${String(cause)})` : ''}`);
  await finish(1);
}
console.log('\ninputs tried:');
for (const [p, n] of tried) console.log(`${String(n).padStart(10)}  ${p.name}`);
console.log(`${String([...tried.values()].reduce((a, b) => a + b, 0)).padStart(10)}  in all; afterwards healthy, no contained fault, still delivering, everything stored projected`);
await finish(0);
