import type pg from 'pg';
import type { Logger } from '../../lib/log.js';
import type { Names } from '../../lib/names.js';
import { ident, inTransaction } from '../../lib/pg.js';
import type { StoredEntry } from '../../lib/stream-reader.js';
import { planBatch } from './apply.js';
import { listParked, recordFailedRetry } from './park.js';
import { lockSchemaIn } from './checkpoint.js';
import { decodeLogEntry } from './decode.js';
import { refusalOf } from './refusal.js';

/**
 * `parley projections retry-parked`: apply parked events again, once whatever Postgres refused has
 * been dealt with (a column widened, a constraint dropped, a version that stores the value).
 *
 * Each parked event is read again from the log (the log is the record; the table only says which
 * events) and decoded by this version, then applied in a transaction of its own, in log order, on
 * top of the read models as they are now: the checkpoint is past it already and stays where it is.
 * Applied, it leaves the table in the same transaction; refused again, it stays, with the new error.
 * The transaction takes the projector lock, so a live projector's batches wait for it.
 *
 * Applied late, an event has the effect it has on the read models of now, not of when it was
 * written: a message retried after later ones becomes its conversation's "last message" and adds
 * to unread counts of members who have read past it. `parley projections rebuild` replays the whole
 * log in order and gives the exact read models.
 */

export type RetryOutcome = {
  seq: number;
  /**
   * applied: in the read models now, no longer parked. failed: refused again, still parked (with
   * this error). dropped: not in the log any more, or no longer an event this version projects
   * (stepped over, as the projector steps over such events): removed from the table.
   */
  outcome: 'applied' | 'failed' | 'dropped';
  eventType: string;
  errorCode?: string;
  error?: string;
};

/** Where parked events are read back from: the event log (lib/stream-reader.ts StreamReader). */
export type LogReader = { bySeq(seq: number): Promise<StoredEntry | null> };

export async function retryParked(opts: { pool: pg.Pool; schema: string; names: Names; reader: LogReader; seq?: number; log?: Logger }): Promise<RetryOutcome[]> {
  const { pool, schema, names, reader, log } = opts;
  const outcomes: RetryOutcome[] = [];
  for (const parked of await listParked(pool, schema, opts.seq)) {
    const stored = await reader.bySeq(parked.seq);
    const entry = stored ? decodeLogEntry(names, stored, log) : null;
    const base = { seq: parked.seq, eventType: parked.eventType };
    if (entry?.event == null) {
      await pool.query(`DELETE FROM ${ident(schema)}.parked_events WHERE log_seq = $1`, [parked.seq]);
      outcomes.push({ ...base, outcome: 'dropped', error: stored ? 'no longer an event this version projects' : 'not in the log any more' });
      continue;
    }
    const event = entry.event;
    try {
      const still = await inTransaction(pool, async (client) => {
        await lockSchemaIn(client, schema);
        // Another retry may have applied it meanwhile: never apply an event twice.
        const row = await client.query('SELECT 1 FROM parked_events WHERE log_seq = $1 FOR UPDATE', [parked.seq]);
        if (row.rowCount === 0) return false;
        for (const st of planBatch([{ seq: parked.seq, event }])) await client.query(st.text, st.values);
        await client.query('DELETE FROM parked_events WHERE log_seq = $1', [parked.seq]);
        return true;
      });
      if (still) outcomes.push({ ...base, outcome: 'applied' });
    } catch (err) {
      const refusal = refusalOf(err);
      if (!refusal) throw err; // an outage: stop here, what was applied stays applied
      await recordFailedRetry(pool, schema, parked.seq, refusal);
      outcomes.push({ ...base, outcome: 'failed', errorCode: refusal.code, error: refusal.message });
    }
  }
  return outcomes;
}
