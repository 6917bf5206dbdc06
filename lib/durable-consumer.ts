import { nanos } from '@nats-io/nats-core';
import { AckPolicy, DeliverPolicy, type Consumer, type ConsumerInfo, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from './log.js';
import { isNotFound } from './nats.js';

/**
 * filterSubject: leave it out when the consumer reads its whole stream, even if it would equal the
 * stream's subject. nats-server 2.9 recounts a consumer's pending messages on many deliveries, and
 * with a filter such as `<prefix>.ev.>` (the projectors had it on the events stream, whose only
 * subject it is) the recount compares the subject of every pending message: with a few thousand
 * pending, nats-server spent 86–89 % of its CPU in consumer.streamNumPending → FilteredState
 * (pprof of nats-server during `bench load` at 10,000 msg/s offered) and deliveries stalled for
 * 8–20 s.
 */
export type DurableSpec = {
  stream: string;
  durable: string;
  filterSubject?: string;
  ackWaitMs: number;
  maxAckPending: number;
  /**
   * durableFromAckFloor: a consumer made for the first time starts after the stream's last message
   * instead of at its first (the push projector: a deployment that turns it on must not push
   * every message of its history).
   */
  newFromEnd?: boolean;
  /**
   * durableFromAckFloor: where a consumer made for the first time starts, taken over from the
   * durables it replaces (the delivery projector's earlier partition layouts).
   */
  seed?: { ackFloor: number; deliveredBefore: number };
};

/**
 * Create (or update) an explicit-ack durable pull consumer and bind to it. One made by an earlier
 * version with another filter is made again from its ack floor (2.9 cannot change a filter); what
 * it delivers again above the floor, the reader must take idempotently.
 */
export async function durableConsumer(jsm: JetStreamManager, js: JetStreamClient, spec: DurableSpec): Promise<Consumer> {
  const existing = await consumerInfoOrNull(jsm, spec.stream, spec.durable);
  let startSeq = 0;
  if (existing && (existing.config.filter_subject ?? '') !== (spec.filterSubject ?? '')) {
    startSeq = ackFloorOf(existing) + 1;
    await jsm.consumers.delete(spec.stream, spec.durable);
  }
  await jsm.consumers.add(spec.stream, {
    durable_name: spec.durable,
    ...(spec.filterSubject ? { filter_subject: spec.filterSubject } : {}),
    ack_policy: AckPolicy.Explicit,
    ...(startSeq > 1 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: startSeq } : { deliver_policy: DeliverPolicy.All }),
    ack_wait: nanos(spec.ackWaitMs),
    max_ack_pending: spec.maxAckPending,
  });
  return js.consumers.get(spec.stream, spec.durable);
}

/**
 * An ack-policy-"all" durable, created afresh at its ack floor on every start, and that floor.
 *
 * Recreating it is what makes its deliveries arrive in stream order: JetStream 2.9.10 hands
 * messages a stopped process was holding back only after their ack wait, and after newer ones. A
 * fresh consumer starting at floor + 1 delivers everything above the floor again, in order; the
 * messages the old process had finished but not yet acked come again and must be idempotent.
 * Only one process may consume the durable (it is deleted under anyone else). `deliveredBefore`:
 * the highest stream sequence the previous consumer had delivered (at or below it, a message may
 * have been handled already).
 */
export async function durableFromAckFloor(
  jsm: JetStreamManager,
  js: JetStreamClient,
  spec: DurableSpec,
  log: Logger,
): Promise<{ consumer: Consumer; ackFloor: number; deliveredBefore: number }> {
  const existing = await consumerInfoOrNull(jsm, spec.stream, spec.durable);
  const ackFloor = existing ? ackFloorOf(existing) : (spec.seed?.ackFloor ?? (spec.newFromEnd ? (await jsm.streams.info(spec.stream)).state.last_seq : 0));
  const deliveredBefore = existing?.delivered.stream_seq ?? spec.seed?.deliveredBefore ?? 0;
  if (existing) {
    if (existing.num_ack_pending > 0 || existing.num_pending > 0) {
      log.info({ ackFloor, unacked: existing.num_ack_pending, pending: existing.num_pending }, 'consuming again from the ack floor');
    }
    await jsm.consumers.delete(spec.stream, spec.durable);
  }
  await jsm.consumers.add(spec.stream, {
    durable_name: spec.durable,
    ...(spec.filterSubject ? { filter_subject: spec.filterSubject } : {}),
    ack_policy: AckPolicy.All,
    ...(ackFloor > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: ackFloor + 1 } : { deliver_policy: DeliverPolicy.All }),
    ack_wait: nanos(spec.ackWaitMs),
    max_ack_pending: spec.maxAckPending,
  });
  return { consumer: await js.consumers.get(spec.stream, spec.durable), ackFloor, deliveredBefore };
}

/**
 * The stream sequence at and below which a consumer has nothing left to do. nats-server 2.9.10
 * reports an ack floor of 0 for a consumer made to start at a sequence until its first ack (a push
 * projector's durable made at the end of the log, before any new event): taken as is, the durable
 * made again from it would start at the log's first event, and push the whole history.
 */
export function ackFloorOf(c: ConsumerInfo): number {
  const startedAfter = c.config.deliver_policy === DeliverPolicy.StartSequence && c.config.opt_start_seq ? c.config.opt_start_seq - 1 : 0;
  return Math.max(c.ack_floor.stream_seq, startedAfter);
}

/**
 * An explicit-ack durable on a work-queue stream, created afresh on every start, and the highest
 * stream sequence the previous consumer had delivered.
 *
 * A work-queue stream keeps every message until it is acked, so a new consumer simply delivers
 * what is left, in stream order — including what a stopped process was holding, at once rather
 * than after its ack wait and behind newer messages (JetStream 2.9.10). A message at or below
 * `deliveredBefore` may have been handled already: treat it as a redelivery.
 */
export async function freshWorkQueueConsumer(
  jsm: JetStreamManager,
  js: JetStreamClient,
  spec: DurableSpec,
  log: Logger,
): Promise<{ consumer: Consumer; deliveredBefore: number }> {
  const existing = await consumerInfoOrNull(jsm, spec.stream, spec.durable);
  const deliveredBefore = existing?.delivered.stream_seq ?? 0;
  if (existing) {
    if (existing.num_ack_pending > 0) log.info({ unacked: existing.num_ack_pending, deliveredBefore }, 'taking over unacknowledged messages');
    await jsm.consumers.delete(spec.stream, spec.durable);
  }
  return { consumer: await durableConsumer(jsm, js, spec), deliveredBefore };
}

async function consumerInfoOrNull(jsm: JetStreamManager, stream: string, durable: string) {
  return jsm.consumers.info(stream, durable).catch((err: unknown) => {
    if (isNotFound(err)) return null;
    throw err;
  });
}

/**
 * A process that died holding messages leaves them pending until ack_wait passes; JetStream would
 * meanwhile hand newer messages to the new process, out of log order. Waiting out ack_wait first
 * keeps the order (one process per durable consumer). Resolves false if `stopped()` turns true.
 */
export async function waitForAbandonedMessages(consumer: Consumer, ackWaitMs: number, log: Logger, stopped: () => boolean): Promise<boolean> {
  const pending = (await consumer.info()).num_ack_pending;
  if (pending === 0) return true;
  log.warn({ pending, waitMs: ackWaitMs }, 'waiting for messages held by a stopped process to come back');
  await new Promise((r) => setTimeout(r, ackWaitMs + 200));
  return !stopped();
}
