/**
 * Every stream, subject, consumer, KV bucket and header name Parley uses, in one place.
 *
 * A prefix (default "chat") namespaces everything, so several Parley installations — or several
 * test files running in parallel — share one NATS server without seeing each other's traffic.
 * Subjects are `<prefix>.<kind>.…`; streams and buckets are `<PREFIX>_<KIND>`.
 */

const TOKEN = /^[A-Za-z0-9_-]{1,128}$/;

/** A value that is safe as one subject token (no '.', '*', '>', whitespace). */
export function isSubjectToken(value: string): boolean {
  return TOKEN.test(value);
}

function token(kind: string, value: string): string {
  if (!TOKEN.test(value)) throw new Error(`invalid ${kind} for a subject token: ${JSON.stringify(value)}`);
  return value;
}

export const headers = {
  msgId: 'Nats-Msg-Id',
  expectedLastSubjectSequence: 'Nats-Expected-Last-Subject-Sequence',
  // Set by JetStream RePublish on chat.live.<user>:
  sequence: 'Nats-Sequence',
  lastSequence: 'Nats-Last-Sequence',
  subject: 'Nats-Subject',
  /** On an inbox entry: the recipient's unread counts after its event (lib/unread-header.ts). */
  unread: 'Parley-Unread',
} as const;

/**
 * JetStream's Direct Get API (allow_direct streams): any replica answers a read without a consumer.
 * `lastBySubject` is the whole request in the subject; `get` takes a JSON body. Not prefixed: the
 * API belongs to the server.
 */
export const directGet = {
  get: (stream: string) => `$JS.API.DIRECT.GET.${stream}`,
  lastBySubject: (stream: string, subject: string) => `$JS.API.DIRECT.GET.${stream}.${subject}`,
} as const;

export type Names = ReturnType<typeof makeNames>;

export function makeNames(prefix = 'chat') {
  if (!/^[a-z][a-z0-9_]{0,31}$/.test(prefix)) {
    throw new Error(`invalid prefix ${JSON.stringify(prefix)}: lower-case letters, digits and _ (max 32)`);
  }
  const P = prefix.toUpperCase();
  return {
    prefix,
    streams: {
      events: `${P}_EVENTS`,
      inbox: `${P}_INBOX`,
      /** Web Pushes decided and not yet sent (projections/push/): one message per push to one subscription. */
      pushJobs: `${P}_PUSH_JOBS`,
      /** Every push decision, per user (GET /v1/push/log): the last ones are kept, by count and age. */
      pushLog: `${P}_PUSH_LOG`,
      /** Webhooks to the app's backend not yet accepted by it (projections/push/webhook-outbox.ts). */
      webhooks: `${P}_WEBHOOKS`,
    },
    /**
     * Commands wait in one stream per partition (subject `<prefix>.cmd.<partition>`), so
     * that each engine consumer reads a whole stream with no filter subject. In one shared stream
     * each consumer needed its partition as a filter, and nats-server 2.9 recounts a filtered
     * consumer's pending messages by comparing the subject of every one of them, on many
     * deliveries (lib/durable-consumer.ts: the same recount, for the projectors' filters, took
     * 86–89 % of nats-server's CPU under load).
     */
    commandStreams: {
      partition: (partition: number) => `${P}_CMD_${partition}`,
      /** Whether a stream is one of the partition streams (of this prefix, whatever the partitions were). */
      isPartition: (stream: string) => stream.startsWith(`${P}_CMD_`) && /^\d+$/.test(stream.slice(P.length + 5)),
      /** The one command stream of earlier versions (subjects `<prefix>.cmd.*`); removed at start when empty. */
      legacy: `${P}_CMD`,
    },
    buckets: {
      snapshots: `${P}_SNAPSHOTS`,
      /** Per user: { conversationId: unread } — the delivery projector's running totals. */
      unread: `${P}_UNREAD`,
      /** Per user: when their tokens were revoked (admin revoke); tokens issued before are refused. */
      revocations: `${P}_REVOKED`,
      /** Per user: { isOnline, lastSeen } as the presence service last announced it (projections/presence/). */
      presence: `${P}_PRESENCE`,
      /** Per user: { subscriptions: [...] }, their Web Push subscriptions (POST /v1/push/subscriptions). */
      pushSubscriptions: `${P}_PUSH_SUBS`,
      /** Per user: { conversationId: muted until (ms; 0: until unmuted) } (POST /v1/conversations/:id/mute). */
      pushMutes: `${P}_PUSH_MUTES`,
      /** Per command partition p<N>: the engine holding it (lib/leases.ts); m.<id>: the engines alive. Keys expire after PARLEY_LEASE_MS. */
      engineLeases: `${P}_LEASES_ENGINE`,
      /** The same for the delivery partitions (PARLEY_DELIVERY_PARTITIONS), among delivery projectors. */
      deliveryLeases: `${P}_LEASES_DELIVERY`,
      /** The same for the push projector's partitions (as many as the delivery partitions), among push projectors. */
      pushLeases: `${P}_LEASES_PUSH`,
      /**
       * Singletons of the projector role, each run by one process at a time under one lease (key p0:
       * the holder; lib/leased-singleton.ts), the other projector processes standing by: the postgres
       * projector (two on one schema would wait for each other; the lease is per prefix, so every
       * postgres projector of a prefix is taken to write the same schema) …
       */
      postgresLeases: `${P}_LEASES_POSTGRES`,
      /** … the push sender (its work-queue consumer is made afresh at start, deleting another's) … */
      pushSenderLeases: `${P}_LEASES_PUSH_SENDER`,
      /** … the webhook dispatcher (one at a time keeps webhooks in order) … */
      webhookLeases: `${P}_LEASES_WEBHOOKS`,
      /** … the EventStoreDB mirror (its durable is made afresh at start) … */
      mirrorLeases: `${P}_LEASES_MIRROR`,
      /** … and the presence service (one per installation: two would announce every transition twice). */
      presenceLeases: `${P}_LEASES_PRESENCE`,
    },
    /** A KV bucket is the stream KV_<bucket> with one subject per key. */
    kv: {
      stream: (bucket: string) => `KV_${bucket}`,
      key: (bucket: string, key: string) => `$KV.${bucket}.${token('key', key)}`,
    },
    consumers: {
      enginePartition: (partition: number) => `engine-p${partition}`,
      /** The delivery projector's one durable of earlier versions (read at start to seed the partitions', then removed). */
      delivery: 'delivery',
      /**
       * The delivery projector's durable for partition `p` of `of` (PARLEY_DELIVERY_PARTITIONS):
       * the layout is in the name, so a changed partition count makes new durables, seeded from the old ones.
       */
      deliveryPartition: (p: number, of: number) => `delivery-p${p}-of-${of}`,
      /** Any delivery durable, of this layout or an earlier one (the one `delivery` included). */
      isDelivery: (name: string) => name === 'delivery' || /^delivery-p\d+-of-\d+$/.test(name),
      postgres: 'postgres',
      /** The EventStoreDB mirror's durable consumer on <PREFIX>_EVENTS (projections/eventstore/mirror.ts). */
      eventStoreMirror: 'eventstore-mirror',
      /** The push projector's one durable of earlier versions (read at start to seed the partitions', then removed). */
      push: 'push',
      /**
       * The push projector's durable for partition `p` of `of` (the delivery partition count): as
       * with delivery, a changed count makes new durables, seeded from the old ones.
       */
      pushPartition: (p: number, of: number) => `push-p${p}-of-${of}`,
      /** Any push projector durable, of this layout or an earlier one (the one `push` included; not `push-sender`). */
      isPush: (name: string) => name === 'push' || /^push-p\d+-of-\d+$/.test(name),
      /** The push sender: push jobs → the push services. */
      pushSender: 'push-sender',
      /** The webhook dispatcher: the outbox → PARLEY_WEBHOOK_URL, one at a time, in order. */
      webhooks: 'webhooks',
    },
    subjects: {
      /** Commands, partitioned by conversation so one conversation is decided in order. */
      command: (partition: number) => `${prefix}.cmd.${partition}`,
      /** Every partition's commands (no stream has this as its subject: one stream per partition). */
      commandsAll: `${prefix}.cmd.*`,
      /** The audit log: one subject per conversation (optimistic concurrency), one per user. */
      conversationEvents: (conversationId: string) => `${prefix}.ev.conv.${token('conversation id', conversationId)}`,
      userEvents: (userId: string) => `${prefix}.ev.user.${token('user id', userId)}`,
      userEventsAll: `${prefix}.ev.user.*`,
      userOfSubject: (subject: string): string | undefined => {
        const head = `${prefix}.ev.user.`;
        return subject.startsWith(head) ? subject.slice(head.length) : undefined;
      },
      eventsAll: `${prefix}.ev.>`,
      conversationOfSubject: (subject: string): string | undefined => {
        const head = `${prefix}.ev.conv.`;
        return subject.startsWith(head) ? subject.slice(head.length) : undefined;
      },
      /** Per-user inbox (durable, the cursor is its stream sequence) and its live republish. */
      inbox: (userId: string) => `${prefix}.inbox.${token('user id', userId)}`,
      inboxAll: `${prefix}.inbox.>`,
      live: (userId: string) => `${prefix}.live.${token('user id', userId)}`,
      liveAll: `${prefix}.live.>`,
      /** Every user's live feed in one subscription (a gateway's wildcard feed mode). */
      liveUsers: `${prefix}.live.*`,
      userOfLive: (subject: string): string | undefined => {
        const head = `${prefix}.live.`;
        return subject.startsWith(head) ? subject.slice(head.length) : undefined;
      },
      /** Ephemeral, core NATS only: typing, presence. Never stored. */
      ephemeral: (userId: string) => `${prefix}.eph.${token('user id', userId)}`,
      ephemeralUsers: `${prefix}.eph.*`,
      userOfEphemeral: (subject: string): string | undefined => {
        const head = `${prefix}.eph.`;
        return subject.startsWith(head) ? subject.slice(head.length) : undefined;
      },
      /**
       * Core NATS only: each gateway's report of the tokens its busy users took from their
       * per-user rate limits, which the other gateways debit (gateway/usage-share.ts).
       */
      limitsUsage: `${prefix}.limits.usage`,
      /** Command outcomes (rejections, duplicates, acceptances) back to the gateway that sent it. */
      reply: (gatewayId: string) => `${prefix}.reply.${token('gateway id', gatewayId)}`,
      /**
       * Admin requests that every gateway answers (scatter-gather: no queue group, each gateway
       * replies to the request's inbox with what it holds or did for the user).
       */
      adminConnections: `${prefix}.admin.connections`,
      adminDisconnect: `${prefix}.admin.disconnect`,
      /**
       * Presence, core NATS only (gateway/presence-notices.ts → projections/presence/): every
       * gateway's per-user online/offline notices, heartbeats and snapshots on one subject (so they
       * arrive in the order each gateway sent them); the presence service asks one gateway for a
       * snapshot on its sync subject, and answers status requests (status.bulk) on presenceStatus.
       */
      presenceNotices: `${prefix}.presence.notice`,
      presenceSync: (gatewayId: string) => `${prefix}.presence.sync.${token('gateway id', gatewayId)}`,
      presenceStatus: `${prefix}.presence.status`,
      /**
       * presence.subscribe and GET /v1/presence ask the presence service (queue group `presence`)
       * for named users' presence on presenceQuery; it publishes each announced transition of a
       * user once on presenceUser(<user>), which a gateway subscribes to while one of its
       * connections is subscribed to that user (core NATS: nobody listening, nothing sent on).
       */
      presenceQuery: `${prefix}.presence.query`,
      presenceUser: (userId: string) => `${prefix}.presence.user.${token('user id', userId)}`,
      /** Push jobs (one stream, read whole by the sender) and the per-user record of push decisions. */
      pushJob: (userId: string) => `${prefix}.push.job.${token('user id', userId)}`,
      pushJobsAll: `${prefix}.push.job.*`,
      pushLog: (userId: string) => `${prefix}.push.log.${token('user id', userId)}`,
      pushLogAll: `${prefix}.push.log.*`,
      webhookOut: `${prefix}.webhook.out`,
    },
  };
}
