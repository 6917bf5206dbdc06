import type pg from 'pg';
import { inTransaction } from '../../lib/pg.js';
import { planBatch } from './apply.js';
import { lockCheckpointIn, lockSchemaIn, SourceMismatchError, storeCheckpointIn } from './checkpoint.js';
import { copyInsertMessages } from './copy-insert.js';
import type { LogEntry } from './decode.js';
import type { LoggedEvent } from './statement.js';

/**
 * One batch of the log applied above the checkpoint: the projector's batch function, which the
 * rebuild, the isolation of a refused event (isolate.ts) and parking (park.ts) use too.
 *
 * Only the run of events that continues the checkpoint without a hole is applied; whatever follows
 * a missing event is held back until it arrives (JetStream does not promise order across
 * redeliveries: see projector.ts).
 */

export type BatchOptions = {
  /** The log the events come from; a checkpoint of another log is refused. */
  source?: string;
  /**
   * Asked when the next event at hand (`nextSeq`) is not `afterSeq + 1`: true if no event of the
   * log lies between (the sequences were never events, or were deleted), false if one is missing
   * (not received yet). Without it every hole is taken as having no event.
   */
  nothingBetween?: (afterSeq: number, nextSeq: number) => Promise<boolean>;
  /**
   * Write runs of messages with COPY and a plain insert (copy-insert.ts) rather than as array
   * parameters: the same rows, for less work. The rebuild uses it on a real Postgres (PGlite's
   * socket does not speak COPY); the live projector's batches are small enough without.
   */
  copy?: boolean;
};

export type BatchResult = {
  applied: number;
  /** At or below the checkpoint already, or given twice (redelivered). */
  skipped: number;
  checkpoint: number;
  statements: number;
  /** Sequences above a missing event: not applied, to be offered again once it has arrived. */
  held: number[];
};

/**
 * Apply a batch inside a transaction the caller holds (search_path is set here, for this
 * transaction only). The projector's batch function; the rebuild uses it too.
 */
export async function applyBatchIn(client: pg.PoolClient, schema: string, entries: LogEntry[], options: BatchOptions = {}): Promise<BatchResult> {
  await lockSchemaIn(client, schema);
  const stored = await lockCheckpointIn(client);
  if (options.source !== undefined && stored.source !== null && stored.source !== options.source) {
    throw new SourceMismatchError(schema, stored.source, options.source);
  }
  const bySeq = new Map<number, LogEntry>();
  for (const e of entries) if (e.seq > stored.logSeq) bySeq.set(e.seq, e);
  const fresh = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  // The run that continues the checkpoint; whatever follows a missing event waits for it.
  let take = 0;
  let last = stored.logSeq;
  for (; take < fresh.length; take++) {
    const seq = fresh[take]!.seq;
    if (seq !== last + 1 && options.nothingBetween && !(await options.nothingBetween(last, seq))) break;
    last = seq;
  }
  const held = fresh.slice(take).map((e) => e.seq);
  const skipped = entries.length - take - held.length;
  if (take === 0) return { applied: 0, skipped, checkpoint: stored.logSeq, statements: 0, held };
  const events = fresh.slice(0, take).filter((e): e is LoggedEvent => e.event !== null);
  const statements = planBatch(events);
  for (const st of statements) {
    if (options.copy && st.copyable === 'messages') await copyInsertMessages(client, st.values as unknown[][]);
    else await client.query(st.text, st.values);
  }
  await storeCheckpointIn(client, last, options.source ?? null);
  return { applied: events.length, skipped, checkpoint: last, statements: statements.length, held };
}

/** Apply a batch in a transaction of its own: the events above the checkpoint, and the new checkpoint. */
export function projectBatch(pool: pg.Pool, schema: string, entries: LogEntry[], options: BatchOptions = {}): Promise<BatchResult> {
  return inTransaction(pool, (client) => applyBatchIn(client, schema, entries, options));
}
