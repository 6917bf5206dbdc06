/** With --repeat: the median of each figure over the runs, and their Markdown table side by side. */
import { fmtMs, fmtRate, fmtUs, mdTable, median } from '../lib/results.js';
import type { LoadResult } from './result.js';

/** A run's cost figures, NaN where the run has none (made before they existed, NATS not measured). */
const cpuUs = (r: LoadResult, name: string) => (name === 'all server processes' ? r.results.cost?.cpu.total : r.results.cost?.cpu.processes.find((p) => p.name === name))?.usPerMessage ?? Number.NaN;
const nats = (r: LoadResult) => (r.results.cost?.nats.measured ? r.results.cost.nats.perMessage : undefined);
const costNames = (runs: LoadResult[]) => [...new Set(runs.flatMap((r) => r.results.cost?.cpu.processes.map((p) => p.name) ?? [])), 'all server processes'];

export function medians(runs: LoadResult[]) {
  const m = (f: (r: LoadResult) => number) => median(runs.map(f));
  const procNames = [...new Set(runs.flatMap((r) => r.results.processes.map((p) => p.name)))];
  return {
    runs: runs.length,
    sendsPerSec: m((r) => r.results.throughput.sendsPerSec),
    deliveriesPerSec: m((r) => r.results.throughput.deliveriesPerSec),
    new: { p50: m((r) => r.results.latency.new.p50), p90: m((r) => r.results.latency.new.p90), p99: m((r) => r.results.latency.new.p99), p999: m((r) => r.results.latency.new.p999), max: m((r) => r.results.latency.new.max) },
    sent: { p50: m((r) => r.results.latency.sent.p50), p90: m((r) => r.results.latency.sent.p90), p99: m((r) => r.results.latency.sent.p99), p999: m((r) => r.results.latency.sent.p999), max: m((r) => r.results.latency.sent.max) },
    lagP99: m((r) => r.results.lag.p99),
    lost: runs.map((r) => r.results.lost),
    duplicated: runs.map((r) => r.results.duplicated),
    load1: m((r) => r.environment.load1Median),
    cpu: Object.fromEntries(procNames.map((n) => [n, m((r) => r.results.processes.find((p) => p.name === n)?.cpuMean ?? Number.NaN)])),
    /** Cost per message sent: CPU µs per server process and in all, NATS messages and bytes (medians of the runs that have them). */
    cost: {
      cpuUsPerMessage: Object.fromEntries(costNames(runs).map((n) => [n, m((r) => cpuUs(r, n))])),
      cpuUsPerDelivery: m((r) => r.results.cost?.cpu.total.usPerDelivery ?? Number.NaN),
      natsMsgsPerMessage: m((r) => nats(r)?.msgs ?? Number.NaN),
      natsBytesPerMessage: m((r) => nats(r)?.bytes ?? Number.NaN),
    },
  };
}

const fmtPer = (v: number | undefined, digits = 1) => (v === undefined || !Number.isFinite(v) ? 'not measured' : v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));

export function mediansMarkdown(runs: LoadResult[]): string {
  const md = medians(runs);
  const o = runs[0]!.options;
  const rows: (string | number)[][] = [
    ['sends/s', ...runs.map((r) => fmtRate(r.results.throughput.sendsPerSec)), fmtRate(md.sendsPerSec)],
    ['deliveries/s', ...runs.map((r) => fmtRate(r.results.throughput.deliveriesPerSec)), fmtRate(md.deliveriesPerSec)],
    ...(['p50', 'p90', 'p99', 'p999', 'max'] as const).map((k) => [`send → message.new ${k === 'p999' ? 'p99.9' : k}`, ...runs.map((r) => fmtMs(r.results.latency.new[k])), fmtMs(md.new[k])]),
    ...(['p50', 'p99', 'max'] as const).map((k) => [`send → message.sent ${k}`, ...runs.map((r) => fmtMs(r.results.latency.sent[k])), fmtMs(md.sent[k])]),
    ['sender lag p99', ...runs.map((r) => fmtMs(r.results.lag.p99)), fmtMs(md.lagP99)],
    ['lost / duplicated', ...runs.map((r) => `${r.results.lost} / ${r.results.duplicated}`), `${Math.max(...md.lost)} / ${Math.max(...md.duplicated)} (worst)`],
    ['load average (1 min)', ...runs.map((r) => r.environment.load1Median.toFixed(2)), md.load1.toFixed(2)],
    ...Object.entries(md.cost.cpuUsPerMessage).map(([n, v]) => [`CPU µs per message, ${n}`, ...runs.map((r) => fmtUs(cpuUs(r, n))), fmtUs(v)]),
    ...(o.members > 2 ? [['CPU µs per delivery, all server processes', ...runs.map((r) => fmtUs(r.results.cost?.cpu.total.usPerDelivery)), fmtUs(md.cost.cpuUsPerDelivery)]] : []),
    ['NATS messages per message', ...runs.map((r) => fmtPer(nats(r)?.msgs)), fmtPer(md.cost.natsMsgsPerMessage)],
    ['NATS bytes per message', ...runs.map((r) => fmtPer(nats(r)?.bytes, 0)), fmtPer(md.cost.natsBytesPerMessage, 0)],
    ...Object.entries(md.cpu).map(([n, v]) => [`CPU ${n}`, ...runs.map((r) => `${(r.results.processes.find((p) => p.name === n)?.cpuMean ?? Number.NaN).toFixed(0)} %`), `${v.toFixed(0)} %`]),
  ];
  return [
    `# Load, median of ${runs.length} runs: ${o.members === 2 ? '1:1' : `groups of ${o.members}`}, ${o.connections} connections, ${fmtRate(o.rate)} msg/s, ${o.codec}`,
    '',
    mdTable(['', ...runs.map((_, i) => `run ${i + 1}`), 'median'], rows),
    '',
    `Runs: ${runs.map((r) => r.runId).join(', ')}`,
    '',
  ].join('\n');
}
