/**
 * Small helpers shared by the connections, storm and micro scenarios: flag parsing, summaries,
 * machine facts (load average, file-descriptor limits, RSS) and bounded waiting.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg, cpus, totalmem } from 'node:os';
import { percentile } from '../../cli/percentiles.js';

export { formatMs, percentile, summarize, type LatencySummary } from '../../cli/percentiles.js';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A positive integer flag (or its default); throws a usage error naming the flag. */
export function intFlag(values: Record<string, unknown>, name: string, fallback: number, min = 1): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(raw)}`);
  return n;
}

export class UsageError extends Error {}

/** Run `body`, turning a UsageError into exit code 2 with the message and help on stderr. */
export async function withUsage(help: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`${(err as Error).message}\n\n${help}`);
      return 2;
    }
    throw err;
  }
}

/** Wait until `check()` is true, polling every `everyMs`; false when `timeoutMs` passes first. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(everyMs);
  }
}

/** VmRSS of a process in bytes (from /proc/<pid>/status), or NaN when it is gone. */
export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** CPU seconds (user + system) a process has used so far (from /proc/<pid>/stat), NaN when it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after "pid (comm) ".
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}
const CLOCK_TICKS = 100;

/** The soft "Max open files" of a process (from /proc/<pid>/limits). */
export function openFilesLimit(pid: number | 'self' = 'self'): { soft: number; hard: number } {
  try {
    const m = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
    const n = (s: string | undefined) => (s === undefined || s === 'unlimited' ? Number.POSITIVE_INFINITY : Number(s));
    return { soft: n(m?.[1]), hard: n(m?.[2]) };
  } catch {
    return { soft: Number.NaN, hard: Number.NaN };
  }
}

/** Open file descriptors of a process right now (NaN when it is gone). */
export function openFiles(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return Number.NaN;
  }
}

/** The ephemeral port range (the ports one source address can use towards one destination). */
export function ephemeralPorts(): number {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return hi! - lo! + 1;
  } catch {
    return 28_232;
  }
}

export function machineLine(): string {
  const [l1, l5, l15] = loadavg();
  return `machine: ${cpus().length} CPUs, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, load average ${l1!.toFixed(2)} ${l5!.toFixed(2)} ${l15!.toFixed(2)}, node ${process.version}`;
}

export function load1(): number {
  return loadavg()[0]!;
}

/** Median of numbers (NaN for none). */
export function median(xs: readonly number[]): number {
  return percentile([...xs].sort((a, b) => a - b), 50);
}

export function fmtBytes(n: number): string {
  if (!Number.isFinite(n)) return '-';
  const abs = Math.abs(n);
  if (abs >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (abs >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (abs >= 2 ** 10) return `${(n / 2 ** 10).toFixed(2)} KiB`;
  return `${n.toFixed(0)} B`;
}

export function fmtInt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-';
}

/** Is this module the process's entry point (run directly with tsx rather than from bench/main.ts)? */
export function isMain(importMetaUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  return importMetaUrl === new URL(`file://${entry.startsWith('/') ? '' : `${process.cwd()}/`}${entry}`).href;
}


/** Run `fn(0…n-1)` with at most `width` in flight. */
export async function inBatches(n: number, width: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(width, n)) }, lane));
}

/**
 * The IPC side of a client process: requests `{ id, op, args }` go to `handle`, every answer is
 * `{ id, ok, result | error }`; when the parent goes away, `onParentGone` drops the sockets and the
 * process leaves. Tells the parent it is ready (id 0).
 */
export function serveWorker(handle: (op: string, args: Record<string, unknown>) => Promise<unknown>, onParentGone: () => void): void {
  process.on('message', (msg: { id: number; op: string; args: Record<string, unknown> }) => {
    handle(msg.op, msg.args ?? {}).then(
      (result) => process.send!({ id: msg.id, ok: true, result }),
      (err: unknown) => process.send!({ id: msg.id, ok: false, error: (err as Error).stack ?? String(err) }),
    );
  });
  process.on('disconnect', () => {
    onParentGone();
    process.exit(0);
  });
  process.send?.({ id: 0, ok: true, result: 'ready' });
}
