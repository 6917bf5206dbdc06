import type { NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { Component } from '../../lib/component.js';
import type { Config } from '../../lib/config.js';
import { AckFloor } from '../../lib/ack-floor.js';
import { durableFromAckFloor } from '../../lib/durable-consumer.js';
import { removeEarlierLayouts, seedFromEarlierLayouts } from '../../lib/delivery-durables.js';
import { PartitionLeases } from '../../lib/leases.js';
import { runWhileHeld } from '../../lib/while-held.js';
import { eventPartition } from '../../lib/partition.js';
import { decodeJson } from '../../lib/json.js';
import { encodeInboxEntry } from '../../lib/inbox-entry-bytes.js';
import { JetStreamPublisher } from '../../lib/js-publisher.js';
import { formatUnreadHeader, type UnreadCount } from '../../lib/unread-header.js';
import { KeyedQueue } from '../../lib/keyed-queue.js';
import type { Logger } from '../../lib/log.js';
import { headers, type Names } from '../../lib/names.js';
import { StreamReader } from '../../lib/stream-reader.js';
import { AggregateStore, conversations } from '../../lib/aggregate-store.js';
import { snapshotsFor } from '../../lib/snapshots.js';
import type { ConversationEvent, UserEvent } from '../../schemas/index.js';
import { beforeOf, deliveriesFor, subjectUserOf, unreadAffected, userDeliveriesFor, type Delivery } from './inbox-entry.js';
import { InboxWriter } from './inbox-writer.js';
import { entriesStoredBefore } from './stored-before.js';
import { LiveUnreadUpdates } from './live-unread.js';
import { UnreadTotals } from './unread-totals.js';

/** How often the finished prefix of events is acked (one ack for all of them). */
const ACK_EVERY_MS = 20;

/**
 * Inbox and unread writes awaiting their stream acknowledgement before the loop stops taking events
 * (it goes on at half). max_ack_pending bounds events, not writes: a group event is one write per
 * member, and 10,000 events of groups of 50 put 500,000 writes before nats-server at once; their
 * acks passed the 5 s timeout, the events were redelivered, and delivery fell from ~11k to ~3.6k
 * entries/s.
 */
const MAX_PENDING_WRITES = 10_000;

export type DeliveryProjectorStats = { events: number; writes: number; failed: number; lastEventSeq: number; partitions: number[] };

export type DeliveryProjector = Component<DeliveryProjectorStats>;

/**
 * Reads the event log in order and writes each event to the inbox of every member who should see
 * it. Membership, watermarks and unread counts come from folding the same events with the
 * engine's `evolve`. Inbox writes are pipelined across inboxes and in order within each (one at a
 * time per inbox, a failed one retried in place: inbox-writer.ts), and idempotent (Nats-Msg-Id
 * `<eventSeq>:<userId>[:n]`); an event is acked once all its writes are stored. A changed unread
 * count rides on the recipient's entry (header, lib/unread-header.ts: the gateway sends it with the
 * entry) and goes into the unread KV bucket (coalesced: see unread-totals.ts).
 *
 * The work is split in PARLEY_DELIVERY_PARTITIONS partitions (by conversation, and by user for a
 * user's own events) that any number of projectors share by leases, as engines share the command
 * partitions (lib/leases.ts): a partition's durable reads the whole log and projects its own
 * events (lib/delivery-durables.ts says why, and what it costs).
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
  const publisher = new JetStreamPublisher(nc, { coalesceWrites: true });
  // Each inbox in log order, whatever fails (inbox-writer.ts); different inboxes stay pipelined.
  const inboxes = new InboxWriter(
    (subject, bytes, msgId, unread) => publisher.publish(subject, bytes, { msgId, ...(unread !== undefined ? { headers: { [headers.unread]: unread } } : {}) }),
    { log },
  );
  const snapshots = snapshotsFor('delivery', { jsm, publisher, names, config, log });
  const memberships = new AggregateStore(new StreamReader(jsm, names.streams.events), conversations(names), config.engine.cacheSize, snapshots);
  const unread = new UnreadTotals(
    new StreamReader(jsm, names.kv.stream(names.buckets.unread)),
    publisher,
    names,
    config.engine.cacheSize,
    config.delivery.unreadFlushMs,
  );
  const liveUnread = new LiveUnreadUpdates(nc, names);
  const counts = { events: 0, writes: 0, failed: 0, lastEventSeq: 0 };
  const partitions = config.delivery.partitions;
  /** The partitions this projector holds a lease on, each with its consumer and what it has in flight. */
  const running = new Map<number, RunningPartition>();

  /**
   * `actorId`: who caused the event; only their copies keep the entry's `origin` (schemas/inbox-entry.ts).
   * `counts`: the unread changes of the event, per user; the first entry the event writes to that
   * user carries it, and is taken out of the map (what is left had no entry to ride on).
   */
  const write = (
    r: RunningPartition,
    deliveries: Delivery[],
    eventSeq: number,
    actorId: string,
    counts?: Map<string, Promise<UnreadCount | undefined>>,
  ): Promise<unknown>[] => {
    const writes: Promise<unknown>[] = [];
    deliveries.forEach((d, i) => {
      // Encoded once for the actor's copy and once for everyone else's, each only if someone gets it.
      let withOrigin: Uint8Array | undefined;
      let bare: Uint8Array | undefined;
      const bytesFor = (userId: string) =>
        userId === actorId || d.entry.origin === undefined
          ? (withOrigin ??= encodeInboxEntry(d.entry))
          : (bare ??= encodeInboxEntry(d.entry, { withOrigin: false }));
      // One event may write several entries to one inbox (two status ranges): number them.
      const suffix = i === 0 ? '' : `:${i}`;
      for (const userId of d.recipients) {
        const count = counts?.get(userId);
        if (count) counts!.delete(userId);
        const msgId = `${eventSeq}:${userId}${suffix}`;
        if (r.alreadyStored?.has(msgId)) continue;
        const header = count?.then((c) => (c ? formatUnreadHeader(c) : undefined));
        writes.push(inboxes.write(userId, names.subjects.inbox(userId), bytesFor(userId), msgId, header));
      }
    });
    return writes;
  };

  /**
   * What projecting one event started: its inbox writes, its unread-count writes (the ack waits for
   * both), and what goes once the inbox writes are stored: a changed count that no entry carried,
   * on the user's ephemeral subject, so a client never sees a count before the message that caused
   * it. Neither waits for the KV write: that one is coalesced over `unreadFlushMs` (a second by
   * default), far longer than a badge may lag.
   */
  type Projected = { inboxWrites: Promise<unknown>[]; unreadWrites: Promise<unknown>[]; unreadUsers: string[]; afterInbox: (() => void)[] };
  const nothingProjected = (): Projected => ({ inboxWrites: [], unreadWrites: [], unreadUsers: [], afterInbox: [] });

  // One lane per user: a cold user's totals load from KV without holding up the ordered loop (a
  // load starting on cold users stalled delivery at ~100 events/s); a user's writes keep their order.
  const unreadLanes = new KeyedQueue();

  /** Record a count; resolves to the user's new counts, or undefined when it did not change. */
  const updateUnread = (userId: string, conversationId: string, value: number, out: Projected): Promise<UnreadCount | undefined> => {
    out.unreadUsers.push(userId);
    const changed = unreadLanes.run(userId, () => unread.set(userId, conversationId, value));
    out.unreadWrites.push(changed.then((c) => c?.stored));
    return changed.then((c) => (c ? { conversationId, unread: value, totalUnread: c.total } : undefined));
  };

  const projectConversation = async (r: RunningPartition, m: JsMsg, conversationId: string): Promise<Projected> => {
    const event = decodeJson<ConversationEvent>(m.data);
    const state = await memberships.before(conversationId, m.seq);
    const before = beforeOf(state, subjectUserOf(event));
    // A redelivered event is already folded in; what it changed is then already visible.
    if (state.version < m.seq) {
      memberships.kind.evolve(state, event, m.seq);
      memberships.folded(state);
    }
    const out = nothingProjected();
    const counts = new Map<string, Promise<UnreadCount | undefined>>();
    for (const userId of unreadAffected(event, before)) counts.set(userId, updateUnread(userId, conversationId, state.unread.get(userId) ?? 0, out));
    out.inboxWrites = write(r, deliveriesFor(event, m.seq, before, state), m.seq, event.actor.id, counts);
    for (const [userId, count] of counts) {
      out.afterInbox.push(() => {
        void count.then(
          (c) => c && liveUnread.queue(userId, c),
          () => undefined, // the failure is the ack's to handle (unreadWrites)
        );
      });
    }
    return out;
  };

  const project = async (r: RunningPartition, m: JsMsg): Promise<void> => {
    const acks = r.acks;
    const conversationId = names.subjects.conversationOfSubject(m.subject);
    const userId = names.subjects.userOfSubject(m.subject);
    let out = nothingProjected();
    if (conversationId) out = await projectConversation(r, m, conversationId);
    else if (userId) out.inboxWrites = write(r, userDeliveriesFor(decodeJson<UserEvent>(m.data), m.seq), m.seq, userId);
    counts.writes += out.inboxWrites.length;
    const inboxStored = Promise.all(out.inboxWrites);
    void inboxStored.then(
      () => {
        for (const send of out.afterInbox) send();
      },
      () => undefined, // handled below
    );
    const done = Promise.all([inboxStored, ...out.unreadWrites]).then(
      () => {
        counts.events++;
        counts.lastEventSeq = Math.max(counts.lastEventSeq, m.seq);
        acks.done(m.seq);
      },
      (err: unknown) => {
        counts.failed++;
        log.warn({ err, seq: m.seq }, 'inbox or unread write failed, event will be redelivered');
        // Both caches may now be ahead of what is stored: reload them when the event comes back.
        if (conversationId) memberships.forget(conversationId);
        for (const u of out.unreadUsers) unread.forget(u);
        m.nak(1_000);
      },
    );
    r.inFlight.add(done);
    void done.finally(() => r.inFlight.delete(done));
  };

  /** Read one partition's durable: its own events projected, the others' acked as they pass. */
  const consume = async (p: number, r: RunningPartition, messages: ConsumerMessages): Promise<void> => {
    for await (const m of messages) {
      // A redelivery of an event still in progress (a nak, a long ack wait) is projected again: its
      // writes are idempotent. One already covered by our ack needs nothing.
      if (r.acks.track(m) === 'already-acked') continue;
      if (eventPartition(names, m.subject, partitions) !== p) {
        r.acks.done(m.seq);
        continue;
      }
      // Inbox writes queued behind their inbox's earlier ones count too: they are not published yet.
      if (inboxes.queued >= MAX_PENDING_WRITES) await inboxes.whenQueuedBelow(MAX_PENDING_WRITES / 2);
      if (publisher.pending >= MAX_PENDING_WRITES) await publisher.whenPendingBelow(MAX_PENDING_WRITES / 2);
      try {
        await project(r, m);
      } catch (err) {
        counts.failed++;
        log.error({ err, seq: m.seq, partition: p }, 'event could not be projected, will be redelivered');
        m.nak(1_000);
      }
    }
  };

  /** A lease was taken: the partition's durable afresh from its ack floor (seeded from earlier layouts if it is new). */
  const startPartition = (p: number): void => {
    const r: RunningPartition = { acks: new AckFloor<JsMsg>(0), alreadyStored: null, deliveredBefore: 0, inFlight: new Set(), stopping: false, loop: Promise.resolve() };
    running.set(p, r);
    const plog = log.child({ partition: p });
    r.loop = runWhileHeld({
      run: () => runPartition(p, r, plog),
      stopping: () => r.stopping,
      confirm: () => leases.confirm(p),
      log: plog,
    }).catch((err: unknown) => plog.error({ err }, 'delivery partition consumer failed'));
  };

  /** One attempt at a partition: its durable made again from the ack floor, then consumed until stopped. */
  const runPartition = async (p: number, r: RunningPartition, plog: Logger): Promise<void> => {
    // A second attempt: the first's events finish first (each acks on the consumer it came from).
    await Promise.allSettled([...r.inFlight]);
    const durable = names.consumers.deliveryPartition(p, partitions);
    const exists = await jsm.consumers.info(names.streams.events, durable).then(() => true, () => false);
    const seed = exists ? null : await seedFromEarlierLayouts(jsm, names, partitions);
    if (seed) plog.info({ durable, ...seed }, 'new delivery partition durable, starting where the earlier layout stood');
    const { consumer, ackFloor, deliveredBefore } = await durableFromAckFloor(
      jsm,
      js,
      {
        stream: names.streams.events,
        durable,
        // No filter: the stream holds events only, and every partition reads all of them (see delivery-durables.ts).
        ackWaitMs: config.delivery.ackWaitMs,
        maxAckPending: config.delivery.maxAckPending,
        ...(seed ? { seed } : {}),
      },
      plog,
    );
    await removeEarlierLayouts(jsm, names, partitions, plog);
    r.alreadyStored = await entriesStoredBefore({
      jsm,
      js,
      names,
      ackFloor,
      deliveredBefore,
      duplicateWindowMs: config.inbox.duplicateWindowSec * 1000,
      log: plog,
    });
    // Events finish out of order (their inbox writes are pipelined); one ack covers all finished ones.
    r.acks = new AckFloor<JsMsg>(ackFloor);
    r.deliveredBefore = deliveredBefore;
    if (r.stopping) return;
    r.messages = await consumer.consume({ max_messages: 1024 });
    if (r.stopping) r.messages.stop();
    await consume(p, r, r.messages);
  };

  /** The lease is gone: stop pulling, let the events started finish and ack them before anyone else may take it. */
  const stopPartition = async (p: number): Promise<void> => {
    const r = running.get(p);
    if (!r) return;
    r.stopping = true;
    r.messages?.stop();
    await r.loop;
    await Promise.allSettled([...r.inFlight]);
    await unread.flush();
    await Promise.allSettled([...r.inFlight]);
    r.acks.flush();
    if (running.get(p) === r) running.delete(p);
  };

  const ackTimer = setInterval(() => {
    for (const r of running.values()) {
      r.acks.flush();
      // Past the events a stopped projector had delivered, no entry can have been stored before.
      if (r.alreadyStored && r.acks.acked >= r.deliveredBefore) r.alreadyStored = null;
    }
  }, ACK_EVERY_MS);
  const leases = new PartitionLeases(
    await new Kvm(nc).open(names.buckets.deliveryLeases),
    { partitions, leaseMs: config.engine.leaseMs },
    { acquired: startPartition, lost: stopPartition },
    log,
  );
  await leases.start();
  log.info({ partitions: leases.owned, of: partitions, projectorId: leases.id }, 'delivery projector consuming events');

  return {
    stats: () => ({ ...counts, partitions: leases.owned }),
    async stop() {
      for (const r of running.values()) {
        r.stopping = true;
        r.messages?.stop();
      }
      await Promise.all([...running.values()].map((r) => r.loop));
      // What is in flight drains; a write that fails from now on is given up, not retried.
      inboxes.stop();
      // In-flight events wait for their unread writes: flush them rather than wait for the timer
      // (once the counts being loaded are in).
      await unreadLanes.idle();
      await unread.flush();
      // Each partition's events finish and are acked (stopPartition), then its lease goes.
      await leases.stop();
      liveUnread.flush();
      clearInterval(ackTimer);
      await publisher.close();
      log.info(counts, 'delivery projector stopped');
    },
  };
}

/** One leased partition at work: its consumer, its acks, and its events in flight. */
type RunningPartition = {
  messages?: ConsumerMessages;
  acks: AckFloor<JsMsg>;
  /** Entries of unacked events that a stopped projector stored past the duplicate window (stored-before.ts). */
  alreadyStored: Set<string> | null;
  /** The highest event the partition's previous consumer had delivered. */
  deliveredBefore: number;
  loop: Promise<void>;
  inFlight: Set<Promise<void>>;
  stopping: boolean;
};
