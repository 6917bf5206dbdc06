import type pg from 'pg';
import { ident, inTransaction } from '../../lib/pg.js';

/**
 * A freshly migrated schema made cheaper to fill in bulk, then made whole again: a rebuild's
 * `<schema>_rebuild` before its swap.
 *
 * While filling, the schema goes without
 * - its foreign keys: each inserted row would run a trigger that looks its conversation up, and the
 *   statements of apply.ts only ever insert rows of conversations that exist (they join
 *   `conversations`) and never delete a conversation, so the rows are the same without them;
 * - its plain indexes (those that back no constraint): the statements never need them.
 * Primary keys and unique constraints stay: ON CONFLICT and the watermark updates rely on them.
 *
 * Everything left out is read from the catalog (so a new migration's keys and indexes are covered
 * too), and `restore` puts it back under the same names and definitions: one index build and one
 * set-based key check per table instead of one per row.
 */

export type Deferred = {
  schema: string;
  /** `ALTER TABLE … ADD CONSTRAINT …` for each foreign key dropped. */
  constraints: string[];
  /** `CREATE INDEX …` for each index dropped. */
  indexes: string[];
};

/** Drop the schema's foreign keys and plain indexes; what `restore` needs to put them back. */
export async function deferForBulkLoad(pool: pg.Pool, schema: string): Promise<Deferred> {
  return inTransaction(pool, async (client) => {
    // With only pg_catalog on the path, the catalog's definitions name every table with its schema.
    await client.query('SET LOCAL search_path TO pg_catalog');
    const fks = await client.query<{ table: string; name: string; def: string }>(
      `SELECT c.conrelid::regclass::text AS table, c.conname AS name, pg_get_constraintdef(c.oid) AS def
         FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
        WHERE n.nspname = $1 AND c.contype = 'f'
        ORDER BY c.conname`,
      [schema],
    );
    const plain = await client.query<{ name: string; def: string }>(
      `SELECT i.relname AS name, pg_get_indexdef(i.oid) AS def
         FROM pg_index x
         JOIN pg_class i ON i.oid = x.indexrelid
         JOIN pg_namespace n ON n.oid = i.relnamespace
        WHERE n.nspname = $1 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
        ORDER BY i.relname`,
      [schema],
    );
    const deferred: Deferred = { schema, constraints: [], indexes: [] };
    for (const fk of fks.rows) {
      await client.query(`ALTER TABLE ${fk.table} DROP CONSTRAINT ${ident(fk.name)}`);
      deferred.constraints.push(`ALTER TABLE ${fk.table} ADD CONSTRAINT ${ident(fk.name)} ${fk.def}`);
    }
    for (const ix of plain.rows) {
      await client.query(`DROP INDEX ${ident(schema)}.${ident(ix.name)}`);
      deferred.indexes.push(ix.def);
    }
    return deferred;
  });
}

/**
 * Put back what `deferForBulkLoad` dropped (the definitions name the schema as it was then: call
 * this before renaming it), and give the planner statistics of the filled tables.
 */
export async function restoreAfterBulkLoad(pool: pg.Pool, deferred: Deferred): Promise<void> {
  await inTransaction(pool, async (client) => {
    for (const sql of deferred.indexes) await client.query(sql);
    for (const sql of deferred.constraints) await client.query(sql);
  });
  const tables = await pool.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY 1`,
    [deferred.schema],
  );
  for (const t of tables.rows) await pool.query(`ANALYZE ${ident(deferred.schema)}.${ident(t.name)}`);
}
