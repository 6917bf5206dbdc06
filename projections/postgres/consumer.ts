import { nanos } from '@nats-io/nats-core';
import { AckPolicy, DeliverPolicy, type ConsumerConfig, type ConsumerInfo, type JetStreamManager } from '@nats-io/jetstream';
import type { Config } from '../../lib/config.js';
import type { Logger } from '../../lib/log.js';
import type { Names } from '../../lib/names.js';
import { isNotFound } from '../../lib/nats.js';

/**
 * The postgres projector's durable consumer (`names.consumers.postgres`): its configuration, and
 * lining it up with the checkpoint at start-up.
 */

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

/** The consumer as it is now, or null when there is none. */
export async function consumerInfo(jsm: JetStreamManager, stream: string, name: string): Promise<ConsumerInfo | null> {
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
