/**
 * What a load run watches besides its own figures: CPU and RSS of every process that takes part
 * (from /proc, once per sample interval), the pipeline backlog in JetStream (read-only), who else
 * used the machine during the measured window, and (--private-nats with --cpu-prof) nats-server's
 * CPU profile of that window.
 */
import { performance } from 'node:perf_hooks';
import { BacklogSampler } from '../lib/backlog.js';
import { allTicks, findByComm, findListener, findParleyRoles, topOthers, type Tracked } from '../lib/procstats.js';
import { natsPort, varzUrl, type NatsCounters, type NatsWindow } from '../lib/cost.js';
import { readVarz } from '../lib/nats-monitor.js';
import { fetchCpuProfile } from '../lib/pprof-fetch.js';
import type { SystemUnderTest } from '../lib/system.js';
import type { Worker } from './generators.js';
import type { Options } from './options.js';
import type { LoadResult } from './result.js';
import type { Started } from './target.js';

const err = (line = '') => process.stderr.write(`${line}\n`);

/** Every process whose CPU and RSS the report shows. */
export function trackedProcesses(o: Options, started: Started, workers: Worker[]): Tracked[] {
  const { system, fake } = started;
  const tracked: Tracked[] = [];
  if (system) {
    const seen = new Map<string, number>();
    for (const p of system.processes) {
      const n = (seen.get(p.role) ?? 0) + 1;
      seen.set(p.role, n);
      tracked.push({ name: n > 1 ? `${p.role}-${n}` : p.role, pids: () => [p.pid] });
    }
  }
  else if (fake) tracked.push({ name: 'fake-gateway', pids: () => [fake.pid!], note: 'the stand-in gateway (--fake-gateway)' });
  else {
    const roles = findParleyRoles();
    const seen = new Map<string, number>();
    for (const r of roles) {
      const n = (seen.get(r.role) ?? 0) + 1;
      seen.set(r.role, n);
      tracked.push({ name: n > 1 ? `${r.role}-${n}` : r.role, pids: () => [r.pid], note: 'found by command line (parley.mjs start)' });
    }
    if (roles.length === 0) err('WARNING: no local `parley.mjs start` process found: no CPU figures for gateway, engine and projector');
  }
  const port = natsPort(o.natsUrl);
  const natsPid = findListener(port);
  if (natsPid) tracked.push({ name: 'nats-server', pids: () => [natsPid], note: `pid listening on port ${port}${o.privateNats ? ', the private nats-server of --private-nats' : ''}` });
  else {
    const all = findByComm('nats-server');
    if (all.length) tracked.push({ name: 'nats-server', pids: () => findByComm('nats-server'), note: `all ${all.length} nats-server processes (the listener on ${port} was not found)` });
  }
  tracked.push({ name: 'postgres', pids: () => findByComm(/^postgres/), note: postgresNote(system) });
  workers.forEach((w, i) => tracked.push({ name: `generator-${i + 1}`, pids: () => [w.child.pid!] }));
  tracked.push({ name: 'bench', pids: () => [process.pid], note: 'this coordinator' });
  return tracked;
}

function postgresNote(system: SystemUnderTest | undefined): string {
  return !system || system.database.kind === 'postgres'
    ? 'every postgres process on the machine'
    : 'every postgres process on the machine; not used by this run (the projector\'s read models are the embedded PGlite, inside the projector process)';
}

/** The pipeline backlog of a started system, or of --prefix's; undefined when there is neither. */
export async function startBacklog(o: Options, system: SystemUnderTest | undefined, t0: number): Promise<BacklogSampler | undefined> {
  const observedPrefix = system?.prefix ?? o.prefix;
  if (!observedPrefix) return undefined;
  const backlog = new BacklogSampler(o.natsUrl, observedPrefix, o.sampleIntervalMs, t0);
  await backlog.start();
  if (backlog.error) err(`WARNING: cannot sample the pipeline backlog: ${backlog.error}`);
  return backlog;
}

/** Call `atStart` when the measured window begins and `atEnd` when it ends (times from `t0`); `cancel()` stops both timers. */
function atWindowEdges(o: Options, t0: number, atStart: () => void, atEnd: () => void): () => void {
  const start = setTimeout(atStart, Math.max(0, t0 + o.warmupS * 1000 - performance.now()));
  const end = setTimeout(atEnd, Math.max(0, t0 + (o.warmupS + o.durationS) * 1000 - performance.now()));
  return () => {
    clearTimeout(start);
    clearTimeout(end);
  };
}

/**
 * Who else uses the machine during the measured window: CPU ticks of every process at its start
 * and end, but those of `tracked`. `result()` is empty until the window has ended; `cancel()`
 * stops the timers.
 */
export function watchOtherProcesses(o: Options, t0: number, tracked: Tracked[]): { result(): LoadResult['results']['otherProcesses']; cancel(): void } {
  let before: ReturnType<typeof allTicks> | undefined;
  let others: LoadResult['results']['otherProcesses'] = [];
  const cancel = atWindowEdges(
    o,
    t0,
    () => (before = allTicks()),
    () => {
      if (!before) return;
      const exclude = new Set(tracked.flatMap((t) => t.pids()));
      others = topOthers(before, allTicks(), exclude, o.durationS);
    },
  );
  return { result: () => others, cancel };
}

/**
 * With a monitoring endpoint (--nats-monitor, or the private server of --private-nats): /varz read
 * when the measured window begins and when it ends. `result()` waits for the last read.
 */
export function watchNatsTraffic(o: Options, t0: number): { result(): Promise<NatsWindow>; cancel(): void } {
  const monitorUrl = o.natsMonitor;
  if (!monitorUrl) return { result: async () => ({}), cancel: () => undefined };
  // never rejects: a read that fails is an Error to report (an unawaited rejection would end the bench)
  const read = () => {
    const at = performance.now();
    return readVarz(monitorUrl).then(
      (c) => ({ ...c, at }),
      (e: Error) => e,
    );
  };
  let before: ReturnType<typeof read> | undefined;
  let after: ReturnType<typeof read> | undefined;
  const cancel = atWindowEdges(
    o,
    t0,
    () => (before = read()),
    () => (after = read()),
  );
  const counters = (c: NatsCounters): NatsCounters => ({ inMsgs: c.inMsgs, outMsgs: c.outMsgs, inBytes: c.inBytes, outBytes: c.outBytes });
  const result = async (): Promise<NatsWindow> => {
    const [b, a] = await Promise.all([before, after]);
    if (!b || !a) return { monitorUrl, error: 'the measured window did not run to its end' };
    if (b instanceof Error || a instanceof Error) return { monitorUrl, error: `could not read ${varzUrl(monitorUrl)}: ${(b instanceof Error ? b : (a as Error)).message}` };
    return { monitorUrl, before: counters(b), after: counters(a), elapsedS: (a.at - b.at) / 1000, ...(a.port !== undefined ? { port: a.port } : {}) };
  };
  return { result, cancel };
}

/** nats-server's CPU profile of the measured window: the saved file, or why there is none. */
export type NatsProfileFetch = { file: string; seconds: number } | { error: string };

/**
 * With --private-nats and --cpu-prof: ask nats-server's pprof endpoint for a CPU profile when the
 * measured window starts, for the window's duration, and save it as `file`. `result()` never
 * rejects (a profile that cannot be had is reported, it does not fail the run); `abort()` stops the
 * timer and gives up a request in flight (a run that failed or was interrupted).
 */
export function watchNatsProfile(o: Options, t0: number, profileUrl: string, file: string): { result(): Promise<NatsProfileFetch>; abort(): void } {
  const seconds = Math.max(1, Math.round(o.durationS));
  const controller = new AbortController();
  let fetching: Promise<NatsProfileFetch> | undefined;
  const cancel = atWindowEdges(
    o,
    t0,
    () =>
      (fetching = fetchCpuProfile(profileUrl, seconds, file, controller.signal).then(
        () => ({ file, seconds }),
        // fetch's own message is just "fetch failed": the cause says why (refused, reset, timed out)
        (e: Error) => ({ error: `no nats-server CPU profile from ${profileUrl}: ${e.message}${e.cause instanceof Error ? ` (${e.cause.message})` : ''}` }),
      )),
    () => undefined,
  );
  return {
    result: async () => (fetching ? await fetching : { error: 'no nats-server CPU profile: the measured window did not start' }),
    abort: () => {
      cancel();
      controller.abort();
    },
  };
}
