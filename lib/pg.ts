import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import pg from 'pg';
import type { Config } from './config.js';
import type { Logger } from './log.js';

/**
 * The read-model database: a `pg` Pool, either on DATABASE_URL or on an embedded PGlite.
 *
 * PGlite is one Postgres session in this process, served on a loopback port by
 * `@electric-sql/pglite-socket`. It interleaves the queries of several connections in that one
 * session (a transaction would not be isolated), so the pool has exactly one connection, and a lock
 * file keeps a second process off the same data directory.
 */
export type Database = {
  pool: pg.Pool;
  /** The schema holding the read models (config.postgres.schema). */
  schema: string;
  embedded: boolean;
  /** Where the data is, for logs and banners (no password). */
  describe: string;
  close(): Promise<void>;
};

/** A quoted SQL identifier. */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** int8 and numeric come back from `pg` as strings; every one we read fits a JS number. */
export function num(value: unknown): number {
  return value === null || value === undefined ? 0 : Number(value);
}

/**
 * Run `fn` in a transaction on one pooled connection. A connection whose ROLLBACK fails is
 * discarded, not returned to the pool.
 */
export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // A connection lost while checked out is reported as an 'error' event too (the pool listens only
  // to idle ones); the query in progress fails anyway, so note it and discard the connection.
  const onError = (err: Error) => {
    broken = err;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    if (!broken) {
      await client.query('ROLLBACK').catch((rollbackErr: Error) => {
        broken = rollbackErr;
      });
    }
    throw err;
  } finally {
    client.off('error', onError);
    client.release(broken ?? false);
  }
}

export async function openDatabase(config: Config, log: Logger): Promise<Database> {
  const url = config.postgres.url;
  return url ? openPostgres(url, config, log) : openEmbedded(config, log);
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres (unparseable DATABASE_URL)';
  }
}

async function openPostgres(url: string, config: Config, log: Logger): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, application_name: `parley-${process.pid}` });
  // An idle client that loses its server emits 'error' on the pool; unhandled, it would kill the process.
  pool.on('error', (err) => log.warn({ err }, 'postgres connection lost (the pool reconnects)'));
  const describe = redact(url);
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new Error(`cannot reach Postgres at ${describe}: ${(err as Error).message}`);
  }
  log.info({ database: describe, schema: config.postgres.schema }, 'postgres connected');
  let closing: Promise<void> | undefined;
  return {
    pool,
    schema: config.postgres.schema,
    embedded: false,
    describe,
    close: () => (closing ??= pool.end()),
  };
}

async function openEmbedded(config: Config, log: Logger): Promise<Database> {
  const dataDir = resolve(config.dataDir, 'pglite');
  await mkdir(dataDir, { recursive: true });
  const lockFile = join(resolve(config.dataDir), 'pglite.lock');
  await takeLock(lockFile);
  // Loaded only here: a process on DATABASE_URL never pays for the WebAssembly Postgres.
  const [{ PGlite }, { PGLiteSocketServer }] = await Promise.all([import('@electric-sql/pglite'), import('@electric-sql/pglite-socket')]);
  let db: InstanceType<typeof PGlite> | undefined;
  let server: InstanceType<typeof PGLiteSocketServer> | undefined;
  try {
    db = await PGlite.create({ dataDir });
    server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 1 });
    await server.start();
  } catch (err) {
    await server?.stop().catch(() => undefined);
    await db?.close().catch(() => undefined);
    await rm(lockFile, { force: true });
    held.delete(lockFile);
    throw err;
  }
  const [host, port] = splitHostPort(server.getServerConn());
  const pool = new pg.Pool({
    host,
    port,
    user: 'postgres',
    database: 'postgres',
    application_name: `parley-${process.pid}`,
    // One connection, never closed for idleness: a reconnect could race the server's cleanup of the
    // previous one and be refused (the server takes one connection at a time).
    max: 1,
    idleTimeoutMillis: 0,
  });
  pool.on('error', (err) => log.warn({ err }, 'embedded database connection lost (the pool reconnects)'));
  const describe = `embedded PGlite at ${dataDir} (served on ${host}:${port})`;
  log.warn(
    { dataDir, socket: `${host}:${port}`, schema: config.postgres.schema },
    '!!! DATABASE_URL is not set: the read models use the EMBEDDED database (PGlite, one process, one connection). ' +
      'Fine on a laptop; set DATABASE_URL to a real Postgres in production.',
  );
  let closing: Promise<void> | undefined;
  return {
    pool,
    schema: config.postgres.schema,
    embedded: true,
    describe,
    close: () =>
      (closing ??= (async () => {
        await pool.end().catch((err: unknown) => log.warn({ err }, 'closing the embedded database pool'));
        await server!.stop().catch(() => undefined);
        await db!.close().catch((err: unknown) => log.warn({ err }, 'closing the embedded database'));
        await rm(lockFile, { force: true });
        held.delete(lockFile);
      })()),
  };
}

function splitHostPort(conn: string): [string, number] {
  const i = conn.lastIndexOf(':');
  return [conn.slice(0, i), Number(conn.slice(i + 1))];
}

/**
 * PGlite's files must be opened by one process at a time. The lock file holds the owner's pid; a
 * lock left by a process that no longer runs (kill -9) is taken over.
 */
const held = new Set<string>();

async function takeLock(lockFile: string): Promise<void> {
  if (held.has(lockFile)) throw new Error(`the embedded database ${lockFile.replace(/\.lock$/, '')} is already open in this process`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(lockFile, String(process.pid), { flag: 'wx' });
      held.add(lockFile);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number((await readFile(lockFile, 'utf8').catch(() => '')).trim());
    // Our own pid in a lock we do not hold is a previous incarnation's (a container's pid 1, say).
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
      throw new Error(
        `the embedded database ${lockFile.replace(/\.lock$/, '')} is in use by process ${owner}: ` +
          'stop it, use another PARLEY_DATA_DIR, or set DATABASE_URL',
      );
    }
    await rm(lockFile, { force: true });
  }
  throw new Error(`could not take the embedded database lock ${lockFile}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
