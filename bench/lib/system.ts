/**
 * The system under test, started by a bench (every scenario that needs one: load, connections,
 * storm, flood): roles as separate `node bin/parley.mjs start --role …` processes on a private
 * PARLEY_PREFIX, a random JWT secret, a free port and a private temporary directory (data, and the
 * roles' log unless the bench names one). Its read models go to the real Postgres when one answers
 * (see `chooseDatabase`), in a schema named after the prefix. `stop()` sends SIGTERM (SIGKILL after
 * a grace period), gateway first, deletes the prefix's streams and buckets (only ours), its schemas
 * and the temporary directory.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signDevToken } from '../../lib/dev-token.js';
import { defaultConfig } from '../../lib/config.js';
import { createLogger } from '../../lib/log.js';
import { makeNames, type Names } from '../../lib/names.js';
import { connectNats, deleteStreams, jetstreamManager } from '../../lib/nats.js';
import { analyzeSchema, chooseDatabase, describeDatabase, dropSchemas, type BenchDatabase } from './database.js';
import { probeGateway, type GatewayHealth } from './gateway-probe.js';
import { isRunning, spawnRole, stopRole, type RoleProcess, type SystemRole } from './role-process.js';

export { REPO_ROOT, type RoleProcess, type SystemRole } from './role-process.js';

const STOP_GRACE_MS = 20_000;

/** The abuse limits (per user, per address) raised out of the way of a bench; a scenario's env may set them back. */
export const BENCH_RATE_LIMITS: Record<string, string> = {
  PARLEY_USER_SENDS_PER_SECOND: '1000000',
  PARLEY_USER_SEND_BURST: '1000000',
  PARLEY_USER_FRAMES_PER_SECOND: '1000000',
  PARLEY_USER_FRAME_BURST: '1000000',
  PARLEY_ADDRESS_CONNECTS_PER_SECOND: '1000000',
  PARLEY_ADDRESS_CONNECT_BURST: '1000000',
  PARLEY_ADDRESS_MAX_UNAUTHENTICATED: '1000000',
};

export type SystemOptions = {
  /** Default $PARLEY_NATS_URL or nats://127.0.0.1:4222. */
  natsUrl?: string;
  /** Prefix to use (default bench<random>). */
  prefix?: string;
  /** A --database-url value: a Postgres URL, `embedded`, or nothing for the default (see `chooseDatabase`). */
  databaseUrl?: string;
  /** Raise the per-connection frame limit out of the way too (load, storm: they measure the pipeline, not that limit). */
  raiseFrameLimits?: boolean;
  /** Extra environment for every role (a scenario's limits, the --env flags); applied last. */
  env?: Record<string, string>;
  /** Where the roles' stdout and stderr go (default roles.log in the temporary directory). */
  logFile?: string;
  /** Write V8 CPU profiles of the roles here, one directory per role (written when they exit after SIGTERM). */
  cpuProfDir?: string;
  /** More node flags for the role processes. */
  nodeArgs?: string[];
  readyTimeoutMs?: number;
  /** Keep the temporary directory (logs, data) at the end; the streams are deleted all the same. */
  keepDir?: boolean;
};

export class SystemUnderTest {
  readonly prefix: string;
  readonly names: Names;
  readonly natsUrl: string;
  readonly secret = randomBytes(24).toString('base64url');
  readonly url: string;
  /** Where the read models went (no password). */
  readonly databaseDescription: string;
  /** What the bench set in the roles' environment (on top of its own). */
  readonly env: Record<string, string>;
  readonly processes: RoleProcess[] = [];
  readonly logFile: string;
  readonly #dir: string;
  readonly #log: WriteStream;
  readonly #childEnv: NodeJS.ProcessEnv;
  #nc?: Awaited<ReturnType<typeof connectNats>>;
  #stopped?: Promise<string[]>;
  #offSignals?: () => void;

  /** Choose the database (a --database-url that does not answer throws here) and a port; start nothing yet. */
  static async create(o: SystemOptions = {}): Promise<SystemUnderTest> {
    const prefix = o.prefix ?? `bench${randomBytes(4).toString('hex')}`;
    const database = await chooseDatabase(o.databaseUrl);
    return new SystemUnderTest(o, prefix, database, await freePort());
  }

  private constructor(
    readonly options: SystemOptions,
    prefix: string,
    readonly database: BenchDatabase,
    port: number,
  ) {
    this.prefix = prefix;
    this.names = makeNames(prefix);
    this.natsUrl = options.natsUrl ?? process.env.PARLEY_NATS_URL ?? 'nats://127.0.0.1:4222';
    this.url = `ws://127.0.0.1:${port}/ws`;
    this.databaseDescription = describeDatabase(database, prefix);
    this.#dir = mkdtempSync(join(tmpdir(), `parley-${prefix}-`));
    this.logFile = options.logFile ?? join(this.#dir, 'roles.log');
    this.#log = createWriteStream(this.logFile, { flags: 'a' });
    const databaseEnv: Record<string, string> = database.kind === 'postgres' ? { DATABASE_URL: database.url, PARLEY_PG_SCHEMA: prefix } : {};
    this.env = {
      PARLEY_NATS_URL: this.natsUrl,
      PARLEY_PREFIX: prefix,
      PARLEY_JWT_SECRET: this.secret,
      PARLEY_HOST: '127.0.0.1',
      PARLEY_PORT: String(port),
      PARLEY_GATEWAY_ID: `gw-${prefix}`,
      ...(options.raiseFrameLimits ? { PARLEY_FRAMES_PER_SECOND: '1000000', PARLEY_FRAME_BURST: '1000000' } : {}),
      // Its users are bots, its connections come from a few loopback addresses at once: the abuse
      // limits are not what a bench measures (ask for them in the env, e.g. PARLEY_USER_SENDS_PER_SECOND=10).
      ...BENCH_RATE_LIMITS,
      PARLEY_LOG_LEVEL: 'warn',
      // The message path without Web Push, so cost figures compare with runs before it existed
      // (issue 16's table); `bench push` measures pushes, and `--env PARLEY_PUSH=1` turns it on here.
      PARLEY_PUSH: '0',
      // Without a Postgres the projector keeps an embedded PGlite under the data dir: a private one per run.
      PARLEY_DATA_DIR: join(this.#dir, 'data'),
      // The gateway starts even on uWS's ws emulation (PARLEY_UWS_BUILDS=emulation, or no native
      // build here): the bench reads /health and refuses to measure it unless --allow-fallback.
      PARLEY_ALLOW_UWS_FALLBACK: '1',
      // Several engines or projectors on one machine: each ops server (/metrics) on a free port.
      PARLEY_METRICS_PORT: '0',
      ...databaseEnv,
      ...options.env,
    };
    // A DATABASE_URL of the bench's own environment must not reach the roles: they would write
    // into its default schema.
    const { DATABASE_URL: _database, ...inherited } = process.env;
    this.#childEnv = { ...inherited, ...this.env };
  }

  /** Start one role and wait for its banner; `env` adds to (or overrides) the system's for this process alone. */
  start(role: SystemRole, env: Record<string, string> = {}): Promise<RoleProcess> {
    // one directory per process: node writes a profile per thread (tsx's loader thread too)
    const prof = this.options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${join(this.options.cpuProfDir, role)}`] : [];
    return spawnRole(
      role,
      { env: { ...this.#childEnv, ...env }, nodeArgs: [...(this.options.nodeArgs ?? []), ...prof], log: this.#log, logFile: this.logFile, readyTimeoutMs: this.options.readyTimeoutMs ?? 60_000 },
      (p) => this.processes.push(p),
    );
  }

  /**
   * Start `roles` (the first alone: it creates the streams; the others only check them, so they
   * may start together) and wait until the gateway answers /health with 200. Stops everything
   * when a role fails to start.
   */
  async startRoles(roles: SystemRole[]): Promise<Partial<GatewayHealth>> {
    try {
      await this.start(roles[0]!);
      await Promise.all(roles.slice(1).map((r) => this.start(r)));
      const deadline = Date.now() + 10_000;
      for (;;) {
        const probe = await probeGateway(this.url);
        if (probe?.status === 200) return probe.health;
        if (Date.now() >= deadline) throw new Error(`the gateway at ${this.url} did not answer /health with 200 (log: ${this.logFile})`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } catch (err) {
      await this.stop().catch(() => undefined);
      throw err;
    }
  }

  role(role: SystemRole): RoleProcess {
    const p = this.processes.find((x) => x.role === role);
    if (!p) throw new Error(`no ${role} started`);
    return p;
  }

  /** The gateway's /health now (it must answer). */
  async health(): Promise<GatewayHealth> {
    const probe = await probeGateway(this.url, 5_000);
    if (!probe) throw new Error(`the gateway at ${this.url} does not answer /health`);
    return probe.health as GatewayHealth;
  }

  token(sub: string, ttlSec = 6 * 3600): Promise<string> {
    return signDevToken({ secret: this.secret }, { sub }, ttlSec);
  }

  /** Messages in the inbox stream, for waiting on the projector. */
  async inboxMessages(): Promise<number> {
    const jsm = await jetstreamManager(await this.#nats());
    return (await jsm.streams.info(this.names.streams.inbox)).state.messages;
  }

  /** ANALYZE the read models (Postgres only; the embedded one has no autovacuum to stand in for). */
  async analyzeReadModels(): Promise<void> {
    if (this.database.kind === 'postgres') await analyzeSchema(this.database.url, this.prefix);
  }

  /** Events the postgres projector has yet to take or to finish (its consumer's pending and unacked), for waiting on the read models. */
  async readModelLag(): Promise<number> {
    const jsm = await jetstreamManager(await this.#nats());
    const info = await jsm.consumers.info(this.names.streams.events, this.names.consumers.postgres);
    return info.num_pending + info.num_ack_pending;
  }

  async #nats() {
    if (!this.#nc || this.#nc.isClosed()) {
      const config = { ...defaultConfig(), natsUrl: this.natsUrl.split(','), prefix: this.prefix };
      this.#nc = await connectNats(config, `bench-${this.prefix}`, createLogger({ level: 'silent' }));
    }
    return this.#nc;
  }

  /** On SIGINT or SIGTERM: stop everything, say why, and exit 130 (until `stop()`). */
  exitOnSignal(): this {
    const onSignal = (signal: NodeJS.Signals) => {
      process.stderr.write(`\n${signal}: stopping the bench's processes and deleting prefix ${this.prefix}\n`);
      void this.stop().finally(() => process.exit(130));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    this.#offSignals = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    };
    return this;
  }

  /**
   * Stop every role (the gateway first: it stops taking work), then delete what the run made,
   * unless `keepStreams`. Returns notes on anything that did not go as planned. Once only.
   */
  stop(opts: { keepStreams?: boolean } = {}): Promise<string[]> {
    this.#stopped ??= (async () => {
      const notes: string[] = [];
      const order = [...this.processes].sort((a, b) => (a.role === 'gateway' ? -1 : 0) - (b.role === 'gateway' ? -1 : 0));
      for (const p of order) {
        if (!isRunning(p)) continue;
        const code = await stopRole(p, STOP_GRACE_MS);
        if (code === 'killed') notes.push(`${p.role} (pid ${p.pid}) did not stop within ${STOP_GRACE_MS / 1000} s of SIGTERM: killed`);
        else if (code !== 0) notes.push(`${p.role} (pid ${p.pid}) exited with ${code} after SIGTERM`);
      }
      if (!opts.keepStreams) {
        try {
          await deleteStreams(await jetstreamManager(await this.#nats()), this.names);
        } catch (err) {
          notes.push(`could not delete the streams of prefix ${this.prefix}: ${(err as Error).message}`);
        }
        if (this.database.kind === 'postgres') {
          await dropSchemas(this.database.url, this.prefix).catch((err: Error) => notes.push(`could not drop schema ${this.prefix}: ${err.message}`));
        }
      } else notes.push(`kept streams of prefix ${this.prefix} and data directory ${join(this.#dir, 'data')}`);
      await this.#nc?.close().catch(() => undefined);
      await new Promise<void>((r) => this.#log.end(() => r()));
      if (this.options.keepDir) notes.push(`logs kept in ${this.#dir}`);
      else if (!opts.keepStreams) rmSync(this.#dir, { recursive: true, force: true });
      this.#offSignals?.();
      return notes;
    })();
    return this.#stopped;
  }

  /** Synchronous last resort (process exit): SIGKILL whatever still runs. */
  kill(): void {
    for (const p of this.processes) if (isRunning(p)) p.child.kill('SIGKILL');
  }
}

/** A TCP port on loopback that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
