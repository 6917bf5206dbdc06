/**
 * A private Parley for one benchmark run: roles as separate `node bin/parley.mjs start --role …`
 * processes on a random prefix, a random JWT secret and a free port; their logs in a temporary
 * directory. The read models go to the real Postgres when one answers, in a schema named after the
 * prefix; PARLEY_BENCH_DATABASE_URL chooses (a URL, or `embedded` for PGlite; see
 * `chooseDatabase`). `teardown()` stops every process it started (SIGTERM, then SIGKILL after a
 * bound), deletes the prefix's streams and buckets (only those) and its schemas, and removes the
 * temporary directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { signDevToken } from '../../lib/dev-token.js';
import { defaultConfig } from '../../lib/config.js';
import { createLogger } from '../../lib/log.js';
import { makeNames, type Names } from '../../lib/names.js';
import { connectNats, deleteStreams, jetstreamManager } from '../../lib/nats.js';
import { BENCH_RATE_LIMITS, chooseDatabase, describeDatabase, dropSchemas, type BenchDatabase } from '../lib/system.js';
import { sleep } from './common.js';

const parleyBin = fileURLToPath(new URL('../../bin/parley.mjs', import.meta.url));
const STOP_GRACE_MS = 20_000;
const READY_TIMEOUT_MS = 60_000;

export type RoleName = 'gateway' | 'engine' | 'projector';

export type RoleProc = {
  role: RoleName;
  child: ChildProcess;
  pid: number;
  /** The gateway's WebSocket URL (gateway only). */
  url?: string;
  exited: Promise<void>;
};

export type Health = {
  status: string;
  uws: { native: boolean; reason?: string };
  connections: number;
  users: number;
};

export class BenchSystem {
  readonly prefix: string;
  readonly names: Names;
  readonly secret = randomBytes(24).toString('hex');
  readonly dir: string;
  readonly natsUrl = process.env.PARLEY_NATS_URL ?? 'nats://127.0.0.1:4222';
  readonly procs: RoleProc[] = [];
  #logs: WriteStream[] = [];
  #tornDown?: Promise<void>;
  #database?: Promise<BenchDatabase>;
  #unregister: () => void;

  constructor(
    kind: string,
    readonly env: Record<string, string> = {},
  ) {
    this.prefix = `b${kind}_${randomBytes(4).toString('hex')}`;
    this.names = makeNames(this.prefix);
    this.dir = mkdtempSync(join(tmpdir(), `parley-bench-${kind}-`));
    // Ctrl-C or a kill of the bench still stops the children and removes the streams.
    const onSignal = (signal: NodeJS.Signals) => {
      process.stderr.write(`\n${signal}: stopping the bench's processes and deleting prefix ${this.prefix}\n`);
      void this.teardown().finally(() => process.exit(130));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    this.#unregister = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    };
  }

  /** Where the read models go: chosen once, before the first role starts, and said on stdout. */
  database(): Promise<BenchDatabase> {
    this.#database ??= chooseDatabase(process.env.PARLEY_BENCH_DATABASE_URL || undefined).then((db) => {
      process.stdout.write(`read models: ${describeDatabase(db, this.prefix)}\n`);
      return db;
    });
    return this.#database;
  }

  /** Start one role and wait for its banner (the gateway's carries its URL). */
  async start(role: RoleName, extraEnv: Record<string, string> = {}): Promise<RoleProc> {
    const db = await this.database();
    // A DATABASE_URL of the bench's own environment must not reach the roles: they would write
    // into its default schema. They get the chosen database and a schema of their own, or none.
    const { DATABASE_URL: _inherited, ...inherited } = process.env;
    const databaseEnv: Record<string, string> = db.kind === 'postgres' ? { DATABASE_URL: db.url, PARLEY_PG_SCHEMA: this.prefix } : {};
    const log = createWriteStream(join(this.dir, `${role}.log`), { flags: 'a' });
    this.#logs.push(log);
    // PARLEY_BENCH_NODE_ARGS: extra node flags for the role processes, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
    const nodeArgs = (process.env.PARLEY_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const child = spawn(process.execPath, [...nodeArgs, parleyBin, 'start', '--role', role], {
      env: {
        ...inherited,
        ...databaseEnv,
        PARLEY_NATS_URL: this.natsUrl,
        PARLEY_PREFIX: this.prefix,
        PARLEY_JWT_SECRET: this.secret,
        PARLEY_HOST: '127.0.0.1',
        PARLEY_PORT: '0',
        PARLEY_LOG_LEVEL: 'warn',
        // Without a Postgres the projector role keeps an embedded PGlite under the data dir: a private one per run.
        PARLEY_DATA_DIR: join(this.dir, 'data'),
        // The abuse limits are not what these scenarios measure (storm: 10,000 reconnects from one
        // address at once); a scenario's own env may set them (bench/flood.ts does).
        ...BENCH_RATE_LIMITS,
        ...this.env,
        ...extraEnv,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const proc: RoleProc = { role, child, pid: child.pid!, exited };
    this.procs.push(proc);
    child.stderr!.pipe(log, { end: false });
    let out = '';
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${role} not ready within ${READY_TIMEOUT_MS / 1000} s (log: ${join(this.dir, `${role}.log`)})`)), READY_TIMEOUT_MS);
      child.stdout!.on('data', (chunk: Buffer) => {
        log.write(chunk);
        if (out.length < 64_000) out += chunk.toString();
        if (/Parley is running/.test(out) && (role !== 'gateway' || /WebSocket:\s+ws:\/\/\S+/.test(out))) {
          clearTimeout(timer);
          const m = /WebSocket:\s+(ws:\/\/\S+)/.exec(out);
          if (m) proc.url = m[1];
          resolve();
        }
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`${role} exited (code ${child.exitCode}, signal ${child.signalCode}) before it was ready; log: ${join(this.dir, `${role}.log`)}`));
      });
    });
    await ready;
    return proc;
  }

  gateway(): RoleProc {
    const g = this.procs.find((p) => p.role === 'gateway');
    if (!g?.url) throw new Error('no gateway started');
    return g;
  }

  async health(): Promise<Health> {
    const url = this.gateway().url!.replace(/^ws/, 'http').replace(/\/ws$/, '/health');
    const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    return (await res.json()) as Health;
  }

  token(sub: string, ttlSec = 6 * 3600): Promise<string> {
    return signDevToken({ secret: this.secret }, { sub }, ttlSec);
  }

  /** A few facts of the inbox stream (message count), for waiting on the projector. */
  async inboxMessages(): Promise<number> {
    const nc = await this.#nats();
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(this.names.streams.inbox);
    return info.state.messages;
  }

  #nc?: Awaited<ReturnType<typeof connectNats>>;
  async #nats() {
    if (!this.#nc || this.#nc.isClosed()) {
      const config = { ...defaultConfig(), natsUrl: this.natsUrl.split(','), prefix: this.prefix };
      this.#nc = await connectNats(config, `bench-${this.prefix}`, createLogger({ level: 'silent' }));
    }
    return this.#nc;
  }

  /** Stop one process: SIGTERM, then SIGKILL when it is still there after `graceMs`. */
  async stop(proc: RoleProc, graceMs = STOP_GRACE_MS): Promise<'stopped' | 'killed'> {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) return 'stopped';
    proc.child.kill('SIGTERM');
    const outcome = await Promise.race([proc.exited.then(() => 'stopped' as const), sleep(graceMs).then(() => 'late' as const)]);
    if (outcome === 'stopped') return 'stopped';
    proc.child.kill('SIGKILL');
    await Promise.race([proc.exited, sleep(5_000)]);
    return 'killed';
  }

  teardown(): Promise<void> {
    this.#tornDown ??= (async () => {
      // The gateway first (it stops taking work), then engine and projector.
      const order: RoleName[] = ['gateway', 'engine', 'projector'];
      for (const role of order) {
        for (const p of this.procs.filter((x) => x.role === role)) {
          const how = await this.stop(p);
          if (how === 'killed') process.stderr.write(`${role} (pid ${p.pid}) did not stop within ${STOP_GRACE_MS / 1000} s of SIGTERM: killed\n`);
        }
      }
      try {
        const nc = await this.#nats();
        await deleteStreams(await jetstreamManager(nc), this.names);
        await nc.close();
      } catch (err) {
        process.stderr.write(`could not delete the streams of prefix ${this.prefix}: ${(err as Error).message}\n`);
      }
      const db = this.#database ? await this.#database.catch(() => undefined) : undefined;
      if (db?.kind === 'postgres') {
        await dropSchemas(db.url, this.prefix).catch((err: Error) => process.stderr.write(`could not drop schema ${this.prefix}: ${err.message}\n`));
      }
      for (const l of this.#logs) l.end();
      if (!process.env.PARLEY_BENCH_KEEP_LOGS) rmSync(this.dir, { recursive: true, force: true });
      else process.stderr.write(`logs kept in ${this.dir}\n`);
      this.#unregister();
    })();
    return this.#tornDown;
  }
}

/** For the help of the scenarios that start a system: where their read models go. */
export const READ_MODELS_NOTE = `Read models: Postgres at $DATABASE_URL or 127.0.0.1:5432 when it answers (schema = the run's
prefix, dropped at the end); PARLEY_BENCH_DATABASE_URL=embedded for the embedded PGlite.`;
