/**
 * Many WebSocket clients spread over several child processes (`client-worker.ts`), so that the
 * client side (the `ws` package is heavy: a few KiB and some CPU per socket) neither runs out of
 * file descriptors nor competes with itself on one event loop. Each worker gets a slice of the
 * users; every request goes to all workers and their answers come back as a list.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { emptyConnectResult, type ConnectArgs, type ConnectResult, type Stats, type VerifyResult, type WorkerInit } from './client-protocol.js';
import { sleep } from './common.js';

const workerFile = fileURLToPath(new URL('./client-worker.ts', import.meta.url));

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

/**
 * One client process, asked over IPC: `request(op, args)` resolves with its answer. `file` is the
 * worker module (default client-worker.ts; the presence scenario has its own).
 */
export class Worker {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #exited = false;

  constructor(index: number, file = workerFile) {
    this.child = fork(file, [], {
      // PARLEY_BENCH_WORKER_NODE_ARGS: extra node flags for the client processes (e.g. --cpu-prof).
      execArgv: ['--import', 'tsx', '--max-old-space-size=2048', ...(process.env.PARLEY_BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean)],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
      env: { ...process.env, PARLEY_BENCH_WORKER: String(index) },
    });
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`client worker ${index} not ready in 30 s`)), 30_000);
      this.#pending.set(0, { resolve: () => resolve(), reject, timer });
    });
    this.child.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: string }) => {
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`client worker ${index}: ${m.error}`));
    });
    this.child.once('exit', (code, signal) => {
      this.#exited = true;
      for (const p of this.#pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error(`client worker ${index} exited (code ${code}, signal ${signal})`));
      }
      this.#pending.clear();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get exited(): boolean {
    return this.#exited;
  }

  request<T>(op: string, args: object, timeoutMs: number): Promise<T> {
    if (this.#exited) return Promise.reject(new Error('client worker has exited'));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`client worker: ${op} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.child.send({ id, op, args });
    });
  }
}

export type PoolOptions = Omit<WorkerInit, 'users'> & { users: string[]; workers: number };

export class ClientPool {
  readonly workers: Worker[] = [];

  private constructor() {}

  /** Fork the workers, hand each its slice of users, and let them sign their tokens. */
  static async start(o: PoolOptions): Promise<{ pool: ClientPool; signMs: number }> {
    const pool = new ClientPool();
    const n = Math.max(1, Math.min(o.workers, o.users.length));
    for (let i = 0; i < n; i++) pool.workers.push(new Worker(i));
    try {
      await Promise.all(pool.workers.map((w) => w.ready));
      const per = Math.ceil(o.users.length / n);
      const answers = await Promise.all(
        pool.workers.map((w, i) => {
          const init: WorkerInit = {
            url: o.url,
            secret: o.secret,
            codec: o.codec,
            localAddresses: o.localAddresses,
            tokenTtlSec: o.tokenTtlSec,
            users: o.users.slice(i * per, (i + 1) * per),
          };
          return w.request<{ clients: number; signMs: number }>('init', init, 300_000);
        }),
      );
      return { pool, signMs: Math.max(...answers.map((a) => a.signMs)) };
    } catch (err) {
      await pool.close();
      throw err;
    }
  }

  /**
   * Connect every worker's clients up to `upTo` in total (split evenly), `concurrency` attempts in
   * flight in total (0: all at once).
   */
  async connect(a: Omit<ConnectArgs, 'upTo' | 'concurrency'> & { upTo?: number; concurrency: number }): Promise<ConnectResult[]> {
    const n = this.workers.length;
    const per = a.concurrency > 0 ? Math.max(1, Math.ceil(a.concurrency / n)) : 0;
    return Promise.all(
      this.workers.map((w) =>
        w.request<ConnectResult>(
          'connect',
          { ...a, concurrency: per, ...(a.upTo !== undefined ? { upTo: Math.ceil(a.upTo / n) } : {}) },
          a.timeoutMs + 60_000,
        ),
      ),
    );
  }

  expect(n: number, timeoutMs: number): Promise<{ complete: number; incomplete: number; ms: number[] }[]> {
    return Promise.all(this.workers.map((w) => w.request<{ complete: number; incomplete: number; ms: number[] }>('expect', { n, timeoutMs }, timeoutMs + 60_000)));
  }

  drop(timeoutMs: number): Promise<{ dropped: number; stillOpen: number }[]> {
    return Promise.all(this.workers.map((w) => w.request<{ dropped: number; stillOpen: number }>('drop', { timeoutMs }, timeoutMs + 30_000)));
  }

  verify(n: number): Promise<VerifyResult[]> {
    return Promise.all(this.workers.map((w) => w.request<VerifyResult>('verify', { n }, 60_000)));
  }

  stats(n = 0): Promise<Stats[]> {
    return Promise.all(this.workers.map((w) => w.request<Stats>('stats', { n }, 60_000)));
  }

  /** Drop every socket and end the workers (SIGKILL for one that does not leave within 10 s). */
  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(async (w) => {
        if (w.exited) return;
        await w.request('close', {}, 10_000).catch(() => undefined);
        const gone = await Promise.race([new Promise<boolean>((r) => w.child.once('exit', () => r(true))), sleep(10_000).then(() => false)]);
        if (!gone && !w.exited) w.child.kill('SIGKILL');
      }),
    );
  }
}

/** Sum the numeric fields of worker answers; concatenate arrays; merge error counts. */
export function merge(results: ConnectResult[]): ConnectResult {
  const out = emptyConnectResult();
  for (const r of results) {
    out.attempted += r.attempted;
    out.success += r.success;
    out.failed += r.failed;
    out.resumedFlags += r.resumedFlags;
    out.resets += r.resets;
    out.notCaughtUp += r.notCaughtUp;
    out.reconnects += r.reconnects;
    for (const [k, v] of Object.entries(r.closedBy)) out.closedBy[k] = (out.closedBy[k] ?? 0) + v;
    for (const [k, v] of Object.entries(r.attemptErrors)) out.attemptErrors[k] = (out.attemptErrors[k] ?? 0) + v;
    out.rss += r.rss;
    out.wallMs = Math.max(out.wallMs, r.wallMs);
    for (const x of r.successMs) out.successMs.push(x);
    for (const u of r.failedUsers) if (out.failedUsers.length < 5) out.failedUsers.push(u);
    for (const x of r.caughtUpMs) out.caughtUpMs.push(x);
    for (const [k, v] of Object.entries(r.errors)) out.errors[k] = (out.errors[k] ?? 0) + v;
  }
  return out;
}
