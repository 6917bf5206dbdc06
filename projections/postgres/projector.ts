import type { NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, type Consumer, type JetStreamManager } from '@nats-io/jetstream';
import type { Component } from '../../lib/component.js';
import type { Config } from '../../lib/config.js';
import type { Logger } from '../../lib/log.js';
import type { Names } from '../../lib/names.js';
import type { Database } from '../../lib/pg.js';
import { StreamReader } from '../../lib/stream-reader.js';
import { BatchCommitter, type CommitCounts } from './batch-commit.js';
import { consumeInBatches, type FailureCounts } from './batch-loop.js';
import { adoptSource, readCheckpoint, resetReadModels, sourceOf } from './checkpoint.js';
import { consumerInfo, ensurePostgresConsumer } from './consumer.js';
import { ownTransactions, parkingBudget } from './isolate.js';
import { migrate } from './migrate.js';

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

/** What the projector has done since it started (field by field: CommitCounts, FailureCounts). */
export type PostgresProjectorStats = CommitCounts & FailureCounts;

export type PostgresProjector = Component<PostgresProjectorStats>;

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
    await adoptSource(db.pool, schema, source);
  }
  await ensurePostgresConsumer({ jsm, names, config, log, before, checkpoint: checkpoint?.logSeq ?? 0 });
  return { source };
}

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

  const nothingBetween = async (afterSeq: number, nextSeq: number): Promise<boolean> => {
    const next = await reader.nextAfter(names.subjects.eventsAll, afterSeq);
    return !next || next.seq >= nextSeq;
  };
  const committer = new BatchCommitter({
    names,
    log,
    atomic: ownTransactions(db.pool),
    schema,
    options: { source, nothingBetween, log, budget: parkingBudget() },
    counts,
  });
  const loop = consumeInBatches({ consumer, batchSize, batchMs, log, sink: committer, counts });
  log.info({ batchSize, batchMs, database: db.describe }, 'postgres projector consuming events');

  return {
    stats: () => ({ ...counts }),
    async stop() {
      await loop.stop();
      log.info(counts, 'postgres projector stopped');
    },
  };
}
