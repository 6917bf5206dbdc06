/**
 * CPU and memory of the processes of the system under test, from /proc (Linux only): utime + stime
 * from /proc/<pid>/stat and VmRSS from /proc/<pid>/status, sampled periodically. A tracked "process"
 * may be a group of pids (postgres and its backends), summed. Also the machine: busy CPU from
 * /proc/stat and the load average.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { cpus } from 'node:os';

const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on every Linux we run on
const CORES = cpus().length;

export function cpuTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may contain spaces and parentheses: fields start after the last ')'
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime is field 14, stime field 15
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

export function rssBytes(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0; // zombies have no VmRSS
  } catch {
    return undefined;
  }
}

function pids(): number[] {
  try {
    return readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .map(Number);
  } catch {
    return [];
  }
}

export function comm(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

export function findByComm(name: string | RegExp): number[] {
  return pids().filter((p) => {
    const c = comm(p);
    return c !== undefined && (typeof name === 'string' ? c === name : name.test(c));
  });
}

/** The pid listening on a local TCP port (IPv4 or IPv6), by the socket inode; undefined if not visible. */
export function findListener(port: number): number | undefined {
  const inodes = new Set<string>();
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is f[1] ("0100007F:107E"), st is f[3] ("0A" = LISTEN), inode is f[9]
      if (f.length > 9 && f[1]!.endsWith(`:${hex}`) && f[3] === '0A') inodes.add(f[9]!);
    }
  }
  if (inodes.size === 0) return undefined;
  for (const p of pids()) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${p}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${p}/fd/${fd}`));
        if (m && inodes.has(m[1]!)) return p;
      } catch {
        // fd closed meanwhile
      }
    }
  }
  return undefined;
}

/** Parley processes started with `parley.mjs start`, by role (for --url runs: what we can find). */
export function findParleyRoles(): { role: string; pid: number }[] {
  const found: { role: string; pid: number }[] = [];
  for (const p of pids()) {
    if (p === process.pid) continue;
    const args = cmdline(p);
    const i = args.findIndex((a) => a.endsWith('parley.mjs'));
    if (i < 0 || args[i + 1] !== 'start') continue;
    const r = args.findIndex((a) => a === '--role' || a === '-r');
    const role = r >= 0 ? (args[r + 1] ?? 'all') : (args.find((a) => a.startsWith('--role='))?.slice(7) ?? 'all');
    found.push({ role, pid: p });
  }
  return found;
}

export function loadAverage(): [number, number, number] {
  try {
    const [a, b, c] = readFileSync('/proc/loadavg', 'utf8').split(' ').map(Number);
    return [a ?? 0, b ?? 0, c ?? 0];
  } catch {
    return [0, 0, 0];
  }
}

function machineTicks(): { busy: number; total: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0); // idle + iowait
    return { busy: total - idle, total };
  } catch {
    return { busy: 0, total: 0 };
  }
}

export type Tracked = { name: string; pids: () => number[]; note?: string };

/** CPU ticks of every process on the machine, with a short name (for "who else was busy"). */
export function allTicks(): Map<number, { ticks: number; name: string }> {
  const out = new Map<number, { ticks: number; name: string }>();
  for (const p of pids()) {
    const ticks = cpuTicks(p);
    if (ticks === undefined) continue;
    const args = cmdline(p);
    const c = comm(p) ?? '?';
    // node processes are told apart by their script, everything else by its command name
    const script = c === 'node' || c.startsWith('node') ? args.slice(1).find((a) => !a.startsWith('-') && /[./]/.test(a)) : undefined;
    out.set(p, { ticks, name: script ? `node ${script.split('/').slice(-2).join('/')}` : c });
  }
  return out;
}

/** The busiest processes between two allTicks() snapshots, outside `exclude`, grouped by name (% of one core). */
export function topOthers(
  before: Map<number, { ticks: number; name: string }>,
  after: Map<number, { ticks: number; name: string }>,
  exclude: Set<number>,
  seconds: number,
  n = 6,
): { name: string; cpu: number; pids: number }[] {
  const byName = new Map<string, { ticks: number; pids: number }>();
  for (const [pid, a] of after) {
    if (exclude.has(pid)) continue;
    const delta = a.ticks - (before.get(pid)?.ticks ?? 0);
    if (delta <= 0) continue;
    const g = byName.get(a.name) ?? { ticks: 0, pids: 0 };
    g.ticks += delta;
    g.pids++;
    byName.set(a.name, g);
  }
  return [...byName.entries()]
    .map(([name, g]) => ({ name, cpu: (g.ticks / CLK_TCK / Math.max(seconds, 1e-3)) * 100, pids: g.pids }))
    .sort((a, b) => b.cpu - a.cpu)
    .slice(0, n);
}

/** One sample per interval: per tracked name, CPU in % of one core over the interval, and RSS. */
export type ProcSample = {
  t: number;
  cpu: Record<string, number>;
  rss: Record<string, number>;
  /** Busy CPU of the whole machine, % of all cores. */
  machineBusy: number;
  /** Busy CPU not accounted for by the tracked processes, % of one core. */
  others: number;
  load1: number;
};

export type ProcSummary = { name: string; pids: number[]; note?: string; cpuMean: number; cpuMax: number; cpuSeconds: number; rssMax: number; rssEnd: number };

export class ProcSampler {
  readonly samples: ProcSample[] = [];
  #timer: NodeJS.Timeout | undefined;
  #last = new Map<string, { ticks: number; at: number }>();
  #lastMachine = machineTicks();
  #lastAt = performance.now();
  #seenPids = new Map<string, Set<number>>();
  /** Per name: ticks per pid at the previous sample (pids come and go inside a group). */
  #pidTicks = new Map<string, Map<number, number>>();

  constructor(
    readonly tracked: Tracked[],
    readonly intervalMs = 1000,
    /** Sample times are reported relative to this (performance.now() origin). */
    readonly origin = performance.now(),
  ) {}

  start(): void {
    this.#sample(true);
    this.#timer = setInterval(() => this.#sample(false), this.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#sample(false);
  }

  add(t: Tracked): void {
    this.tracked.push(t);
  }

  #sample(first: boolean): void {
    const now = performance.now();
    const dt = (now - this.#lastAt) / 1000;
    this.#lastAt = now;
    const cpu: Record<string, number> = {};
    const rss: Record<string, number> = {};
    for (const t of this.tracked) {
      const prev = this.#pidTicks.get(t.name) ?? new Map<number, number>();
      const next = new Map<number, number>();
      let delta = 0;
      let mem = 0;
      const seen = this.#seenPids.get(t.name) ?? new Set<number>();
      this.#seenPids.set(t.name, seen);
      for (const pid of t.pids()) {
        const ticks = cpuTicks(pid);
        if (ticks === undefined) continue;
        seen.add(pid);
        next.set(pid, ticks);
        const before = prev.get(pid);
        // a pid that appeared since the last sample: count from now (its past is not ours)
        if (before !== undefined) delta += ticks - before;
        mem += rssBytes(pid) ?? 0;
      }
      this.#pidTicks.set(t.name, next);
      cpu[t.name] = first || dt <= 0 ? 0 : (delta / CLK_TCK / dt) * 100;
      rss[t.name] = mem;
    }
    const m = machineTicks();
    const busy = m.total - this.#lastMachine.total > 0 ? ((m.busy - this.#lastMachine.busy) / (m.total - this.#lastMachine.total)) * 100 : 0;
    this.#lastMachine = m;
    const tracked = Object.values(cpu).reduce((a, b) => a + b, 0);
    const others = Math.max(0, busy * CORES - tracked);
    if (!first) this.samples.push({ t: (now - this.origin) / 1000, cpu, rss, machineBusy: busy, others, load1: loadAverage()[0] });
  }

  /** Mean and max CPU (% of one core) and max RSS per tracked name over samples with from < t ≤ to. */
  summary(from = -Infinity, to = Infinity): ProcSummary[] {
    const window = this.samples.filter((s) => s.t > from && s.t <= to + 1e-6);
    const rest = window.map((s) => s.others);
    const restMean = rest.length ? rest.reduce((a, b) => a + b, 0) / rest.length : Number.NaN;
    const restRow: ProcSummary = {
      name: 'rest of the machine',
      pids: [],
      note: 'busy CPU of every other process: other work on this machine (also processes that started and ended within the window), kernel threads',
      cpuMean: restMean,
      cpuMax: rest.length ? Math.max(...rest) : Number.NaN,
      cpuSeconds: (restMean * (window.length * this.intervalMs)) / 1000 / 100,
      rssMax: Number.NaN,
      rssEnd: Number.NaN,
    };
    return [...this.#summaries(window), restRow];
  }

  #summaries(window: ProcSample[]): ProcSummary[] {
    return this.tracked.map((t) => {
      const cpus = window.map((s) => s.cpu[t.name] ?? 0);
      const rss = window.map((s) => s.rss[t.name] ?? 0);
      const mean = cpus.length ? cpus.reduce((a, b) => a + b, 0) / cpus.length : Number.NaN;
      return {
        name: t.name,
        pids: [...(this.#seenPids.get(t.name) ?? [])].slice(0, 20),
        ...(t.note ? { note: t.note } : {}),
        cpuMean: mean,
        cpuMax: cpus.length ? Math.max(...cpus) : Number.NaN,
        cpuSeconds: (mean * (window.length * this.intervalMs)) / 1000 / 100,
        rssMax: rss.length ? Math.max(...rss) : Number.NaN,
        rssEnd: rss.length ? rss[rss.length - 1]! : Number.NaN,
      };
    });
  }
}
