/**
 * The system under test, started by a bench as separate processes:
 * `node bin/parley.mjs start --role engine|projector|gateway` on a private PARLEY_PREFIX, a private
 * data directory, a port of our choosing and frame limits high enough not to be what is measured.
 * Its read models go to the real Postgres when one answers (see `chooseDatabase`), in a schema
 * named after the prefix. `stop()` sends SIGTERM (SIGKILL after a grace period), deletes the
 * prefix's streams and buckets (only ours), its schemas and the data directory. Or
 * `probeGateway()` for a gateway that is already running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { loadConfig } from '../../lib/config.js';
import { makeNames } from '../../lib/names.js';
import { connectNats, deleteStreams, jetstreamManager } from '../../lib/nats.js';

const BIN = fileURLToPath(new URL('../../bin/parley.mjs', import.meta.url));
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export type SystemRole = 'gateway' | 'engine' | 'projector' | 'all' | 'backend';

export type SystemOptions = {
  natsUrl: string;
  /** Roles to start as separate processes, in start order (default engine, projector, gateway). */
  roles?: SystemRole[];
  /** Extra environment for every role (the --env flags); applied last. */
  env?: Record<string, string>;
  /** The --database-url value: a Postgres URL, `embedded`, or nothing for the default (see `chooseDatabase`). */
  databaseUrl?: string;
  /** Where the children's stdout and stderr go. */
  logFile: string;
  /** Prefix to use (default bench<random>). */
  prefix?: string;
  readyTimeoutMs?: number;
  /** Write V8 CPU profiles of the roles here (written when they exit after SIGTERM). */
  cpuProfDir?: string;
};

export type RoleProcess = { role: SystemRole; pid: number; child: ChildProcess; exited: Promise<number | null> };

export type GatewayHealth = {
  status?: string;
  uws?: { native?: boolean; reason?: string };
  connections?: number;
  [k: string]: unknown;
};

export type StartedSystem = {
  url: string;
  prefix: string;
  /** Where the read models went (no password). */
  database: { kind: BenchDatabase['kind']; describe: string };
  secret: string;
  processes: RoleProcess[];
  health: GatewayHealth;
  env: Record<string, string>;
  stop(opts?: { keepStreams?: boolean }): Promise<string[]>;
  /** Synchronous last resort (process exit): SIGKILL whatever still runs. */
  kill(): void;
};

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

/** GET /health of the gateway behind a ws:// URL; undefined when nothing answers. */
export async function probeGateway(wsUrl: string, timeoutMs = 2_000): Promise<{ status: number; health: GatewayHealth } | undefined> {
  const u = new URL(wsUrl);
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
  u.pathname = '/health';
  u.search = '';
  try {
    const res = await fetch(u, { signal: AbortSignal.timeout(timeoutMs) });
    const health = (await res.json().catch(() => ({}))) as GatewayHealth;
    return { status: res.status, health };
  } catch {
    return undefined;
  }
}

/** The read-model database a bench gives the system under test. */
export type BenchDatabase = { kind: 'postgres'; url: string } | { kind: 'embedded'; why: string };

export const LOCAL_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** What --database-url accepts, for the help texts. */
export const DATABASE_HELP =
  'Postgres for the read models (DATABASE_URL of the roles; schema = the run\'s prefix, dropped at the end), or `embedded` for the ' +
  `embedded PGlite inside the projector. Default: $DATABASE_URL, else ${LOCAL_DATABASE_URL}, when it answers; PGlite otherwise (and the run says so).`;

/** Does a Postgres answer at `url` (within `timeoutMs`)? */
export async function postgresAnswers(url: string, timeoutMs = 3_000): Promise<boolean> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The database for a run: `requested` is a --database-url value. `embedded` is PGlite; a URL is
 * that Postgres, which must answer; nothing is $DATABASE_URL or the local Postgres when it answers
 * (what production runs on, so what a bench should measure), else PGlite.
 */
export async function chooseDatabase(requested: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<BenchDatabase> {
  if (requested === 'embedded') return { kind: 'embedded', why: 'asked for' };
  if (requested !== undefined) {
    if (!(await postgresAnswers(requested))) throw new Error(`no Postgres answers at ${redactUrl(requested)} (--database-url)`);
    return { kind: 'postgres', url: requested };
  }
  const url = env.DATABASE_URL || LOCAL_DATABASE_URL;
  if (await postgresAnswers(url)) return { kind: 'postgres', url };
  return { kind: 'embedded', why: `no Postgres answers at ${redactUrl(url)}` };
}

/** A URL fit for logs and result files: the password replaced. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(an unparseable URL)';
  }
}

export function describeDatabase(db: BenchDatabase, schema?: string): string {
  return db.kind === 'postgres' ? `Postgres ${redactUrl(db.url)}${schema ? `, schema ${schema}` : ''}` : `embedded PGlite (${db.why})`;
}

/** The abuse limits (per user, per address) raised out of the way of a bench; `--env` may set them back. */
export const BENCH_RATE_LIMITS: Record<string, string> = {
  PARLEY_USER_SENDS_PER_SECOND: '1000000',
  PARLEY_USER_SEND_BURST: '1000000',
  PARLEY_USER_FRAMES_PER_SECOND: '1000000',
  PARLEY_USER_FRAME_BURST: '1000000',
  PARLEY_ADDRESS_CONNECTS_PER_SECOND: '1000000',
  PARLEY_ADDRESS_CONNECT_BURST: '1000000',
  PARLEY_ADDRESS_MAX_UNAUTHENTICATED: '1000000',
};

export async function startSystem(o: SystemOptions): Promise<StartedSystem> {
  const prefix = o.prefix ?? `bench${randomBytes(4).toString('hex')}`;
  const database = await chooseDatabase(o.databaseUrl);
  const databaseUrl = database.kind === 'postgres' ? database.url : undefined;
  // Said here, so that every bench on startSystem says what its read models ran on.
  process.stdout.write(`  read models: ${describeDatabase(database, prefix)}\n`);
  const secret = randomBytes(24).toString('base64url');
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), `parley-${prefix}-`));
  const log: WriteStream = createWriteStream(o.logFile, { flags: 'a' });
  const env: Record<string, string> = {
    PARLEY_NATS_URL: o.natsUrl,
    PARLEY_PREFIX: prefix,
    PARLEY_JWT_SECRET: secret,
    PARLEY_HOST: '127.0.0.1',
    PARLEY_PORT: String(port),
    PARLEY_GATEWAY_ID: `gw-${prefix}`,
    // the bench measures the pipeline, not the per-connection frame limit
    PARLEY_FRAMES_PER_SECOND: '1000000',
    PARLEY_FRAME_BURST: '1000000',
    // nor the abuse limits: its users are bots, its connections come from a few loopback addresses
    // at once (ask for them with --env, e.g. --env PARLEY_USER_SENDS_PER_SECOND=10)
    ...BENCH_RATE_LIMITS,
    PARLEY_LOG_LEVEL: 'warn',
    PARLEY_DATA_DIR: dataDir,
    ...(databaseUrl ? { DATABASE_URL: databaseUrl, PARLEY_PG_SCHEMA: prefix } : {}),
    ...o.env,
  };
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  if (!databaseUrl && !o.env?.DATABASE_URL) delete childEnv.DATABASE_URL;
  delete childEnv.UWS_USE_FALLBACK;
  if (o.env?.UWS_USE_FALLBACK) childEnv.UWS_USE_FALLBACK = o.env.UWS_USE_FALLBACK;

  const processes: RoleProcess[] = [];
  const spawnRole = async (role: SystemRole): Promise<RoleProcess> => {
    // one directory per process: node writes a profile per thread (tsx's loader thread too)
    const prof = o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${join(o.cpuProfDir, role)}`] : [];
    const child = spawn(process.execPath, [...prof, BIN, 'start', '--role', role], { cwd: REPO_ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : null))));
    const p: RoleProcess = { role, pid: child.pid!, child, exited };
    processes.push(p);
    // whole lines only, each tagged with the role and stream
    const tag = (stream: string) => {
      let partial = '';
      return (chunk: Buffer) => {
        const lines = (partial + chunk.toString()).split('\n');
        partial = lines.pop()!;
        for (const line of lines) if (line) log.write(`[${role} ${stream}] ${line}\n`);
      };
    };
    child.stderr!.on('data', tag('err'));
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`${role} not ready within ${(o.readyTimeoutMs ?? 30_000) / 1000} s (log: ${o.logFile})`)), o.readyTimeoutMs ?? 30_000);
      const tagOut = tag('out');
      child.stdout!.on('data', (chunk: Buffer) => {
        tagOut(chunk);
        out += chunk.toString();
        if (out.includes('Parley is running')) {
          clearTimeout(timer);
          resolve();
        }
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${role} exited with ${code} before it was ready (log: ${o.logFile})`));
      });
    });
    return p;
  };

  const kill = () => {
    for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  };
  const url = `ws://127.0.0.1:${port}/ws`;
  let stopped: Promise<string[]> | undefined;
  const stop = (opts: { keepStreams?: boolean } = {}) =>
    (stopped ??= (async () => {
      const notes: string[] = [];
      // the gateway first (stop taking work), then the rest
      const order = [...processes].sort((a, b) => (a.role === 'gateway' ? -1 : 0) - (b.role === 'gateway' ? -1 : 0));
      for (const p of order) {
        if (p.child.exitCode !== null || p.child.signalCode !== null) continue;
        p.child.kill('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        const code = await Promise.race([p.exited, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 20_000)))]);
        clearTimeout(timer);
        if (code === 'timeout') {
          notes.push(`${p.role} (pid ${p.pid}) did not stop within 20 s of SIGTERM: killed`);
          p.child.kill('SIGKILL');
          await p.exited;
        } else if (code !== 0) notes.push(`${p.role} (pid ${p.pid}) exited with ${code} after SIGTERM`);
      }
      if (!opts.keepStreams) {
        try {
          await deleteOwnStreams(o.natsUrl, prefix);
        } catch (err) {
          notes.push(`could not delete the streams of prefix ${prefix}: ${(err as Error).message}`);
        }
        if (databaseUrl) {
          try {
            await dropSchemas(databaseUrl, prefix);
          } catch (err) {
            notes.push(`could not drop schema ${prefix}: ${(err as Error).message}`);
          }
        }
        rmSync(dataDir, { recursive: true, force: true });
      } else notes.push(`kept streams of prefix ${prefix} and data directory ${dataDir}`);
      await new Promise<void>((r) => log.end(() => r()));
      return notes;
    })());

  try {
    const roles = o.roles ?? ['engine', 'projector', 'gateway'];
    // The first role creates the streams; the others only check them, so they may start together.
    await spawnRole(roles[0]!);
    await Promise.all(roles.slice(1).map(spawnRole));
    let health: GatewayHealth | undefined;
    const deadline = Date.now() + 10_000;
    while (!health && Date.now() < deadline) {
      const probe = await probeGateway(url);
      if (probe?.status === 200) health = probe.health;
      else await new Promise((r) => setTimeout(r, 100));
    }
    if (!health) throw new Error(`the gateway at ${url} did not answer /health with 200 (log: ${o.logFile})`);
    return { url, prefix, database: { kind: database.kind, describe: describeDatabase(database, prefix) }, secret, processes, health, env, stop, kill };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

export async function deleteOwnStreams(natsUrl: string, prefix: string): Promise<void> {
  const config = loadConfig({ PARLEY_NATS_URL: natsUrl, PARLEY_PREFIX: prefix });
  const nc = await connectNats(config, 'parley-bench-cleanup', pino({ level: 'silent' }));
  try {
    await deleteStreams(await jetstreamManager(nc), makeNames(prefix));
  } finally {
    await nc.close();
  }
}

/** Drop a run's schema and what a rebuild of it may leave (`_rebuild`, `_old`). */
export async function dropSchemas(databaseUrl: string, prefix: string): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    for (const schema of [prefix, `${prefix}_rebuild`, `${prefix}_old`]) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
