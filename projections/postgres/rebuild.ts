import type { NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, type ConsumerInfo, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import type { Config } from '../../lib/config.js';
import { ackFloorOf } from '../../lib/durable-consumer.js';
import { Kvm } from '@nats-io/kv';
import { deliveryDurables } from '../../lib/delivery-durables.js';
import { readLeaseHolders } from '../../lib/leases.js';
import type { Logger } from '../../lib/log.js';
import type { Names } from '../../lib/names.js';
import { ident, inTransaction, type Database } from '../../lib/pg.js';
import { deferForBulkLoad, restoreAfterBulkLoad } from './bulk-schema.js';
import { migrate } from './migrate.js';
import { applyIsolating, ownTransactions, savepoints } from './isolate.js';
import { listParked, type ParkedEvent } from './park.js';
import { projectorLockKey, readCheckpoint, sourceOf } from './checkpoint.js';
import { decodeLogEntry, type LogEntry } from './decode.js';

/**
 * Rebuild the read models from the whole log, without taking them away from readers:
 *
 * 1. `<schema>_rebuild` is created afresh (migrations) and filled from an ordered consumer (no
 *    durable state, no acks) in large batches, through the projector's own batch function, up to
 *    the log's last sequence at the start. What only serves a bulk load differs from the live
 *    projector, never the rows: the schema fills without its foreign keys and plain indexes
 *    (bulk-schema.ts; put back before the swap), runs of messages go in with COPY
 *    (copy-insert.ts), batches are large, and the next batch is read and decoded while the
 *    database writes the current one.
 * 2. The swap is one transaction: it takes the schema's projector lock (a live projector's next
 *    batch waits for it), reads the live checkpoint L, applies the events up to L that the rebuild
 *    has not reached yet, then renames `<schema>` → `<schema>_old` and `<schema>_rebuild` →
 *    `<schema>`. The new schema's checkpoint is therefore at or past everything the live projector
 *    has acked: it carries on with its next event, or steps over (acks without applying) events the
 *    rebuild already applied. Nothing is applied twice, nothing is missed, and the durable consumer
 *    need not move; a projector that starts later lines its consumer up with the checkpoint.
 * 3. `<schema>_old` is dropped.
 *
 * An event Postgres refuses to store does not stop the rebuild: it is parked in the rebuilt
 * schema's `parked_events` as the live projector would park it (isolate.ts), and the rebuild goes on.
 * Events parked in the old schema are replayed like every other: once swapped in, the table lists
 * only those that still fail.
 */

export type RebuildResult = {
  events: number;
  seconds: number;
  eventsPerSec: number;
  /** The log sequence the rebuilt read models stand at. */
  lastSeq: number;
  /** Events applied under the swap's lock because the live projector was ahead. */
  caughtUp: number;
  /** Events Postgres refused, parked in the rebuilt schema. */
  parked: number;
};

/**
 * Events per transaction. Large: the conversations and members a batch touches are updated once
 * per batch, and its messages are written in one COPY.
 */
const REBUILD_BATCH = 10_000;
/** The first batch; each next one is twice as large, up to the batch size. */
const FIRST_BATCH = 1_000;
/** How long the log may deliver nothing before the rebuild gives up. */
const STALL_MS = 30_000;

export async function rebuildReadModels(opts: {
  nc: NatsConnection;
  config: Config;
  names: Names;
  log: Logger;
  db: Database;
  onProgress?: (done: number, total: number, eventsPerSec: number) => void;
  /** Events per transaction (default 10000). */
  batchSize?: number;
  /** The schema to rebuild (default config.postgres.schema). */
  schema?: string;
  /** Called between the bulk phase and the swap (tests use it to let the live projector run ahead). */
  beforeSwap?: () => Promise<void>;
}): Promise<RebuildResult> {
  const { nc, names, db } = opts;
  const target = opts.schema ?? opts.config.postgres.schema;
  const work = `${target}_rebuild`;
  const old = `${target}_old`;
  const batchSize = opts.batchSize ?? REBUILD_BATCH;
  // COPY needs a real Postgres: PGlite's socket server does not speak the COPY sub-protocol.
  const copy = !db.embedded;
  const log = opts.log.child({ component: 'postgres-rebuild', schema: target });
  const started = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - started) / 1e9;

  // One rebuild of a schema at a time (an embedded database is one process's already).
  const guard = db.embedded ? undefined : await db.pool.connect();
  const onGuardError = (err: Error) => log.warn({ err }, 'the rebuild lock connection was lost');
  guard?.on('error', onGuardError);
  try {
    if (guard) {
      const got = await guard.query('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok', [`parley.rebuild.${target}`]);
      if (!got.rows[0]?.ok) throw new Error(`another rebuild of schema ${target} is running`);
    }
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(names.streams.events);
    const source = sourceOf(info);
    const total = info.state.last_seq;
    await db.pool.query(`DROP SCHEMA IF EXISTS ${ident(work)} CASCADE`);
    await migrate(db.pool, work, log);
    const deferred = await deferForBulkLoad(db.pool, work);
    log.info({ events: info.state.messages, lastSeq: total, batchSize }, 'rebuilding read models from the log');

    const consumer = await jetstream(nc).consumers.get(names.streams.events);
    const messages: ConsumerMessages = await consumer.consume({ max_messages: Math.max(batchSize * 2, 20_000) });
    const it = messages[Symbol.asyncIterator]();
    let applied = 0;
    let caughtUp = 0;
    let parked = 0;
    let reached = 0;
    /** The next messages of the log, up to `size` or up to `until`, whichever comes first. */
    const take = async (until: number, size = batchSize): Promise<LogEntry[]> => {
      const entries: LogEntry[] = [];
      // One timer per batch, pushed back by every message: a stall is 30 s without one.
      let timer: NodeJS.Timeout | undefined;
      const stalled = new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), STALL_MS)));
      try {
        while (entries.length < size && reached < until) {
          const r = await Promise.race([it.next(), stalled]);
          if (r === 'timeout') throw new Error(`the log stopped delivering at ${reached} (wanted ${until})`);
          if (r.done) throw new Error('the ordered consumer ended');
          const m: JsMsg = r.value;
          entries.push(decodeLogEntry(names, { seq: m.seq, subject: m.subject, data: m.data }, log));
          reached = m.seq;
          timer!.refresh();
        }
      } finally {
        clearTimeout(timer);
      }
      return entries;
    };

    try {
      // Read and decode the next batch while the database writes this one.
      const ahead = (p: Promise<LogEntry[]>) => {
        p.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
        return p;
      };
      // The first batches are small and grow to batchSize: the database starts writing early
      // instead of waiting for a whole large batch to be read.
      let size = Math.min(batchSize, FIRST_BATCH);
      const grow = () => (size = Math.min(batchSize, size * 2));
      let next = reached < total ? ahead(take(total, size)) : undefined;
      while (next) {
        const entries = await next;
        const writing = applyIsolating(ownTransactions(db.pool), work, entries, { source, copy, log });
        next = reached < total ? ahead(take(total, grow())) : undefined;
        parked += (await writing).parked.length;
        applied += entries.length;
        opts.onProgress?.(entries.at(-1)!.seq, total, applied / elapsed());
      }
      await restoreAfterBulkLoad(db.pool, deferred);
      await opts.beforeSwap?.();

      await inTransaction(db.pool, async (client) => {
        await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [projectorLockKey(target)]);
        const live = await readCheckpoint(client, target);
        const liveSeq = live && (live.source === null || live.source === source) ? live.logSeq : 0;
        while (reached < liveSeq) {
          const entries = await take(liveSeq);
          // In savepoints: a refused statement aborts the transaction it runs in, and this one must
          // survive it (it holds the lock and does the swap).
          parked += (await applyIsolating(savepoints(client), work, entries, { source, copy, log })).parked.length;
          applied += entries.length;
          caughtUp += entries.length;
        }
        await client.query(`DROP SCHEMA IF EXISTS ${ident(old)} CASCADE`);
        const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [target]);
        if (exists.rowCount) {
          // Presence is not in the log: the rebuilt schema takes the live one's (migration 005).
          const presence = await client.query('SELECT to_regclass($1) AS t', [`${ident(target)}.presence`]);
          if (presence.rows[0].t) await client.query(`INSERT INTO ${ident(work)}.presence SELECT user_id, is_online, last_seen FROM ${ident(target)}.presence`);
          await client.query(`ALTER SCHEMA ${ident(target)} RENAME TO ${ident(old)}`);
        }
        await client.query(`ALTER SCHEMA ${ident(work)} RENAME TO ${ident(target)}`);
        log.info({ liveCheckpoint: liveSeq, rebuiltTo: reached }, 'swapped the rebuilt read models in');
      });
    } finally {
      messages.stop();
    }
    await db.pool.query(`DROP SCHEMA IF EXISTS ${ident(old)} CASCADE`);
    const seconds = elapsed();
    const result = { events: applied, seconds, eventsPerSec: seconds > 0 ? applied / seconds : 0, lastSeq: reached, caughtUp, parked };
    log.info(result, 'read models rebuilt');
    return result;
  } finally {
    if (guard) {
      await guard.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [`parley.rebuild.${target}`]).catch(() => undefined);
      guard.off('error', onGuardError);
      guard.release(true); // a session lock lives with its connection: never hand it back to the pool
    }
  }
}

export type ProjectorStatus = {
  name: 'delivery' | 'postgres';
  consumer: string;
  exists: boolean;
  /** Stream sequence up to which every event is acked. */
  ackFloor: number;
  /** Events not delivered to the consumer yet. */
  pending: number;
  /** Delivered, not acked yet. */
  ackPending: number;
  /** delivery only: the delivery partition this row is (PARLEY_DELIVERY_PARTITIONS). */
  partition?: number;
  /** delivery only: the projector holding the partition's lease (null: nobody, while it moves). */
  owner?: string | null;
  /** Events of the log behind this projector (by checkpoint for postgres, by ack floor otherwise). */
  lag: number;
  /** postgres only: the checkpoint stored with the read models (null: none yet). */
  checkpoint?: number | null;
  /** postgres only: events Postgres refused, set aside; their effects are missing from the read models. */
  parked?: ParkedEvent[];
};

export type ProjectionsStatus = { stream: string; lastSeq: number; messages: number; projectors: ProjectorStatus[] };

/** Where each projector stands against the log. */
export async function projectorStatus(opts: { nc: NatsConnection; names: Names; db?: Database; config: Config }): Promise<ProjectionsStatus> {
  const { nc, names, db, config } = opts;
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(names.streams.events);
  const lastSeq = info.state.last_seq;
  const consumer = async (name: string): Promise<ConsumerInfo | null> => jsm.consumers.info(names.streams.events, name).catch(() => null);
  const describe = (name: 'delivery' | 'postgres', durable: string, ci: ConsumerInfo | null): ProjectorStatus => {
    const ackFloor = ci ? ackFloorOf(ci) : 0;
    return {
      name,
      consumer: durable,
      exists: ci !== null,
      ackFloor,
      pending: ci?.num_pending ?? 0,
      ackPending: ci?.num_ack_pending ?? 0,
      lag: Math.max(0, lastSeq - ackFloor),
    };
  };
  // One row per delivery partition (each reads the whole log: its lag is its own).
  const durables = await deliveryDurables(jsm, names);
  // No lease bucket yet (nothing started on this NATS): nobody holds anything.
  const holders = await new Kvm(nc)
    .open(names.buckets.deliveryLeases)
    .then((kv) => readLeaseHolders(kv, config.delivery.partitions, config.engine.leaseMs))
    .catch(() => []);
  const delivery = Array.from({ length: config.delivery.partitions }, (_, p) => {
    const durable = names.consumers.deliveryPartition(p, config.delivery.partitions);
    return { ...describe('delivery', durable, durables.find((c) => c.name === durable) ?? null), partition: p, owner: holders[p]?.owner ?? null };
  });
  const postgres = describe('postgres', names.consumers.postgres, await consumer(names.consumers.postgres));
  if (db) {
    const checkpoint = await readCheckpoint(db.pool, config.postgres.schema);
    postgres.checkpoint = checkpoint?.logSeq ?? null;
    postgres.lag = Math.max(0, lastSeq - (checkpoint?.logSeq ?? 0));
    postgres.parked = await listParked(db.pool, config.postgres.schema);
  }
  return { stream: names.streams.events, lastSeq, messages: info.state.messages, projectors: [...delivery, postgres] };
}
