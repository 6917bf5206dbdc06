import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import type { Logger } from '../../lib/log.js';
import { ident, inTransaction } from '../../lib/pg.js';

/**
 * Applies migrations/NNN_name.sql in order inside one schema, each in its own transaction, and
 * records them in `<schema>.schema_migrations`. Every transaction first takes an advisory lock
 * named after the schema, so two processes starting at once apply each file once: the second
 * waits, then finds the version recorded.
 */

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

export type Migration = { version: string; name: string; sql: string };

export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{3}_[\w-]+\.sql$/.test(f)).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    migrations.push({ version: file.slice(0, 3), name: file.replace(/\.sql$/, ''), sql: await readFile(`${dir}/${file}`, 'utf8') });
  }
  const versions = migrations.map((m) => m.version);
  if (new Set(versions).size !== versions.length) throw new Error(`two migrations share a version number in ${dir}`);
  return migrations;
}

/** The lock every writer of a schema's migrations takes. */
export const migrationLockKey = (schema: string) => `parley.migrate.${schema}`;

export async function migrate(pool: pg.Pool, schema: string, log?: Logger): Promise<{ applied: string[] }> {
  const migrations = await loadMigrations();
  const applied: string[] = [];
  const s = ident(schema);
  for (const m of migrations) {
    try {
      await inTransaction(pool, async (client) => {
        await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [migrationLockKey(schema)]);
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
        await client.query(`SET LOCAL search_path TO ${s}`);
        await client.query(
          `CREATE TABLE IF NOT EXISTS schema_migrations (
             version    text PRIMARY KEY,
             name       text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
           )`,
        );
        const done = await client.query('SELECT name FROM schema_migrations WHERE version = $1', [m.version]);
        if (done.rowCount === 0) {
          await client.query(m.sql);
          await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
          applied.push(m.name);
        } else if (done.rows[0].name !== m.name) {
          log?.warn({ schema, version: m.version, recorded: done.rows[0].name, file: m.name }, 'migration recorded under another name');
        }
      });
    } catch (err) {
      throw new Error(`migration ${m.name} in schema ${schema} failed: ${(err as Error).message}`, { cause: err });
    }
  }
  if (applied.length > 0) log?.info({ schema, applied }, 'read-model migrations applied');
  return { applied };
}
