/**
 * `npm run bench -- compare <a.json> <b.json>`: two runs side by side, with B/A ratios, as a
 * Markdown table. Load runs get a curated table (throughput, latency percentiles, loss, cost per
 * message, CPU per process); other scenarios get every numeric figure under `results`.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FlagError, flagsHelp, parseFlags, type FlagSpec } from './lib/flags.js';
import { fmtMs, fmtRate, fmtUs, mdTable, RESULTS_DIR } from './lib/results.js';

export const flags: FlagSpec[] = [
  { name: 'out', kind: 'string', value: '<file.md>', help: 'Also write the table to this file.' },
  { name: 'help', kind: 'bool', help: 'This help.' },
];

export const help = `bench compare: two run JSONs side by side with ratios (Markdown table).

Usage: npm run bench -- compare <a.json> <b.json> [--out file.md]

A run may be given as a path or as a run id in bench/results/ (with or without .json). The ratio
column is B / A; for each row the better side is marked (higher throughput, lower latency and CPU).
Runs of different scenarios or options are compared anyway, with their differences listed first.

Flags:
${flagsHelp(flags)}
`;

type Row = { label: string; a: number; b: number; fmt: (v: number) => string; better?: 'higher' | 'lower'; /** smallest absolute difference worth a mark */ minDelta?: number };

function resolveRun(arg: string): string {
  for (const p of [arg, `${arg}.json`, join(RESULTS_DIR, arg), join(RESULTS_DIR, `${arg}.json`)]) if (existsSync(p)) return p;
  throw new FlagError(`no run file ${JSON.stringify(arg)} (looked in . and bench/results/)`);
}

const get = (o: any, path: string): number => {
  const v = path.split('.').reduce((x, k) => (x === undefined || x === null ? undefined : x[k]), o);
  return typeof v === 'number' ? v : Number.NaN;
};

function loadRows(a: any, b: any): Row[] {
  const rate = (v: number) => fmtRate(v);
  const ms = (v: number) => fmtMs(v);
  const int = (v: number) => (Number.isFinite(v) ? String(Math.round(v)) : '-');
  const pct = (v: number) => (Number.isFinite(v) ? `${v.toFixed(0)} %` : '-');
  const rows: Row[] = [
    { label: 'target rate (msg/s)', a: get(a, 'results.throughput.targetRate'), b: get(b, 'results.throughput.targetRate'), fmt: rate },
    { label: 'sends/s', a: get(a, 'results.throughput.sendsPerSec'), b: get(b, 'results.throughput.sendsPerSec'), fmt: rate, better: 'higher' },
    { label: 'deliveries/s', a: get(a, 'results.throughput.deliveriesPerSec'), b: get(b, 'results.throughput.deliveriesPerSec'), fmt: rate, better: 'higher' },
    { label: 'lowest second of deliveries', a: get(a, 'results.throughput.minDeliveriesPerSec'), b: get(b, 'results.throughput.minDeliveriesPerSec'), fmt: rate, better: 'higher' },
  ];
  for (const [k, name] of [
    ['p50', 'p50'],
    ['p90', 'p90'],
    ['p99', 'p99'],
    ['p999', 'p99.9'],
    ['max', 'max'],
  ] as const) {
    rows.push({ label: `send → message.new ${name}`, a: get(a, `results.latency.new.${k}`), b: get(b, `results.latency.new.${k}`), fmt: ms, better: 'lower' });
  }
  for (const [k, name] of [
    ['p50', 'p50'],
    ['p99', 'p99'],
    ['max', 'max'],
  ] as const) {
    rows.push({ label: `send → message.sent ${name}`, a: get(a, `results.latency.sent.${k}`), b: get(b, `results.latency.sent.${k}`), fmt: ms, better: 'lower' });
  }
  rows.push(
    { label: 'sender lag p99', a: get(a, 'results.lag.p99'), b: get(b, 'results.lag.p99'), fmt: ms, better: 'lower' },
    { label: 'lost', a: get(a, 'results.lost'), b: get(b, 'results.lost'), fmt: int, better: 'lower' },
    { label: 'duplicated', a: get(a, 'results.duplicated'), b: get(b, 'results.duplicated'), fmt: int, better: 'lower' },
    { label: 'rejected', a: get(a, 'results.rejected'), b: get(b, 'results.rejected'), fmt: int, better: 'lower' },
  );
  // cost per message (runs made before it existed have none: '-')
  const us = (v: number) => fmtUs(v);
  const one = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : '-');
  rows.push({ label: 'CPU µs per message, all server processes', a: get(a, 'results.cost.cpu.total.usPerMessage'), b: get(b, 'results.cost.cpu.total.usPerMessage'), fmt: us, better: 'lower', minDelta: 5 });
  const costNames = [...new Set([...(a.results?.cost?.cpu?.processes ?? []), ...(b.results?.cost?.cpu?.processes ?? [])].map((p: any) => p.name as string))];
  const costOf = (r: any, n: string) => (r.results?.cost?.cpu?.processes ?? []).find((p: any) => p.name === n)?.usPerMessage ?? Number.NaN;
  for (const n of costNames) rows.push({ label: `CPU µs per message, ${n}`, a: costOf(a, n), b: costOf(b, n), fmt: us, better: 'lower', minDelta: 5 });
  rows.push(
    { label: 'CPU µs per delivery, all server processes', a: get(a, 'results.cost.cpu.total.usPerDelivery'), b: get(b, 'results.cost.cpu.total.usPerDelivery'), fmt: us, better: 'lower', minDelta: 5 },
    { label: 'NATS messages per message', a: get(a, 'results.cost.nats.perMessage.msgs'), b: get(b, 'results.cost.nats.perMessage.msgs'), fmt: one, better: 'lower', minDelta: 0.5 },
    { label: 'NATS bytes per message', a: get(a, 'results.cost.nats.perMessage.bytes'), b: get(b, 'results.cost.nats.perMessage.bytes'), fmt: int, better: 'lower', minDelta: 50 },
  );
  const names = [...new Set([...(a.results?.processes ?? []), ...(b.results?.processes ?? [])].map((p: any) => p.name as string))];
  const proc = (r: any, n: string) => (r.results?.processes ?? []).find((p: any) => p.name === n);
  for (const n of names) {
    rows.push({ label: `CPU ${n} (mean, % of a core)`, a: proc(a, n)?.cpuMean ?? Number.NaN, b: proc(b, n)?.cpuMean ?? Number.NaN, fmt: pct, better: 'lower', minDelta: 3 });
  }
  for (const n of names) {
    rows.push({ label: `RSS ${n} (max, MiB)`, a: (proc(a, n)?.rssMax ?? Number.NaN) / 2 ** 20, b: (proc(b, n)?.rssMax ?? Number.NaN) / 2 ** 20, fmt: int, better: 'lower', minDelta: 10 });
  }
  rows.push({ label: 'load average (median, 1 min)', a: get(a, 'environment.load1Median'), b: get(b, 'environment.load1Median'), fmt: (v) => (Number.isFinite(v) ? v.toFixed(2) : '-') });
  return rows;
}

/** Every numeric leaf under `results` (arrays skipped), for scenarios without a curated table. */
function genericRows(a: any, b: any): Row[] {
  const flat = (o: any, prefix = '', acc = new Map<string, number>(), depth = 0): Map<string, number> => {
    if (depth > 4 || o === null || typeof o !== 'object' || Array.isArray(o)) return acc;
    for (const [k, v] of Object.entries(o)) {
      const key = prefix ? `${prefix}.${k}` : k;
      if (typeof v === 'number') acc.set(key, v);
      else flat(v, key, acc, depth + 1);
    }
    return acc;
  };
  const fa = flat(a.results ?? a);
  const fb = flat(b.results ?? b);
  const keys = [...new Set([...fa.keys(), ...fb.keys()])];
  const fmt = (v: number) => (Number.isFinite(v) ? (Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : String(+v.toPrecision(4))) : '-');
  return keys.map((k) => ({ label: k, a: fa.get(k) ?? Number.NaN, b: fb.get(k) ?? Number.NaN, fmt }));
}

function ratio(r: Row): string {
  if (!Number.isFinite(r.a) || !Number.isFinite(r.b)) return '-';
  if (r.a === 0) return r.b === 0 ? '1.00' : '∞';
  const q = r.b / r.a;
  let mark = '';
  if (r.better && Math.abs(q - 1) >= 0.05 && Math.abs(r.b - r.a) >= (r.minDelta ?? 0)) mark = (r.better === 'higher') === q > 1 ? ' ✓' : ' ✗';
  return `${q.toFixed(2)}×${mark}`;
}

function optionDiffs(a: any, b: any): string[] {
  const oa = a.options ?? {};
  const ob = b.options ?? {};
  const skip = new Set(['label', 'outDir', 'quiet', 'repeat']);
  // a private nats-server (--private-nats) has new ports every run
  if (oa.privateNats && ob.privateNats) for (const k of ['natsUrl', 'natsMonitor']) skip.add(k);
  return [...new Set([...Object.keys(oa), ...Object.keys(ob)])]
    .filter((k) => !skip.has(k) && JSON.stringify(oa[k]) !== JSON.stringify(ob[k]))
    .map((k) => `\`${k}\`: ${JSON.stringify(oa[k])} → ${JSON.stringify(ob[k])}`);
}

export function compareMarkdown(a: any, b: any, nameA: string, nameB: string): string {
  const lines: string[] = [`# Compare: A = ${nameA}, B = ${nameB}`, ''];
  if (a.scenario !== b.scenario) lines.push(`Different scenarios: ${a.scenario} and ${b.scenario}.`, '');
  const diffs = optionDiffs(a, b);
  if (diffs.length) lines.push(`Options that differ: ${diffs.join('; ')}.`, '');
  const ga = a.environment?.git?.commit;
  const gb = b.environment?.git?.commit;
  if (ga || gb) lines.push(`Code: A ${ga ?? '?'}${a.environment?.git?.dirty ? '+changes' : ''}, B ${gb ?? '?'}${b.environment?.git?.dirty ? '+changes' : ''}.`, '');
  const rows = a.scenario === 'load' && b.scenario === 'load' ? loadRows(a, b) : genericRows(a, b);
  lines.push(
    mdTable(
      ['', 'A', 'B', 'B / A'],
      rows.filter((r) => Number.isFinite(r.a) || Number.isFinite(r.b)).map((r) => [r.label, r.fmt(r.a), r.fmt(r.b), ratio(r)]),
    ),
  );
  lines.push('', '✓ = B better by 5 % or more, ✗ = B worse by 5 % or more.', '');
  return lines.join('\n');
}

export async function run(argv: string[]): Promise<number> {
  let files: string[];
  let outFile: string | undefined;
  try {
    const { values, positionals } = parseFlags(flags, argv);
    if (values.help) {
      process.stdout.write(help);
      return 0;
    }
    if (positionals.length !== 2) throw new FlagError(`compare wants exactly two run files, got ${positionals.length}`);
    files = positionals.map(resolveRun);
    outFile = values.out as string | undefined;
  } catch (e) {
    if (!(e instanceof FlagError)) throw e;
    process.stderr.write(`bench compare: ${e.message}\n\n${help}`);
    return 2;
  }
  const [a, b] = files.map((f) => JSON.parse(readFileSync(f, 'utf8')));
  const md = compareMarkdown(a, b, a.runId ?? files[0], b.runId ?? files[1]);
  process.stdout.write(md);
  if (outFile) writeFileSync(outFile, md);
  return 0;
}
