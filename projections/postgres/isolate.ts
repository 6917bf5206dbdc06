import type pg from 'pg';
import type { Logger } from '../../lib/log.js';
import { inTransaction } from '../../lib/pg.js';
import { parkIn, type EventEntry, type ParkedEvent } from './park.js';
import { applyBatchIn, type BatchOptions, type BatchResult } from './apply-batch.js';
import type { LogEntry } from './decode.js';
import { refusalOf, type Refusal } from './refusal.js';

/**
 * A batch that one poisoned event cannot freeze.
 *
 * A batch is one transaction: if Postgres refuses one of its events, the whole batch fails, and it
 * would fail again on every redelivery, holding back every event after it (every user's REST reads
 * would stop moving). So when a batch fails with a refusal (refusal.ts: the data, not an outage),
 * it is split in halves and each half is applied on its own, in log order, each in its own
 * transaction with the checkpoint as always; a half that fails is split again, down to the one
 * event that fails alone. That event is tried twice more (the refusal must repeat), the database
 * must answer `SELECT 1` (it is not going away under us), the parking budget must allow it (many
 * refusals in a row are not one poison: see ParkingBudget), and then it is parked: recorded in
 * `parked_events` with the checkpoint moved past it in the same transaction (park.ts). Everything
 * else of the batch is applied; a batch of n events with one poison costs about 2·log2(n) extra
 * transactions.
 *
 * Any other failure, at any depth, is thrown as it is: the caller retries the batch as before, and
 * the checkpoint steps over the halves already committed.
 */

/** Times the one event must fail alone, in a row, before it is parked. */
export const REFUSALS_BEFORE_PARKING = 3;

/** How a batch is made atomic: a transaction of its own, or a savepoint in the caller's transaction. */
export type Atomic = {
  run<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T>;
  /** Whether the database answers at all. */
  answers(): Promise<boolean>;
};

/** Each batch in a transaction of its own on the pool (the live projector, the rebuild's bulk phase). */
export function ownTransactions(pool: pg.Pool): Atomic {
  return {
    run: (fn) => inTransaction(pool, fn),
    answers: () => pool.query('SELECT 1').then(
      () => true,
      () => false,
    ),
  };
}

/** Each batch in a savepoint of the transaction `client` holds (the rebuild's swap, under its lock). */
export function savepoints(client: pg.PoolClient): Atomic {
  return {
    async run(fn) {
      await client.query('SAVEPOINT parley_isolate');
      try {
        const result = await fn(client);
        await client.query('RELEASE SAVEPOINT parley_isolate');
        return result;
      } catch (err) {
        // If even this fails the connection is gone; the caller's transaction fails with `err`.
        await client.query('ROLLBACK TO SAVEPOINT parley_isolate').catch(() => undefined);
        throw err;
      }
    },
    answers: () => client.query('SELECT 1').then(
      () => true,
      () => false,
    ),
  };
}

export type IsolatedResult = BatchResult & { parked: ParkedEvent[] };

/**
 * How many events may be parked in a while. One poisoned event is rare; many refused in a row are
 * not poison but something wrong with every event (a NOT NULL column or a constraint added to the
 * read models by hand, say), and parking them all would quietly empty the read models. Past the
 * budget, a refusal is thrown like an outage: the batch is retried with back-off, and /health says
 * the projector is failing.
 */
export type ParkingBudget = { allows(): boolean; spend(): void };

/** The live projector's budget: at most `limit` events parked in any `windowMs`. */
export function parkingBudget(limit = 20, windowMs = 60_000): ParkingBudget {
  const times: number[] = [];
  const prune = () => {
    while (times.length > 0 && times[0]! <= Date.now() - windowMs) times.shift();
  };
  return {
    allows() {
      prune();
      return times.length < limit;
    },
    spend() {
      times.push(Date.now());
    },
  };
}

export type IsolateOptions = BatchOptions & { log?: Logger; budget?: ParkingBudget };

/** Apply `entries` (see applyBatchIn), parking any one event Postgres refuses to store. */
export async function applyIsolating(atomic: Atomic, schema: string, entries: LogEntry[], options: IsolateOptions = {}): Promise<IsolatedResult> {
  const sorted = [...entries].sort((a, b) => a.seq - b.seq);
  return isolate(atomic, schema, sorted, options);
}

async function isolate(atomic: Atomic, schema: string, entries: LogEntry[], options: IsolateOptions): Promise<IsolatedResult> {
  let refusal: Refusal | null;
  try {
    return { ...(await atomic.run((client) => applyBatchIn(client, schema, entries, options))), parked: [] };
  } catch (err) {
    refusal = refusalOf(err);
    if (!refusal) throw err;
    if (entries.length === 1 && entries[0]!.event !== null) return confirmAndPark(atomic, schema, entries[0] as EventEntry, err, refusal, options);
    // A lone entry without an event writes nothing but the checkpoint: not the data's fault.
    if (entries.length <= 1) throw err;
  }
  const half = Math.ceil(entries.length / 2);
  const first = await isolate(atomic, schema, entries.slice(0, half), options);
  const second = await isolate(atomic, schema, entries.slice(half), options);
  return {
    applied: first.applied + second.applied,
    skipped: first.skipped + second.skipped,
    checkpoint: Math.max(first.checkpoint, second.checkpoint),
    statements: first.statements + second.statements,
    held: [...first.held, ...second.held],
    parked: [...first.parked, ...second.parked],
  };
}

async function confirmAndPark(atomic: Atomic, schema: string, entry: EventEntry, firstErr: unknown, firstRefusal: Refusal, options: IsolateOptions): Promise<IsolatedResult> {
  let refusal = firstRefusal;
  for (let attempt = 2; attempt <= REFUSALS_BEFORE_PARKING; attempt++) {
    try {
      // Applied this time (whatever made it fail has passed): nothing to park.
      return { ...(await atomic.run((client) => applyBatchIn(client, schema, [entry], options))), parked: [] };
    } catch (err) {
      const again = refusalOf(err);
      if (!again) throw err;
      refusal = again;
    }
  }
  if (!(await atomic.answers())) throw firstErr;
  if (options.budget && !options.budget.allows()) {
    options.log?.error(
      { seq: entry.seq, code: refusal.code, error: refusal.message },
      'Postgres refuses this event too, and too many were parked lately: NOT parking it (is the schema changed by hand?); retrying the batch',
    );
    throw firstErr;
  }
  const { result, parked } = await atomic.run((client) => parkIn(client, schema, entry, refusal, options));
  if (parked) {
    options.budget?.spend();
    options.log?.error(
      { seq: parked.seq, subject: parked.subject, type: parked.eventType, code: parked.errorCode, error: parked.error },
      'Postgres refuses to store this event: PARKED (its effects are missing from the read models; `parley projections retry-parked` applies it again)',
    );
  }
  return { ...result, parked: parked ? [parked] : [] };
}
