import type { NatsConnection } from '@nats-io/nats-core';
import { jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { AggregateStore, conversations, users } from '../../lib/aggregate-store.js';
import type { Component } from '../../lib/component.js';
import type { Config } from '../../lib/config.js';
import { LeasedLogPartitions } from '../../lib/leased-log-partitions.js';
import { pushLayout } from '../../lib/partition-durables.js';
import { decodeJson, encodeJson } from '../../lib/json.js';
import { JetStreamPublisher } from '../../lib/js-publisher.js';
import { KvView } from '../../lib/kv-view.js';
import type { Logger } from '../../lib/log.js';
import { LruMap } from '../../lib/lru.js';
import type { Names } from '../../lib/names.js';
import { recordPush, type PushRecord } from '../../lib/push-log.js';
import { mutedUntilOf, readMutes } from '../../lib/push-mutes.js';
import { readUserSubscriptions } from '../../lib/push-subscriptions.js';
import { snapshotsFor } from '../../lib/snapshots.js';
import { StreamReader } from '../../lib/stream-reader.js';
import type { ConversationEvent, StoredPushSubscription } from '../../schemas/index.js';
import { decidePushes, type RecipientFacts } from './push-decider.js';
import type { PushJob } from './push-job.js';
import { WebhookOutbox } from './webhook-outbox.js';

export type PushProjectorStats = {
  events: number;
  jobs: number;
  skipped: number;
  coalesced: number;
  recorded: number;
  failed: number;
  webhooksDropped: number;
  /** The partitions this projector holds a lease on. */
  partitions: number[];
};
export type PushProjector = Component<PushProjectorStats>;

/**
 * The push projector: reads the event log like the other projectors and, for each new message,
 * decides for every other member whether a Web Push goes out (push-decider.ts), from what it keeps
 * in memory: who is online (the presence bucket, watched), who has subscriptions and mutes (their
 * buckets, watched), who blocks whom (the users' block events), and when each was last pushed per
 * conversation. A push becomes one job per subscription on <PREFIX>_PUSH_JOBS, with an id made of
 * the event and the subscription, so that an event projected twice (a restart before its ack) is
 * one job; push-sender.ts sends them. Skips are recorded in the user's push log, at most once per
 * conversation, reason and coalescing window, and only for users who could have been pushed.
 *
 * The work is split in as many partitions as delivery's (PARLEY_DELIVERY_PARTITIONS, by
 * conversation, and by user for a user's own events) that any number of push projectors share by
 * leases (lib/leased-log-partitions.ts): a partition's durable reads the whole log and decides
 * for its own conversations. A partition's first durable starts at the end of the log (or where
 * the push durables of an earlier layout stood): a deployment that turns push on must not push
 * its history.
 */
export async function startPushProjector(opts: { nc: NatsConnection; config: Config; names: Names; log: Logger }): Promise<PushProjector> {
  const { nc, config, names } = opts;
  const log = opts.log.child({ component: 'push-projector' });
  const jsm = await jetstreamManager(nc);
  const kvm = new Kvm(nc);
  const publisher = new JetStreamPublisher(nc, { coalesceWrites: true });
  const online = await KvView.open(await kvm.open(names.buckets.presence), (v) => (decodeJson<{ isOnline?: unknown }>(v).isOnline === true ? true : undefined), log);
  const outbox = config.push.webhook ? new WebhookOutbox(publisher, names, log) : undefined;
  // Without VAPID keys nobody can be pushed to: everyone is "no subscription" (webhooks may still tell the app).
  const subscriptions = await KvView.open(await kvm.open(names.buckets.pushSubscriptions), (v) => readUserSubscriptions(v).subscriptions, log);
  const mutes = await KvView.open(await kvm.open(names.buckets.pushMutes), readMutes, log);
  const events = new StreamReader(jsm, names.streams.events);
  const snapshots = snapshotsFor('push', { jsm, publisher, names, config, log });
  const conversationStates = new AggregateStore(events, conversations(names), config.engine.cacheSize, snapshots);
  const userStates = new AggregateStore(events, users(names), config.engine.cacheSize);
  /** `<user> <conversation>` → when (event time) they were last pushed, and how many messages folded into that since. */
  const lastPush = new LruMap<string, { at: number; folded: number }>(config.engine.cacheSize);
  /** `<user> <conversation> <decision>` → when that skip was last recorded. */
  const lastSkipRecord = new LruMap<string, number>(config.engine.cacheSize);
  const stats = { jobs: 0, skipped: 0, coalesced: 0, recorded: 0 };

  /** The events the app asked for (PARLEY_WEBHOOK_EVENTS), as `event.<Type>` webhooks. */
  const forwardedTypes = new Set(config.push.webhook?.events ?? []);
  const forward = (seq: number, event: { type: string; at?: string }): Promise<unknown>[] =>
    outbox && forwardedTypes.has(event.type) ? [outbox.queue(`ev_${seq}`, `event.${event.type}`, { seq, data: event }, event.at ? new Date(event.at) : undefined)] : [];

  const factsFor = async (event: Extract<ConversationEvent, { type: 'MessageSent' }>, at: number, members: Iterable<string>) => {
    const facts = new Map<string, RecipientFacts>();
    for (const userId of members) {
      if (userId === event.data.sender.id) continue;
      const subs: readonly StoredPushSubscription[] = (config.push.vapid && subscriptions.get(userId)) || [];
      const isOnline = online.get(userId) === true;
      const muted = mutedUntilOf(mutes.get(userId), event.conversationId) > at;
      // Only who could be pushed costs a look at their blocks (a cold one is a read of the log).
      const blocksSender = !isOnline && !muted && subs.length > 0 ? (await userStates.get(userId)).blocked.has(event.data.sender.id) : false;
      const last = lastPush.get(`${userId} ${event.conversationId}`);
      facts.set(userId, { online: isOnline, muted, blocksSender, subscriptions: subs, ...(last ? { lastPushedAt: last.at } : {}) });
    }
    return facts;
  };

  /**
   * A block or unblock: the next look at this user's blocks reads them again. Every partition
   * forgets, whoever owns the event: the cache is the process's, and the user's blocks are looked
   * at for messages of every partition.
   */
  const forgetBlocks = (m: JsMsg): string | undefined => {
    const userId = names.subjects.userOfSubject(m.subject);
    if (userId) userStates.forget(userId);
    return userId;
  };

  const project = async (m: JsMsg): Promise<Promise<unknown>[]> => {
    if (forgetBlocks(m)) return forward(m.seq, decodeJson<{ type: string }>(m.data));
    const conversationId = names.subjects.conversationOfSubject(m.subject);
    if (!conversationId) return [];
    const event = decodeJson<ConversationEvent>(m.data);
    const forwarded = forward(m.seq, event);
    const state = await conversationStates.before(conversationId, m.seq);
    if (state.version < m.seq) {
      conversationStates.kind.evolve(state, event, m.seq);
      conversationStates.folded(state);
    }
    if (event.type !== 'MessageSent') return forwarded;
    const at = Date.parse(event.at);
    const facts = await factsFor(event, at, state.members.keys());
    const writes: Promise<unknown>[] = [...forwarded];
    const base = { at: event.at, conversationId, messageId: event.data.messageId, seq: event.data.seq };
    /** On record (the user's push log) and, with webhooks on, to the app's backend too. */
    const record = (user: string, r: Omit<PushRecord, 'at' | 'conversationId' | 'messageId' | 'seq'>, id: string) => {
      stats.recorded++;
      writes.push(recordPush(publisher, names, user, { ...base, ...r }, id));
      if (outbox) writes.push(outbox.queue(`pd_${id}`, 'push.decision', { userId: user, ...base, ...r }));
    };
    for (const d of decidePushes(event, state, (u) => facts.get(u)!, { previewChars: config.push.previewChars, coalesceMs: config.push.coalesceMs })) {
      const key = `${d.userId} ${conversationId}`;
      if (d.decision === 'coalesced') {
        stats.coalesced++;
        const last = lastPush.get(key);
        if (last) last.folded++;
        continue;
      }
      if (d.decision === 'push' || d.decision === 'skipped_no_subscription') {
        // Told (or told to the app's backend): the coalescing window starts again.
        const folded = lastPush.get(key)?.folded ?? 0;
        lastPush.set(key, { at, folded: 0 });
        if (d.decision === 'skipped_no_subscription') {
          stats.skipped++;
          // Not on record (nobody could be pushed), but the app's backend may reach a phone.
          if (outbox) writes.push(outbox.queue(`pd_${m.seq}:${d.userId}:${d.decision}`, 'push.decision', { userId: d.userId, ...base, decision: d.decision, payload: d.payload, ...(folded > 0 ? { coalesced: folded } : {}) }));
          continue;
        }
        for (const sub of d.subscriptions) {
          const job: PushJob = { userId: d.userId, subscriptionId: sub.id, payload: d.payload, eventSeq: m.seq, decidedAt: at, ...(folded > 0 ? { coalesced: folded } : {}) };
          stats.jobs++;
          writes.push(publisher.publish(names.subjects.pushJob(d.userId), encodeJson(job), { msgId: `job:${m.seq}:${sub.id}` }));
        }
        continue;
      }
      stats.skipped++;
      const skipKey = `${key} ${d.decision}`;
      const recorded = lastSkipRecord.get(skipKey);
      if (recorded !== undefined && at - recorded < config.push.coalesceMs) continue;
      lastSkipRecord.set(skipKey, at);
      record(d.userId, { decision: d.decision }, `${m.seq}:${d.userId}:${d.decision}`);
    }
    return writes;
  };

  const parts = await LeasedLogPartitions.start<undefined>({
    nc,
    names,
    log,
    layout: pushLayout(names),
    leaseBucket: names.buckets.pushLeases,
    partitions: config.delivery.partitions,
    leaseMs: config.engine.leaseMs,
    ackWaitMs: config.delivery.ackWaitMs,
    maxAckPending: config.delivery.maxAckPending,
    work: {
      initial: undefined,
      handle: async (_part, m) => ({ done: Promise.all(await project(m)) }),
      passing: forgetBlocks,
    },
  });

  return {
    stats: () => ({ events: parts.counts.events, ...stats, failed: parts.counts.failed, webhooksDropped: outbox?.dropped ?? 0, partitions: parts.owned }),
    async stop() {
      // Each partition's events finish and are acked, then its lease goes.
      await parts.stop();
      online.stop();
      subscriptions.stop();
      mutes.stop();
      await publisher.close();
      log.info({ ...parts.counts, ...stats }, 'push projector stopped');
    },
  };
}
