import type { StreamInfo } from '@nats-io/jetstream';
import type pg from 'pg';
import { ident, inTransaction, num } from '../../lib/pg.js';

/**
 * The postgres projector's checkpoint (`projector_checkpoints` row 'postgres'): the log sequence of
 * the last event applied to a schema's read models, and which log it counts in. Written in the same
 * transaction as the events it covers, under the schema's projector lock; that is what makes the
 * projector's effect exactly-once (projector.ts).
 */

export const CHECKPOINT_NAME = 'postgres';

export type Checkpoint = { logSeq: number; source: string | null };

export class SourceMismatchError extends Error {
  constructor(schema: string, stored: string, ours: string) {
    super(`schema ${schema} holds read models of another event log (${stored}), not of ${ours}`);
    this.name = 'SourceMismatchError';
  }
}

/** Which log a checkpoint counts in: the stream's name and creation time. */
export function sourceOf(info: StreamInfo): string {
  return `${info.config.name}@${info.created}`;
}

/** The advisory lock held by every transaction that writes a schema's read models or swaps it. */
export const projectorLockKey = (schema: string) => `parley.projector.${schema}`;

/**
 * Work on `schema` in the caller's transaction: search_path set for this transaction only, and the
 * schema's projector lock taken (held until the transaction ends).
 */
export async function lockSchemaIn(client: pg.PoolClient, schema: string): Promise<void> {
  await client.query(`SET LOCAL search_path TO ${ident(schema)}`);
  await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [projectorLockKey(schema)]);
}

/** The stored checkpoint, or null when the schema has none (or does not exist yet). */
export async function readCheckpoint(pool: pg.Pool | pg.PoolClient, schema: string): Promise<Checkpoint | null> {
  const exists = await pool.query('SELECT to_regclass($1) IS NOT NULL AS ok', [`${ident(schema)}.projector_checkpoints`]);
  if (!exists.rows[0]?.ok) return null;
  const r = await pool.query(`SELECT log_seq, source FROM ${ident(schema)}.projector_checkpoints WHERE name = $1`, [CHECKPOINT_NAME]);
  return r.rows[0] ? { logSeq: num(r.rows[0].log_seq), source: r.rows[0].source ?? null } : null;
}

/** The checkpoint, locked FOR UPDATE in the caller's transaction (search_path set by lockSchemaIn). */
export async function lockCheckpointIn(client: pg.PoolClient): Promise<Checkpoint> {
  const row = await client.query('SELECT log_seq, source FROM projector_checkpoints WHERE name = $1 FOR UPDATE', [CHECKPOINT_NAME]);
  return row.rows[0] ? { logSeq: num(row.rows[0].log_seq), source: row.rows[0].source ?? null } : { logSeq: 0, source: null };
}

/** Store the new checkpoint in the caller's transaction; a null source keeps the stored one. */
export async function storeCheckpointIn(client: pg.PoolClient, logSeq: number, source: string | null): Promise<void> {
  await client.query(
    `INSERT INTO projector_checkpoints (name, log_seq, source, updated_at) VALUES ($1, $2, $3, now())
     ON CONFLICT (name) DO UPDATE SET log_seq = excluded.log_seq, source = COALESCE(excluded.source, projector_checkpoints.source),
                                      updated_at = excluded.updated_at`,
    [CHECKPOINT_NAME, logSeq, source],
  );
}

/** Empty the read models and point the checkpoint at the start of `source`. */
export async function resetReadModels(pool: pg.Pool, schema: string, source: string): Promise<void> {
  await inTransaction(pool, async (client) => {
    await lockSchemaIn(client, schema);
    await client.query('TRUNCATE conversation_members, messages, conversations, blocks');
    await client.query(
      `INSERT INTO projector_checkpoints (name, log_seq, source, updated_at) VALUES ($1, 0, $2, now())
       ON CONFLICT (name) DO UPDATE SET log_seq = 0, source = excluded.source, updated_at = excluded.updated_at`,
      [CHECKPOINT_NAME, source],
    );
  });
}

/** A checkpoint without a source (none yet, or written by an earlier version) is taken to count in `source`. */
export async function adoptSource(pool: pg.Pool, schema: string, source: string): Promise<void> {
  await inTransaction(pool, async (client) => {
    await client.query(`SET LOCAL search_path TO ${ident(schema)}`);
    await client.query(
      `INSERT INTO projector_checkpoints (name, log_seq, source) VALUES ($1, 0, $2)
       ON CONFLICT (name) DO UPDATE SET source = COALESCE(projector_checkpoints.source, excluded.source)`,
      [CHECKPOINT_NAME, source],
    );
  });
}
