import { nanos } from '@nats-io/nats-core';
import { AckPolicy, DeliverPolicy, type Consumer, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from './log.js';

export type DurableSpec = { stream: string; durable: string; filterSubject: string; ackWaitMs: number; maxAckPending: number };

/** Create (or update) an explicit-ack durable pull consumer and bind to it. */
export async function durableConsumer(jsm: JetStreamManager, js: JetStreamClient, spec: DurableSpec): Promise<Consumer> {
  await jsm.consumers.add(spec.stream, {
    durable_name: spec.durable,
    filter_subject: spec.filterSubject,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(spec.ackWaitMs),
    max_ack_pending: spec.maxAckPending,
  });
  return js.consumers.get(spec.stream, spec.durable);
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
