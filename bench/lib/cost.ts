/**
 * What one chat message costs, as arithmetic on figures a run already has: the CPU seconds of
 * each server process over the measured window (bench/lib/procstats.ts) and nats-server's traffic
 * counters (/varz at the start and the end of that window), each divided by the messages sent in
 * the window (and, for groups, by the deliveries too). Pure: no I/O; bench/lib/nats-monitor.ts
 * reads /varz, bench/load/merge.ts puts the pieces together.
 */

/** nats-server's cumulative traffic counters, as /varz gives them (in_msgs, out_msgs, in_bytes, out_bytes). */
export type NatsCounters = { inMsgs: number; outMsgs: number; inBytes: number; outBytes: number };

/** `http://host:port`, `http://host:port/` or `…/varz` → the /varz URL. */
export function varzUrl(monitor: string): string {
  const u = new URL(monitor);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`not an http(s) URL: ${monitor}`);
  if (!u.pathname.endsWith('/varz')) u.pathname = `${u.pathname.replace(/\/+$/, '')}/varz`;
  return u.toString();
}

/** The counters of a /varz answer; throws when one is missing or not a number. */
export function countersOfVarz(varz: unknown): NatsCounters {
  const v = (varz ?? {}) as Record<string, unknown>;
  const n = (k: string): number => {
    const x = v[k];
    if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) throw new Error(`/varz has no ${k} counter`);
    return x;
  };
  return { inMsgs: n('in_msgs'), outMsgs: n('out_msgs'), inBytes: n('in_bytes'), outBytes: n('out_bytes') };
}

/** `amount / count`; NaN when there is nothing to divide by (never a silent 0 or Infinity). */
export function per(amount: number, count: number): number {
  return count > 0 && Number.isFinite(amount) ? amount / count : Number.NaN;
}

/** What the figures are divided by: the messages sent in the measured window, and the deliveries there (groups). */
export type CostBasis = { messages: number; deliveries: number; members: number };

export type CpuCostRow = { name: string; cpuSeconds: number; usPerMessage: number; usPerDelivery?: number };
export type CpuCost = { processes: CpuCostRow[]; total: CpuCostRow & { name: 'all server processes' } };

function cpuRow(name: string, cpuSeconds: number, b: CostBasis): CpuCostRow {
  return {
    name,
    cpuSeconds,
    usPerMessage: per(cpuSeconds * 1e6, b.messages),
    ...(b.members > 2 ? { usPerDelivery: per(cpuSeconds * 1e6, b.deliveries) } : {}),
  };
}

/**
 * CPU µs per message of each server process and of all of them together. `processes` are the run's
 * per-process CPU seconds over the window; those for which `isServer` is false (the generators, the
 * bench, the rest of the machine) are left out of both. A process without a figure (NaN) shows NaN
 * and is left out of the total.
 */
export function cpuCost(processes: { name: string; cpuSeconds: number }[], isServer: (name: string) => boolean, b: CostBasis): CpuCost {
  const servers = processes.filter((p) => isServer(p.name));
  const total = servers.reduce((a, p) => a + (Number.isFinite(p.cpuSeconds) ? p.cpuSeconds : 0), 0);
  return {
    processes: servers.map((p) => cpuRow(p.name, p.cpuSeconds, b)),
    total: { ...cpuRow('all server processes', servers.length ? total : Number.NaN, b), name: 'all server processes' },
  };
}

/** Traffic through nats-server over the window, and per message (and per delivery for groups): in, out, and both. */
export type NatsTraffic = {
  delta: NatsCounters;
  perMessage: { inMsgs: number; outMsgs: number; msgs: number; inBytes: number; outBytes: number; bytes: number };
  perDelivery?: { msgs: number; bytes: number };
};

/** The counters' growth from `before` to `after`, per message sent (and per delivery for groups). Throws when a counter went down (the server restarted). */
export function natsTraffic(before: NatsCounters, after: NatsCounters, b: CostBasis): NatsTraffic {
  const delta = { inMsgs: after.inMsgs - before.inMsgs, outMsgs: after.outMsgs - before.outMsgs, inBytes: after.inBytes - before.inBytes, outBytes: after.outBytes - before.outBytes };
  for (const [k, v] of Object.entries(delta)) if (v < 0) throw new Error(`nats-server's ${k} went down during the window (was it restarted?)`);
  const msgs = delta.inMsgs + delta.outMsgs;
  const bytes = delta.inBytes + delta.outBytes;
  return {
    delta,
    perMessage: {
      inMsgs: per(delta.inMsgs, b.messages),
      outMsgs: per(delta.outMsgs, b.messages),
      msgs: per(msgs, b.messages),
      inBytes: per(delta.inBytes, b.messages),
      outBytes: per(delta.outBytes, b.messages),
      bytes: per(bytes, b.messages),
    },
    ...(b.members > 2 ? { perDelivery: { msgs: per(msgs, b.deliveries), bytes: per(bytes, b.deliveries) } } : {}),
  };
}

/** The processes that are not the server: the load generators, the bench's coordinator, everything else on the machine. */
export function isServerProcess(name: string): boolean {
  return !/^generator-\d+$/.test(name) && name !== 'bench' && name !== 'rest of the machine';
}

/** nats-server's counters at the start and the end of the measured window (bench/load/observe.ts), or why there are none. */
export type NatsWindow =
  | { monitorUrl: string; before: NatsCounters; after: NatsCounters; elapsedS: number; port?: number }
  | { monitorUrl: string; error: string }
  | { monitorUrl?: undefined };

export type NatsCost =
  | ({ measured: true; source: 'private' | 'monitor'; monitorUrl: string; elapsedS: number; note: string } & NatsTraffic)
  | { measured: false; reason: string };

/** The cost figures of a run, as its JSON holds them (`results.cost`). */
export type RunCost = {
  /** What the figures are divided by, and why. */
  basis: string;
  messages: number;
  deliveries: number;
  windowS: number;
  cpu: CpuCost;
  nats: NatsCost;
  /** What qualifies these figures: what makes them lower or higher than what a message really costs. */
  caveats: string[];
};

export type RunCostInput = {
  processes: { name: string; cpuSeconds: number }[];
  isServer: (name: string) => boolean;
  basis: CostBasis;
  windowS: number;
  /** Deliveries the window's sends should have made (sends × (members − 1)). */
  expectedDeliveries: number;
  rejected: number;
  nats: NatsWindow;
  /** Where the monitoring endpoint came from: the private server of --private-nats, or --nats-monitor. */
  natsSource?: 'private' | 'monitor';
  /** The NATS the system under test uses. */
  natsUrl: string;
};

/** The port of a NATS URL (the first of a list), 4222 when it names none. */
export function natsPort(natsUrl: string): number {
  return Number(new URL(natsUrl.split(',')[0]!.replace(/^nats:/, 'http:')).port || 4222);
}

function natsCost(x: RunCostInput): NatsCost {
  const w = x.nats;
  if (w.monitorUrl === undefined) {
    return {
      measured: false,
      reason:
        `NATS messages and bytes per message were not measured: no monitoring endpoint for the nats-server at ${x.natsUrl}. ` +
        `Run with --private-nats (a nats-server of the run's own, with monitoring) or --nats-monitor http://<host>:<port> (the -m endpoint of that server).`,
    };
  }
  if ('error' in w) return { measured: false, reason: `NATS messages and bytes per message were not measured: ${w.error}` };
  let traffic: NatsTraffic;
  try {
    traffic = natsTraffic(w.before, w.after, x.basis);
  } catch (e) {
    return { measured: false, reason: `NATS messages and bytes per message were not measured: ${(e as Error).message}` };
  }
  let note: string;
  if (x.natsSource === 'private') {
    note = `a private nats-server started for this run (--private-nats): its counters hold this run's traffic only, the bench's own pipeline polling included (a few JetStream API requests a second)`;
  } else {
    note = `read from ${w.monitorUrl} (--nats-monitor): a shared nats-server counts every other client's traffic too (other tests, other systems on it), so these figures are an upper bound unless nothing else used it; --private-nats counts this run alone`;
    if (w.port !== undefined && w.port !== natsPort(x.natsUrl)) note += `. WARNING: that server listens on port ${w.port}, but the system's NATS is ${x.natsUrl}: not the same server?`;
  }
  return { measured: true, source: x.natsSource ?? 'monitor', monitorUrl: w.monitorUrl, elapsedS: w.elapsedS, note, ...traffic };
}

/** The cost of a run's messages: CPU per process and in all, NATS traffic, and what qualifies them. */
export function runCost(x: RunCostInput): RunCost {
  const b = x.basis;
  const caveats: string[] = [];
  if (x.natsSource !== 'private' && x.processes.some((p) => p.name === 'nats-server' && x.isServer(p.name))) {
    caveats.push(`nats-server's CPU is that of a server other clients may use too (${x.natsUrl}): their work counts as this run's; --private-nats measures this run alone`);
  }
  if (x.rejected > 0) caveats.push(`${x.rejected} send(s) were refused: they count as sent but cost less than a message stored and delivered`);
  if (b.deliveries < 0.95 * x.expectedDeliveries) {
    caveats.push(
      `the system fell behind (${b.deliveries.toLocaleString('en-US')} deliveries in the window of ${x.expectedDeliveries.toLocaleString('en-US')} expected): part of the window's messages were still queued, so the CPU per message sent understates their cost`,
    );
  }
  return {
    basis:
      `messages sent in the measured window (${b.messages.toLocaleString('en-US')} in ${x.windowS} s): a message's work starts at its send, and counting sends keeps ` +
      `a message in flight at the window's edges with the window that caused it` +
      (b.members > 2 ? `; per delivery: ÷ message.new received in the window (${b.deliveries.toLocaleString('en-US')})` : ''),
    messages: b.messages,
    deliveries: b.deliveries,
    windowS: x.windowS,
    cpu: cpuCost(x.processes, x.isServer, b),
    nats: natsCost(x),
    caveats,
  };
}
