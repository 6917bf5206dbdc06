import type { NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import type { Component } from '../../lib/component.js';
import type { Config } from '../../lib/config.js';
import { LeasedLogPartitions, type LeasedPartition } from '../../lib/leased-log-partitions.js';
import { deliveryLayout } from '../../lib/partition-durables.js';
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
 * events (lib/partition-durables.ts says why, and what it costs; lib/leased-log-partitions.ts runs them).
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
  /** Inbox writes started (stats). */
  let inboxWritesStarted = 0;

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
        if (storedBefore(r)?.has(msgId)) continue;
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

  /** Resolves once the event's writes are started, with `done`: their being stored. */
  const project = async (r: RunningPartition, m: JsMsg): Promise<{ done: Promise<unknown> }> => {
    // Inbox writes queued behind their inbox's earlier ones count too: they are not published yet.
    if (inboxes.queued >= MAX_PENDING_WRITES) await inboxes.whenQueuedBelow(MAX_PENDING_WRITES / 2);
    if (publisher.pending >= MAX_PENDING_WRITES) await publisher.whenPendingBelow(MAX_PENDING_WRITES / 2);
    const conversationId = names.subjects.conversationOfSubject(m.subject);
    const userId = names.subjects.userOfSubject(m.subject);
    let out = nothingProjected();
    if (conversationId) out = await projectConversation(r, m, conversationId);
    else if (userId) out.inboxWrites = write(r, userDeliveriesFor(decodeJson<UserEvent>(m.data), m.seq), m.seq, userId);
    inboxWritesStarted += out.inboxWrites.length;
    const inboxStored = Promise.all(out.inboxWrites);
    void inboxStored.then(
      () => {
        for (const send of out.afterInbox) send();
      },
      () => undefined, // handled below
    );
    const done = Promise.all([inboxStored, ...out.unreadWrites]).catch((err: unknown) => {
      // Both caches may now be ahead of what is stored: reload them when the event comes back.
      if (conversationId) memberships.forget(conversationId);
      for (const u of out.unreadUsers) unread.forget(u);
      throw err;
    });
    return { done };
  };

  const parts = await LeasedLogPartitions.start<DeliveryPartition>({
    nc,
    names,
    log,
    layout: deliveryLayout(names),
    leaseBucket: names.buckets.deliveryLeases,
    partitions: config.delivery.partitions,
    leaseMs: config.engine.leaseMs,
    ackWaitMs: config.delivery.ackWaitMs,
    maxAckPending: config.delivery.maxAckPending,
    work: {
      initial: { alreadyStored: null },
      open: async (_p, { ackFloor, deliveredBefore }, plog) => ({
        alreadyStored: await entriesStoredBefore({ jsm, js, names, ackFloor, deliveredBefore, duplicateWindowMs: config.inbox.duplicateWindowSec * 1000, log: plog }),
      }),
      handle: project,
      // In-flight events wait for their unread writes: flush them rather than wait for the timer.
      settle: () => unread.flush(),
    },
  });

  return {
    stats: () => ({ ...parts.counts, writes: inboxWritesStarted, partitions: parts.owned }),
    async stop() {
      await parts.halt();
      // What is in flight drains; a write that fails from now on is given up, not retried.
      inboxes.stop();
      // In-flight events wait for their unread writes: flush them rather than wait for the timer
      // (once the counts being loaded are in).
      await unreadLanes.idle();
      await unread.flush();
      // Each partition's events finish and are acked (stopPartition), then its lease goes.
      await parts.stop();
      liveUnread.flush();
      await publisher.close();
      log.info({ ...parts.counts, writes: inboxWritesStarted }, 'delivery projector stopped');
    },
  };
}

/** What a delivery partition keeps besides its consumer (lib/leased-log-partitions.ts). */
type DeliveryPartition = {
  /** Entries of unacked events that a stopped projector stored past the duplicate window (stored-before.ts). */
  alreadyStored: Set<string> | null;
};

type RunningPartition = LeasedPartition<DeliveryPartition>;

/** The entries stored before, while they matter: past the events a stopped projector had delivered, none can have been. */
function storedBefore(r: RunningPartition): Set<string> | null {
  if (r.state.alreadyStored && r.acks.acked >= r.deliveredBefore) r.state.alreadyStored = null;
  return r.state.alreadyStored;
}
