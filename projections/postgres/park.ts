import type pg from 'pg';
import { ident } from '../../lib/pg.js';
import { applyBatchIn, type BatchOptions, type BatchResult } from './apply-batch.js';
import type { LogEntry } from './decode.js';
import type { Refusal } from './refusal.js';
import type { ProjectedEvent } from './statement.js';

/**
 * The parked events of a schema (`parked_events`, migration 004): events Postgres refused to store,
 * set aside so that the events after them are applied (see refusal.ts for what counts as a refusal,
 * isolate.ts for how the one event is found).
 *
 * A parked event's effects are missing from the read models: a message not in the history, a read
 * receipt not counted, a member not added. `parley projections retry-parked` applies it again on top
 * of the read models as they are then (retry-parked.ts); `parley projections rebuild` replays every
 * event, parked ones included, and parks again only what still fails.
 */

export type ParkedEvent = {
  /** The event's stream sequence in the log. */
  seq: number;
  subject: string;
  eventType: string;
  /** SQLSTATE of Postgres' refusal (the last one, after a failed retry). */
  errorCode: string;
  error: string;
  /** ISO 8601. */
  parkedAt: string;
  /** The last failed retry (ISO 8601), null if never retried. */
  retriedAt: string | null;
  retries: number;
};

/** A log entry that decoded to an event (only those are ever applied, and so ever refused). */
export type EventEntry = LogEntry & { event: ProjectedEvent };

/** The subject an entry came on; entries made by hand (tests) have none: its owner stands in. */
function subjectOf(entry: EventEntry): string {
  if (entry.subject) return entry.subject;
  return 'conversationId' in entry.event ? `conversation ${entry.event.conversationId}` : `user ${entry.event.userId}`;
}

type Row = {
  log_seq: string | number;
  subject: string;
  event_type: string;
  error_code: string;
  error: string;
  parked_at: Date;
  retried_at: Date | null;
  retries: number;
};

const fromRow = (r: Row): ParkedEvent => ({
  seq: Number(r.log_seq),
  subject: r.subject,
  eventType: r.event_type,
  errorCode: r.error_code,
  error: r.error,
  parkedAt: r.parked_at.toISOString(),
  retriedAt: r.retried_at ? r.retried_at.toISOString() : null,
  retries: r.retries,
});

/**
 * Inside the caller's transaction: step the checkpoint over `entry` as over an event that cannot be
 * applied, and record it in `parked_events`, both or neither. The checkpoint rules are the batch's
 * own (the projector lock, the source check, no hole before it): `parked` is null when the entry is
 * at or below the checkpoint already (another process got past it) or waits behind a missing event.
 */
export async function parkIn(
  client: pg.PoolClient,
  schema: string,
  entry: EventEntry,
  refusal: Refusal,
  options: BatchOptions = {},
): Promise<{ result: BatchResult; parked: ParkedEvent | null }> {
  const result = await applyBatchIn(client, schema, [{ seq: entry.seq, event: null }], options);
  if (result.skipped > 0 || result.held.length > 0) return { result, parked: null };
  const row = await client.query<Row>(
    `INSERT INTO parked_events (log_seq, subject, event_type, error_code, error) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (log_seq) DO UPDATE SET error_code = excluded.error_code, error = excluded.error, parked_at = now()
     RETURNING *`,
    [entry.seq, subjectOf(entry), entry.event.type, refusal.code, refusal.message],
  );
  return { result, parked: fromRow(row.rows[0]!) };
}

/** The parked events of a schema in log order (`seq`: that one only); none if the schema has no such table yet. */
export async function listParked(db: pg.Pool | pg.PoolClient, schema: string, seq?: number): Promise<ParkedEvent[]> {
  const exists = await db.query('SELECT to_regclass($1) IS NOT NULL AS ok', [`${ident(schema)}.parked_events`]);
  if (!exists.rows[0]?.ok) return [];
  const where = seq === undefined ? '' : 'WHERE log_seq = $1';
  const r = await db.query<Row>(`SELECT * FROM ${ident(schema)}.parked_events ${where} ORDER BY log_seq`, seq === undefined ? [] : [seq]);
  return r.rows.map(fromRow);
}

/** Keep a parked event parked, with the refusal of its latest retry. */
export async function recordFailedRetry(db: pg.Pool | pg.PoolClient, schema: string, seq: number, refusal: Refusal): Promise<ParkedEvent | null> {
  const r = await db.query<Row>(
    `UPDATE ${ident(schema)}.parked_events SET error_code = $2, error = $3, retried_at = now(), retries = retries + 1
      WHERE log_seq = $1 RETURNING *`,
    [seq, refusal.code, refusal.message],
  );
  return r.rows[0] ? fromRow(r.rows[0]) : null;
}
