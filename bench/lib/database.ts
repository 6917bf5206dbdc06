/**
 * Which read-model database a bench gives the system under test: the real Postgres when one
 * answers (what production runs on, so what a bench should measure), else the embedded PGlite;
 * and the clean-up of a run's schemas.
 */

/** The read-model database a bench gives the system under test. */
export type BenchDatabase = { kind: 'postgres'; url: string } | { kind: 'embedded'; why: string };

export const LOCAL_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** What --database-url accepts, for the help texts. */
export const DATABASE_HELP =
  'Postgres for the read models (DATABASE_URL of the roles; schema = the run\'s prefix, dropped at the end), or `embedded` for the ' +
  `embedded PGlite inside the projector. Default: $DATABASE_URL, else ${LOCAL_DATABASE_URL}, when it answers; PGlite otherwise (and the run says so).`;

/** For the help of the scenarios that choose by PARLEY_BENCH_DATABASE_URL: where their read models go. */
export const READ_MODELS_NOTE = `Read models: Postgres at $DATABASE_URL or 127.0.0.1:5432 when it answers (schema = the run's
prefix, dropped at the end); PARLEY_BENCH_DATABASE_URL=embedded for the embedded PGlite.`;

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

/** ANALYZE the tables of a run's schema, as autovacuum does after a large load (the planner's statistics). */
export async function analyzeSchema(databaseUrl: string, schema: string): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(`SELECT tablename AS name FROM pg_tables WHERE schemaname = $1`, [schema]);
    for (const { name } of rows) await client.query(`ANALYZE "${schema}"."${name}"`);
  } finally {
    await client.end();
  }
}
