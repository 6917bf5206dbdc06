/**
 * The coordinator's side of the generator processes (bench/load/worker.ts): spawning them, waiting
 * for their answers, the per-second progress lines, and the two steps before the clock starts:
 * connect (each its share of the connections) and set up (create and prime the conversations).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkerPlan } from '../lib/load-plan.js';
import { loadAverage } from '../lib/procstats.js';
import { fmtMs, fmtRate } from '../lib/results.js';
import type { Options } from './options.js';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.js';

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

const out = (line = '') => process.stdout.write(`${line}\n`);

export type Worker = { index: number; child: ChildProcess; exited: Promise<void>; inbox: FromWorker[]; waiters: ((m: FromWorker) => boolean)[] };

export function spawnWorker(index: number, onMessage: (m: FromWorker) => void, cpuProf?: string): Worker {
  // one directory per process: node writes a profile per thread (tsx's loader thread too)
  const prof = cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${join(cpuProf, `generator-${index + 1}`)}`] : [];
  const child = spawn(process.execPath, [...prof, '--import', 'tsx', WORKER], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const w: Worker = { index, child, exited: new Promise((r) => child.once('exit', () => r())), inbox: [], waiters: [] };
  child.on('message', (m: FromWorker) => {
    onMessage(m);
    const i = w.waiters.findIndex((f) => f(m));
    if (i >= 0) w.waiters.splice(i, 1);
    else w.inbox.push(m);
  });
  return w;
}

export function expect<K extends FromWorker['kind']>(w: Worker, kind: K, timeoutMs: number): Promise<Extract<FromWorker, { kind: K }>> {
  return new Promise((resolve, reject) => {
    const take = (m: FromWorker): boolean => {
      if (m.kind === kind) {
        clearTimeout(timer);
        resolve(m as Extract<FromWorker, { kind: K }>);
        return true;
      }
      if (m.kind === 'fatal') {
        clearTimeout(timer);
        reject(new Error(`generator ${w.index} failed: ${m.message}`));
        return true;
      }
      return false;
    };
    const timer = setTimeout(() => reject(new Error(`generator ${w.index}: no ${kind} within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
    const queued = w.inbox.findIndex(take);
    if (queued >= 0) {
      w.inbox.splice(queued, 1);
      return;
    }
    void w.exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`generator ${w.index} exited`));
    });
    w.waiters.push(take);
  });
}

/** The progress line of each second, printed once every generator has reported it (not with --quiet). */
export function progressPrinter(o: Options): (m: FromWorker) => void {
  const progress = new Map<number, Map<number, Extract<FromWorker, { kind: 'progress' }>>>();
  return (m) => {
    if (m.kind !== 'progress' || o.quiet || m.sec < 0) return;
    const row = progress.get(m.sec) ?? new Map();
    row.set(m.worker, m);
    progress.set(m.sec, row);
    if (row.size === o.workers) {
      progress.delete(m.sec);
      const v = [...row.values()];
      const sum = (k: 'sends' | 'deliveries' | 'confirmed') => v.reduce((a, x) => a + x[k], 0);
      const phase = m.sec < o.warmupS ? 'warm-up' : m.sec < o.warmupS + o.durationS ? 'measure' : 'drain';
      const p99 = Math.max(...v.map((x) => x.p99NewMs).filter(Number.isFinite));
      out(
        `  ${String(m.sec).padStart(4)}s ${phase.padEnd(7)} sends ${fmtRate(sum('sends')).padStart(7)}/s  confirmed ${fmtRate(sum('confirmed')).padStart(7)}/s  ` +
          `deliveries ${fmtRate(sum('deliveries')).padStart(8)}/s  p99 new ${fmtMs(Number.isFinite(p99) ? p99 : undefined).padStart(8)}  ` +
          `lag max ${fmtMs(Math.max(...v.map((x) => x.lagMaxMs))).padStart(8)}  gen ELU ${v.map((x) => x.elu.toFixed(2)).join('/')}  ` +
          `errors ${v.reduce((a, x) => a + x.errors, 0)}  load ${loadAverage()[0].toFixed(2)}`,
      );
    }
  };
}

export type Connected = Extract<FromWorker, { kind: 'connected' }>;
export type Ready = Extract<FromWorker, { kind: 'ready' }>;

/** Hand each generator its plan; resolves when every one has opened its connections. */
export function connectGenerators(
  o: Options,
  workers: Worker[],
  plans: WorkerPlan[],
  target: { url: string; signing: WorkerInit['signing']; addresses: string[]; runTag: string },
): Promise<Connected[]> {
  const connectBudget = Math.max(60_000, (o.connections / o.workers / o.connectConcurrency) * o.connectTimeoutMs);
  return Promise.all(
    workers.map((w, i) => {
      const p = plans[i]!;
      const msg: ToWorker = {
        kind: 'init',
        worker: p.worker,
        url: target.url,
        codec: o.codec,
        signing: target.signing,
        users: p.users,
        conversations: p.conversations,
        rate: p.rate,
        warmupS: o.warmupS,
        durationS: o.durationS,
        drainS: o.drainS,
        graceMs: o.graceMs,
        contentSize: o.contentSize,
        ackIntervalMs: o.ackIntervalMs,
        addresses: target.addresses,
        connectConcurrency: o.connectConcurrency,
        setupConcurrency: o.setupConcurrency,
        connectTimeoutMs: o.connectTimeoutMs,
        reconnect: o.reconnect,
        runTag: target.runTag,
        prime: o.prime,
        primeRate: o.primeRate,
        primeTimeoutMs: o.primeTimeoutS * 1000,
      };
      w.child.send(msg);
      return expect(w, 'connected', connectBudget);
    }),
  );
}

/** What the connect step reports: printed, and kept for the result. */
export function connectSummary(o: Options, connected: Connected[]): { msMax: number; failed: number; retries: number; firstError?: string; firstRetried?: string } {
  const failed = connected.reduce((a, c) => a + c.failed, 0);
  const retries = connected.reduce((a, c) => a + c.retries, 0);
  const firstRetried = connected.find((c) => c.firstRetried)?.firstRetried;
  const firstError = connected.find((c) => c.firstError)?.firstError;
  if (retries) out(`  ${retries} connect attempt(s) failed and were retried (first: ${firstRetried})`);
  out(`  connected ${o.connections - failed}/${o.connections} in ${fmtMs(Math.max(...connected.map((c) => c.ms)))}${failed ? ` (first failure: ${firstError})` : ''}`);
  if (failed === o.connections) throw new Error('no connection could be opened');
  return { msMax: Math.max(...connected.map((c) => c.ms)), failed, retries, ...(firstError ? { firstError } : {}), ...(firstRetried ? { firstRetried } : {}) };
}

/** Every generator creates (and primes) its conversations; prints how that went. */
export async function setUpConversations(o: Options, workers: Worker[], totalConvs: number): Promise<{ ready: Ready[]; failed: number }> {
  for (const w of workers) w.child.send({ kind: 'setup' } satisfies ToWorker);
  const ready = await Promise.all(workers.map((w) => expect(w, 'ready', 120_000 + (o.prime ? o.primeTimeoutS * 1000 : 0))));
  const failed = ready.reduce((a, r) => a + r.failed, 0);
  out(
    `  ${totalConvs - failed}/${totalConvs} conversations created${o.prime ? ' and primed' : ''} in ${fmtMs(Math.max(...ready.map((r) => r.ms)))}` +
      `${ready.find((r) => r.firstError) ? ` (${ready.find((r) => r.firstError)?.firstError})` : ''}`,
  );
  return { ready, failed };
}

/** Send `close` to every generator and wait (at most 10 s each) for it to leave. */
export async function closeGenerators(workers: Worker[]): Promise<void> {
  await Promise.all(
    workers.map((w) => {
      w.child.send({ kind: 'close' } satisfies ToWorker);
      return Promise.race([w.exited, new Promise((r) => setTimeout(r, 10_000))]);
    }),
  );
}
