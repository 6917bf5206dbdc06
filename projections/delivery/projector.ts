import type { NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { durableConsumer, waitForAbandonedMessages } from '../../lib/durable-consumer.js';
import type { Config } from '../../lib/config.js';
import { decodeJson, encodeJson } from '../../lib/json.js';
import { JetStreamPublisher } from '../../lib/js-publisher.js';
import type { Logger } from '../../lib/log.js';
import type { Names } from '../../lib/names.js';
import { StreamReader } from '../../lib/stream-reader.js';
import { ConversationStore } from '../../engine/conversation-store.js';
import { evolve } from '../../engine/decider.js';
import type { ConversationEvent } from '../../schemas/index.js';
import { deliveryFor } from './inbox-entry.js';

export type DeliveryProjector = {
  stats(): { events: number; writes: number; failed: number; lastEventSeq: number };
  stop(): Promise<void>;
};

/**
 * Reads the event log in order and writes each event to the inbox of every member who should see
 * it. Membership comes from folding the same events with the engine's `evolve`. Inbox writes are
 * pipelined (published in log order on one connection, so each inbox keeps log order) and
 * idempotent (Nats-Msg-Id `<eventSeq>:<userId>`); an event is acked once all its writes are stored.
 */
export async function startDeliveryProjector(opts: {
  nc: NatsConnection;
  config: Config;
  names: Names;
  log: Logger;
}): Promise<DeliveryProjector> {
  const { nc, config, names } = opts;
  const log = opts.log.child({ component: 'delivery' });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const publisher = new JetStreamPublisher(nc);
  const memberships = new ConversationStore(new StreamReader(jsm, names.streams.events), names, config.engine.cacheSize);
  const counts = { events: 0, writes: 0, failed: 0, lastEventSeq: 0 };
  const inFlight = new Set<Promise<void>>();

  const consumer = await durableConsumer(jsm, js, {
    stream: names.streams.events,
    durable: names.consumers.delivery,
    filterSubject: names.subjects.eventsAll,
    ackWaitMs: config.delivery.ackWaitMs,
    maxAckPending: config.delivery.maxAckPending,
  });
  let stopped = false;
  let messages: ConsumerMessages | undefined;

  const project = async (m: JsMsg): Promise<void> => {
    const conversationId = names.subjects.conversationOfSubject(m.subject);
    if (!conversationId) {
      m.ack(); // user-level events have no inbox fan-out (yet)
      return;
    }
    const event = decodeJson<ConversationEvent>(m.data);
    const state = await memberships.before(conversationId, m.seq);
    const before = [...state.members.keys()];
    // A redelivered event is already folded in; the members are then "after" for both.
    if (state.version < m.seq) evolve(state, event, m.seq);
    const { recipients, entry } = deliveryFor(event, m.seq, before, state.members.keys());
    const bytes = encodeJson(entry);
    const writes = recipients.map((userId) =>
      publisher.publish(names.subjects.inbox(userId), bytes, { msgId: `${m.seq}:${userId}` }),
    );
    counts.writes += writes.length;
    const done = Promise.all(writes).then(
      () => {
        counts.events++;
        counts.lastEventSeq = Math.max(counts.lastEventSeq, m.seq);
        m.ack();
      },
      (err: unknown) => {
        counts.failed++;
        log.warn({ err, seq: m.seq }, 'inbox write failed, event will be redelivered');
        memberships.forget(conversationId);
        m.nak(1_000);
      },
    );
    inFlight.add(done);
    void done.finally(() => inFlight.delete(done));
  };

  const loop = (async () => {
    // Inbox order is log order only if a restarted projector does not run ahead of what it abandoned.
    if (!(await waitForAbandonedMessages(consumer, config.delivery.ackWaitMs, log, () => stopped))) return;
    messages = await consumer.consume({ max_messages: 1024 });
    for await (const m of messages) {
      try {
        await project(m);
      } catch (err) {
        counts.failed++;
        log.error({ err, seq: m.seq }, 'event could not be projected, will be redelivered');
        m.nak(1_000);
      }
    }
  })().catch((err: unknown) => log.error({ err }, 'delivery consumer failed'));
  log.info('delivery projector consuming events');

  return {
    stats: () => ({ ...counts }),
    async stop() {
      stopped = true;
      messages?.stop();
      await loop;
      await Promise.allSettled([...inFlight]);
      await publisher.close();
      log.info(counts, 'delivery projector stopped');
    },
  };
}
