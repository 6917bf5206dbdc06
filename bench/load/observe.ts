/**
 * What a load run watches besides its own figures: CPU and RSS of every process that takes part
 * (from /proc, once per sample interval), the pipeline backlog in JetStream (read-only), and who
 * else used the machine during the measured window.
 */
import { performance } from 'node:perf_hooks';
import { BacklogSampler } from '../lib/backlog.js';
import { allTicks, findByComm, findListener, findParleyRoles, topOthers, type Tracked } from '../lib/procstats.js';
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
  if (system) for (const p of system.processes) tracked.push({ name: p.role, pids: () => [p.pid] });
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
  const natsPort = Number(new URL(o.natsUrl.split(',')[0]!.replace(/^nats:/, 'http:')).port || 4222);
  const natsPid = findListener(natsPort);
  if (natsPid) tracked.push({ name: 'nats-server', pids: () => [natsPid], note: `pid listening on port ${natsPort}` });
  else {
    const all = findByComm('nats-server');
    if (all.length) tracked.push({ name: 'nats-server', pids: () => findByComm('nats-server'), note: `all ${all.length} nats-server processes (the listener on ${natsPort} was not found)` });
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

/**
 * Who else uses the machine during the measured window: CPU ticks of every process at its start
 * and end, but those of `tracked`. `result()` is empty until the window has ended; `cancel()`
 * stops the timers.
 */
export function watchOtherProcesses(o: Options, t0: number, tracked: Tracked[]): { result(): LoadResult['results']['otherProcesses']; cancel(): void } {
  let before: ReturnType<typeof allTicks> | undefined;
  let others: LoadResult['results']['otherProcesses'] = [];
  const windowStart = setTimeout(() => (before = allTicks()), Math.max(0, t0 + o.warmupS * 1000 - performance.now()));
  const windowEnd = setTimeout(() => {
    if (!before) return;
    const exclude = new Set(tracked.flatMap((t) => t.pids()));
    others = topOthers(before, allTicks(), exclude, o.durationS);
  }, Math.max(0, t0 + (o.warmupS + o.durationS) * 1000 - performance.now()));
  return {
    result: () => others,
    cancel: () => {
      clearTimeout(windowStart);
      clearTimeout(windowEnd);
    },
  };
}
