import { nanos, type NatsConnection } from '@nats-io/nats-core';
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type Consumer,
  type ConsumerConfig,
  type ConsumerInfo,
  type ConsumerMessages,
  type JetStreamManager,
  type JsMsg,
  type StreamInfo,
} from '@nats-io/jetstream';
import type pg from 'pg';
import type { Config } from '../../lib/config.js';
import { decodeJson } from '../../lib/json.js';
import type { Logger } from '../../lib/log.js';
import type { Names } from '../../lib/names.js';
import { ident, inTransaction, num, type Database } from '../../lib/pg.js';
import { StreamReader } from '../../lib/stream-reader.js';
import { mayNeedSanitizing, sanitizeText } from '../../lib/wire-value.js';
import { compile, UserEvent, validateEvent } from '../../schemas/index.js';
import { planBatch, type LoggedEvent, type ProjectedEvent } from './apply.js';
import { copyInsertMessages } from './copy-insert.js';
import { applyIsolating, ownTransactions, parkingBudget } from './isolate.js';
import { migrate } from './migrate.js';
import { isNotFound } from '../../lib/nats.js';

/**
 * The postgres projector: the event log → read models, exactly-once in effect.
 *
 * One durable consumer (`names.consumers.postgres`, ack policy "all") reads the log in order.
 * Events are gathered into batches (config.postgres.batchSize events or batchMs, whichever comes
 * first); each batch is one transaction that
 *   1. takes the schema's projector lock (an advisory lock, also taken by a rebuild's swap),
 *   2. reads the checkpoint (`projector_checkpoints` row 'postgres') FOR UPDATE,
 *   3. applies only the events above it, in log order,
 *   4. stores the new checkpoint,
 * and only after COMMIT is the batch acked. A crash before the commit leaves nothing; a crash
 * between commit and ack gets the batch again, and the checkpoint skips it.
 *
 * The checkpoint only works if no event is ever applied after a later one. JetStream does not
 * promise order across redeliveries: after a crash, the new process gets newer messages first and
 * the abandoned ones (redelivered after their ack wait) later, in no particular order. So a batch
 * applies only the run of events that continues the checkpoint without a hole, and holds back the
 * rest until the missing events arrive (a hole is checked with Direct Get: sequences that belong to
 * no event, deleted messages, are stepped over). With ack policy "all" the batch's ack is the
 * highest sequence at or below the new checkpoint, so an ack never covers an event not applied.
 * The same keeps a second process on the same schema (sharing the consumer) correct, but the two
 * then mostly wait for each other: run one postgres projector per schema.
 *
 * A failed batch (Postgres down, a connection killed) is rolled back and not acked; the projector
 * consumes again after a back-off, and JetStream redelivers the batch after its ack wait.
 *
 * A batch that fails because Postgres refuses one event's values (refusal.ts: SQLSTATE class 22,
 * 23 or 54, while the database answers) would fail the same way on every redelivery and freeze the
 * read models for good. That one event is found by splitting the batch, and parked: recorded in
 * `parked_events`, the checkpoint moved past it in the same transaction, the rest of the batch
 * applied and acked as usual (isolate.ts, park.ts). Its effects are missing until `parley projections
 * retry-parked` or a rebuild applies it.
 */

export const CHECKPOINT_NAME = 'postgres';

export type PostgresProjectorStats = {
  batches: number;
  /** Events applied to the read models. */
  events: number;
  /** Events received again at or below the checkpoint (redeliveries): acked, not applied. */
  skipped: number;
  /** Events that do not match their schema (or are of a type this version does not know): logged, stepped over. */
  invalid: number;
  /** Events whose text was made storable (NUL or lone surrogates replaced by U+FFFD). */
  sanitized: number;
  /** Batches that failed (rolled back, consumed again later). */
  failed: number;
  /**
   * Events this process parked since it started: Postgres refused them, they were set aside so that
   * the events after them could be applied (`parked_events`; `parley projections status` lists them).
   */
  parked: number;
  /** When the batches began to fail, while they still do (ms since the epoch); null while they succeed. */
  failingSince: number | null;
  lastEventSeq: number;
  checkpoint: number;
};

export type PostgresProjector = {
  stats(): PostgresProjectorStats;
  stop(): Promise<void>;
};

/**
 * A message of the log as the projector sees it: decoded, or null if it is not one it can apply;
 * with its subject when it came from the log (a parked event records it).
 */
export type LogEntry = { seq: number; event: ProjectedEvent | null; subject?: string };

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

const validateUserEvent = compile(UserEvent);

/** Decode and validate one message of the log; anything else becomes a null event (stepped over). */
export function decodeLogEntry(
  names: Names,
  m: { seq: number; subject: string; data: Uint8Array },
  log?: Logger,
): LogEntry & { problem?: string; sanitized?: boolean } {
  const conversationId = names.subjects.conversationOfSubject(m.subject);
  const userId = conversationId === undefined ? names.subjects.userOfSubject(m.subject) : undefined;
  if (conversationId === undefined && userId === undefined) return { seq: m.seq, subject: m.subject, event: null, problem: `not an event subject: ${m.subject}` };
  let value: unknown;
  let sanitized = false;
  try {
    value = decodeJson(m.data);
  } catch {
    return report({ seq: m.seq, subject: m.subject, event: null, problem: 'not JSON' }, log, m.subject);
  }
  if (mayNeedSanitizing(m.data)) {
    // Written by a version whose edge let NUL or lone surrogates in: Postgres refuses them, and the
    // batch holding this event would fail for good, freezing every user's reads. Stored with U+FFFD
    // in their place instead; the log keeps the original.
    const clean = sanitizeText(value);
    sanitized = JSON.stringify(clean) !== JSON.stringify(value);
    if (sanitized) log?.warn({ seq: m.seq, subject: m.subject }, 'event text not storable as it is (NUL or lone surrogate): projected with U+FFFD');
    value = clean;
  }
  const checked = conversationId !== undefined ? validateEvent(value) : validateUserEvent(value);
  if (!checked.ok) return report({ seq: m.seq, subject: m.subject, event: null, problem: checked.message }, log, m.subject);
  const event = checked.value as ProjectedEvent;
  const owner = 'conversationId' in event ? event.conversationId : event.userId;
  if (owner !== (conversationId ?? userId)) return report({ seq: m.seq, subject: m.subject, event: null, problem: `event of ${owner} on ${m.subject}` }, log, m.subject);
  return { seq: m.seq, subject: m.subject, event, ...(sanitized ? { sanitized } : {}) };
}

function report(entry: LogEntry & { problem: string }, log: Logger | undefined, subject: string) {
  log?.error({ seq: entry.seq, subject, problem: entry.problem }, 'event cannot be projected; stepped over (a rebuild after an upgrade picks it up)');
  return entry;
}

export type Checkpoint = { logSeq: number; source: string | null };

/** The stored checkpoint, or null when the schema has none (or does not exist yet). */
export async function readCheckpoint(pool: pg.Pool | pg.PoolClient, schema: string): Promise<Checkpoint | null> {
  const exists = await pool.query('SELECT to_regclass($1) IS NOT NULL AS ok', [`${ident(schema)}.projector_checkpoints`]);
  if (!exists.rows[0]?.ok) return null;
  const r = await pool.query(`SELECT log_seq, source FROM ${ident(schema)}.projector_checkpoints WHERE name = $1`, [CHECKPOINT_NAME]);
  return r.rows[0] ? { logSeq: num(r.rows[0].log_seq), source: r.rows[0].source ?? null } : null;
}

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
  const s = ident(schema);
  await client.query(`SET LOCAL search_path TO ${s}`);
  await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [projectorLockKey(schema)]);
  const row = await client.query('SELECT log_seq, source FROM projector_checkpoints WHERE name = $1 FOR UPDATE', [CHECKPOINT_NAME]);
  const stored: Checkpoint = row.rows[0] ? { logSeq: num(row.rows[0].log_seq), source: row.rows[0].source ?? null } : { logSeq: 0, source: null };
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
  await client.query(
    `INSERT INTO projector_checkpoints (name, log_seq, source, updated_at) VALUES ($1, $2, $3, now())
     ON CONFLICT (name) DO UPDATE SET log_seq = excluded.log_seq, source = COALESCE(excluded.source, projector_checkpoints.source),
                                      updated_at = excluded.updated_at`,
    [CHECKPOINT_NAME, last, options.source ?? null],
  );
  return { applied: events.length, skipped, checkpoint: last, statements: statements.length, held };
}

/** Apply a batch in a transaction of its own: the events above the checkpoint, and the new checkpoint. */
export function projectBatch(pool: pg.Pool, schema: string, entries: LogEntry[], options: BatchOptions = {}): Promise<BatchResult> {
  return inTransaction(pool, (client) => applyBatchIn(client, schema, entries, options));
}

/** Empty the read models and point the checkpoint at the start of `source`. */
export async function resetReadModels(pool: pg.Pool, schema: string, source: string): Promise<void> {
  await inTransaction(pool, async (client) => {
    await client.query(`SET LOCAL search_path TO ${ident(schema)}`);
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [projectorLockKey(schema)]);
    await client.query('TRUNCATE conversation_members, messages, conversations, blocks');
    await client.query(
      `INSERT INTO projector_checkpoints (name, log_seq, source, updated_at) VALUES ($1, 0, $2, now())
       ON CONFLICT (name) DO UPDATE SET log_seq = 0, source = excluded.source, updated_at = excluded.updated_at`,
      [CHECKPOINT_NAME, source],
    );
  });
}

export function consumerConfig(names: Names, config: Config, startSeq: number): Partial<ConsumerConfig> & { durable_name: string } {
  return {
    durable_name: names.consumers.postgres,
    // No filter: the stream holds events only, and a filter, even one equal to the stream's
    // subject, costs nats-server 2.9 a scan of the pending events per recount (durable-consumer.ts).
    // Acking a batch's last event acks the batch; the gap check keeps it from acking anything unapplied.
    ack_policy: AckPolicy.All,
    ...(startSeq > 1 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: startSeq } : { deliver_policy: DeliverPolicy.All }),
    ack_wait: nanos(config.delivery.ackWaitMs),
    max_ack_pending: Math.max(config.delivery.maxAckPending, config.postgres.batchSize * 4),
  };
}

async function consumerInfo(jsm: JetStreamManager, stream: string, name: string): Promise<ConsumerInfo | null> {
  try {
    return await jsm.consumers.info(stream, name);
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

/**
 * Line the durable consumer up with the checkpoint: a consumer that has acked events the read
 * models do not have (the database was restored or replaced, the schema reset) is created again
 * from checkpoint + 1. One behind the checkpoint is fine: the checkpoint skips what it re-reads.
 */
export async function ensurePostgresConsumer(opts: {
  jsm: JetStreamManager;
  names: Names;
  config: Config;
  log: Logger;
  /** The consumer as it was read BEFORE the checkpoint (acks only ever follow commits). */
  before: ConsumerInfo | null;
  checkpoint: number;
}): Promise<void> {
  const { jsm, names, config, log, before, checkpoint } = opts;
  const stream = names.streams.events;
  const want = consumerConfig(names, config, checkpoint + 1);
  if (before) {
    const floor = before.ack_floor.stream_seq;
    // A consumer made with a filter by an earlier version is made again: 2.9 cannot drop a filter.
    if (floor <= checkpoint && before.config.ack_policy === AckPolicy.All && !before.config.filter_subject) {
      if (before.config.ack_wait !== want.ack_wait || before.config.max_ack_pending !== want.max_ack_pending) {
        await jsm.consumers.update(stream, want.durable_name, { ack_wait: want.ack_wait!, max_ack_pending: want.max_ack_pending! });
      }
      return;
    }
    log.warn(
      { ackFloor: floor, checkpoint, ackPolicy: before.config.ack_policy },
      floor > checkpoint ? 'the postgres consumer is ahead of the read models: consuming again from the checkpoint' : 'recreating the postgres consumer',
    );
    await jsm.consumers.delete(stream, want.durable_name);
  }
  await jsm.consumers.add(stream, want);
}

/**
 * Everything the projector needs before it consumes: migrations, a checkpoint of this log (read
 * models of another log are started over), a consumer in line with the checkpoint.
 */
async function prepare(opts: { jsm: JetStreamManager; names: Names; config: Config; log: Logger; db: Database }): Promise<{ source: string }> {
  const { jsm, names, config, log, db } = opts;
  const schema = config.postgres.schema;
  await migrate(db.pool, schema, log);
  const source = sourceOf(await jsm.streams.info(names.streams.events));
  const before = await consumerInfo(jsm, names.streams.events, names.consumers.postgres);
  let checkpoint = await readCheckpoint(db.pool, schema);
  if (checkpoint?.source && checkpoint.source !== source) {
    log.error(
      { schema, stored: checkpoint.source, source },
      `!!! schema ${schema} holds read models of another event log: starting them over from this log`,
    );
    await resetReadModels(db.pool, schema, source);
    checkpoint = { logSeq: 0, source };
  } else if (!checkpoint?.source) {
    await inTransaction(db.pool, async (client) => {
      await client.query(`SET LOCAL search_path TO ${ident(schema)}`);
      await client.query(
        `INSERT INTO projector_checkpoints (name, log_seq, source) VALUES ($1, 0, $2)
         ON CONFLICT (name) DO UPDATE SET source = COALESCE(projector_checkpoints.source, excluded.source)`,
        [CHECKPOINT_NAME, source],
      );
    });
  }
  await ensurePostgresConsumer({ jsm, names, config, log, before, checkpoint: checkpoint?.logSeq ?? 0 });
  return { source };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** How often events held back behind a missing one are offered again when nothing new arrives. */
const HELD_RECHECK_MS = 100;

export async function startPostgresProjector(opts: {
  nc: NatsConnection;
  config: Config;
  names: Names;
  log: Logger;
  db: Database;
}): Promise<PostgresProjector> {
  const { nc, config, names, db } = opts;
  const schema = config.postgres.schema;
  const log = opts.log.child({ component: 'postgres', schema });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const { source } = await prepare({ jsm, names, config, log, db });
  const consumer: Consumer = await js.consumers.get(names.streams.events, names.consumers.postgres);
  const reader = new StreamReader(jsm, names.streams.events);
  const { batchSize, batchMs } = config.postgres;
  const counts: PostgresProjectorStats = {
    batches: 0,
    events: 0,
    skipped: 0,
    invalid: 0,
    sanitized: 0,
    failed: 0,
    parked: 0,
    failingSince: null,
    lastEventSeq: 0,
    checkpoint: 0,
  };
  const atomic = ownTransactions(db.pool);
  const budget = parkingBudget();

  const nothingBetween = async (afterSeq: number, nextSeq: number): Promise<boolean> => {
    const next = await reader.nextAfter(names.subjects.eventsAll, afterSeq);
    return !next || next.seq >= nextSeq;
  };

  /**
   * Messages received and not yet covered by the checkpoint: the batch at hand, plus any held back
   * behind a missing event. Keyed by sequence, so a redelivered copy replaces the first.
   */
  let held = new Map<number, { m: JsMsg; entry: LogEntry }>();
  let waitingFor = 0;

  /** Commit one batch, then ack it (the highest event at or below the new checkpoint; the policy is ack-all). */
  const flush = async (batch: JsMsg[]): Promise<void> => {
    for (const m of batch) {
      const known = held.get(m.seq);
      if (known) known.m = m;
      else {
        const entry = decodeLogEntry(names, { seq: m.seq, subject: m.subject, data: m.data }, log);
        if (entry.event === null) counts.invalid++;
        if (entry.sanitized) counts.sanitized++;
        held.set(m.seq, { m, entry });
      }
    }
    const pending = [...held.values()].sort((a, b) => a.m.seq - b.m.seq);
    // A refused event is parked here, not redelivered for ever (isolate.ts); an outage throws.
    const result = await applyIsolating(
      atomic,
      schema,
      pending.map((p) => p.entry),
      { source, nothingBetween, log, budget },
    );
    const done = pending.filter((p) => p.m.seq <= result.checkpoint);
    done.at(-1)?.m.ack();
    held = new Map(pending.filter((p) => p.m.seq > result.checkpoint).map((p) => [p.m.seq, p]));
    if (result.held.length > 0 && waitingFor !== result.checkpoint + 1) {
      waitingFor = result.checkpoint + 1;
      log.info({ checkpoint: result.checkpoint, holding: result.held.length, from: result.held[0] }, 'holding events back until the earlier ones arrive (redelivery)');
    }
    counts.batches++;
    counts.events += result.applied;
    counts.skipped += result.skipped;
    counts.parked += result.parked.length;
    counts.checkpoint = result.checkpoint;
    for (const m of batch) counts.lastEventSeq = Math.max(counts.lastEventSeq, m.seq);
  };

  let stopped = false;
  let messages: ConsumerMessages | undefined;
  let backoffMs = 250;

  /** The next message, or 'timeout' after `ms`. */
  const within = async (next: Promise<IteratorResult<JsMsg>>, ms: number): Promise<IteratorResult<JsMsg> | 'timeout'> => {
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([next, new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), ms)))]);
    clearTimeout(timer);
    return r;
  };

  /** Consume until the iterator ends (stop) or a batch fails; returns which. */
  const session = async (msgs: ConsumerMessages): Promise<'ended' | 'failed'> => {
    const it = msgs[Symbol.asyncIterator]();
    let next = it.next();
    for (;;) {
      const batch: JsMsg[] = [];
      let ended = false;
      let recheck = false;
      // One timer per batch, not one per message: the batch's deadline is raced by every next().
      let deadline: Promise<'timeout'> | undefined;
      let deadlineTimer: NodeJS.Timeout | undefined;
      while (batch.length < batchSize) {
        let r: IteratorResult<JsMsg> | 'timeout';
        if (deadline) {
          r = await Promise.race([next, deadline]);
        } else if (held.size > 0) {
          // Events held back behind a missing one: look again now and then, even if nothing new
          // comes (another process may have applied the missing one meanwhile).
          r = await within(next, HELD_RECHECK_MS);
          recheck = r === 'timeout';
        } else r = await next;
        if (r === 'timeout') break;
        if (r.done) {
          ended = true;
          break;
        }
        if (batch.length === 0) deadline = new Promise((res) => (deadlineTimer = setTimeout(() => res('timeout'), batchMs)));
        batch.push(r.value);
        next = it.next();
      }
      clearTimeout(deadlineTimer);
      if (batch.length > 0 || recheck) {
        try {
          await flush(batch);
          backoffMs = 250;
          counts.failingSince = null;
        } catch (err) {
          counts.failed++;
          counts.failingSince ??= Date.now();
          log.error({ err, firstSeq: batch[0]?.seq, events: batch.length }, 'read-model batch failed (rolled back); it will be consumed again');
          // Nothing of it was acked: JetStream redelivers it after the ack wait.
          held.clear();
          msgs.stop();
          return 'failed';
        }
      }
      if (ended) return 'ended';
    }
  };

  const loop = (async () => {
    while (!stopped) {
      try {
        // No waiting for what a previous process abandoned: it comes back after its ack wait, and
        // what arrives before it is held back (see flush).
        if (stopped) return;
        messages = await consumer.consume({ max_messages: batchSize * 2 });
        if (stopped) messages.stop();
        const outcome = await session(messages);
        if (outcome === 'ended') {
          if (stopped) return;
          log.warn('postgres consumer ended; consuming again');
        }
        if (outcome === 'failed') {
          await sleep(backoffMs);
          backoffMs = Math.min(backoffMs * 2, 5_000);
        }
      } catch (err) {
        counts.failed++;
        counts.failingSince ??= Date.now();
        log.error({ err }, 'postgres projector failed; retrying');
        await sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, 5_000);
      }
    }
  })();
  log.info({ batchSize, batchMs, database: db.describe }, 'postgres projector consuming events');

  return {
    stats: () => ({ ...counts }),
    async stop() {
      stopped = true;
      messages?.stop();
      await loop;
      log.info(counts, 'postgres projector stopped');
    },
  };
}
