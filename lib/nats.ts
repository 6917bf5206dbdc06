import { connect } from '@nats-io/transport-node';
import { nanos, type NatsConnection } from '@nats-io/nats-core';
import {
  jetstreamManager,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  DiscardPolicy,
  type JetStreamManager,
  type StreamConfig,
  type StreamInfo,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { Config } from './config.js';
import type { Names } from './names.js';
import type { Logger } from './log.js';
import { watchNatsConnection } from './nats-metrics.js';

export type { NatsConnection };

/** One connection per process role; it reconnects forever, and says so in the log. */
export async function connectNats(config: Config, name: string, log: Logger): Promise<NatsConnection> {
  const nc = await connect({
    servers: config.natsUrl,
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    // Async stack traces cost more than the publish itself on the hot path.
    noAsyncTraces: true,
  });
  log.info({ server: nc.getServer(), name }, 'nats connected');
  watchNatsConnection(nc, name);
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error') {
        log.warn({ status: s.type, server: 'server' in s ? s.server : undefined }, 'nats status');
      }
    }
  })();
  return nc;
}

export function streamConfigs(names: Names, config: Config): (Partial<StreamConfig> & { name: string })[] {
  const replicas = config.replicas;
  return [
    // Commands wait here until an engine has decided them. One stream per partition: see
    // names.commandStreams. Kept by count and age, not removed when acked: a work queue removes
    // each command at its ack, and with the engine keeping up every removal emptied the stream's
    // file block, which nats-server then truncated and re-indexed — 7.6 % of its CPU at 2,000
    // msg/s (pprof), and work queues allow only an ack per message. The engine acks the decided
    // prefix instead (ack policy "all"). Undecided commands are never pushed out: admission keeps
    // them under maxCommandBacklog in all, and a partition keeps twice that.
    ...Array.from({ length: config.partitions }, (_, p) => ({
      name: names.commandStreams.partition(p),
      subjects: [names.subjects.command(p)],
      ...commandRetention(config),
      storage: StorageType.File,
      duplicate_window: nanos(120_000),
      num_replicas: replicas,
    })),
    {
      // The audit log: kept forever; Direct Get serves conversation tails to engines.
      name: names.streams.events,
      subjects: [names.subjects.eventsAll],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      duplicate_window: nanos(120_000),
      allow_direct: true,
      num_replicas: replicas,
    },
    {
      // Per-user inboxes; every stored entry is republished live on <prefix>.live.<user> with
      // Nats-Sequence / Nats-Last-Sequence so gateways can spot and fill gaps.
      name: names.streams.inbox,
      subjects: [names.subjects.inboxAll],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: nanos(config.inbox.maxAgeSec * 1000),
      max_msgs_per_subject: config.inbox.maxPerUser,
      duplicate_window: nanos(config.inbox.duplicateWindowSec * 1000),
      allow_direct: true,
      republish: { src: names.subjects.inboxAll, dest: names.subjects.liveAll },
      num_replicas: replicas,
    },
    {
      // Pushes decided and not yet sent: the sender takes each one off when it is done with it
      // (sent, given up, or its subscription gone). The duplicate window makes a decision that is
      // made again (its event redelivered) one job.
      name: names.streams.pushJobs,
      subjects: [names.subjects.pushJobsAll],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      max_age: nanos(config.push.jobMaxAgeSec * 1000),
      duplicate_window: nanos(120_000),
      num_replicas: replicas,
    },
    {
      // What happened to each push, per user, for GET /v1/push/log: the last ones by count and age.
      name: names.streams.pushLog,
      subjects: [names.subjects.pushLogAll],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_msgs_per_subject: config.push.logPerUser,
      max_age: nanos(config.push.logMaxAgeSec * 1000),
      allow_direct: true,
      num_replicas: replicas,
    },
    {
      // Webhooks to the app's backend until it accepted them (projections/push/webhook-outbox.ts):
      // bounded, and new ones are refused when full rather than old ones lost unseen.
      name: names.streams.webhooks,
      subjects: [names.subjects.webhookOut],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      discard: DiscardPolicy.New,
      max_msgs: config.push.webhook?.outboxMax ?? 100_000,
      max_age: nanos(86_400_000),
      duplicate_window: nanos(120_000),
      num_replicas: replicas,
    },
  ];
}

/** How long decided commands are kept at most (they are of no use once decided; see streamConfigs). */
const COMMANDS_MAX_AGE_MS = 3_600_000;

function commandRetention(config: Config): Partial<StreamConfig> {
  return {
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_msgs: 2 * config.limits.maxCommandBacklog,
    max_age: nanos(COMMANDS_MAX_AGE_MS),
  };
}

/** Create the streams and KV buckets, or bring an existing stream's limits up to the configuration. */
export async function ensureStreams(jsm: JetStreamManager, names: Names, config: Config, log?: Logger): Promise<void> {
  const kvm = new Kvm(jsm.jetstream());
  await kvm.create(names.buckets.unread, { history: 1, replicas: config.replicas });
  await kvm.create(names.buckets.snapshots, { history: 1, replicas: config.replicas });
  await kvm.create(names.buckets.revocations, { history: 1, replicas: config.replicas });
  await kvm.create(names.buckets.presence, { history: 1, replicas: config.replicas });
  await kvm.create(names.buckets.pushSubscriptions, { history: 1, replicas: config.replicas });
  await kvm.create(names.buckets.pushMutes, { history: 1, replicas: config.replicas });
  await ensureLeaseBucket(jsm, kvm, names.buckets.engineLeases, config.engine.leaseMs, config.replicas);
  await ensureLeaseBucket(jsm, kvm, names.buckets.deliveryLeases, config.engine.leaseMs, config.replicas);
  await ensureLeaseBucket(jsm, kvm, names.buckets.pushLeases, config.engine.leaseMs, config.replicas);
  for (const bucket of [names.buckets.postgresLeases, names.buckets.pushSenderLeases, names.buckets.webhookLeases, names.buckets.mirrorLeases, names.buckets.presenceLeases]) {
    await ensureLeaseBucket(jsm, kvm, bucket, config.engine.leaseMs, config.replicas);
  }
  await removeLegacyCommandStream(jsm, names);
  for (const sc of streamConfigs(names, config)) {
    let existing: StreamInfo | null;
    try {
      existing = await jsm.streams.info(sc.name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      existing = null;
    }
    if (!existing) {
      await jsm.streams.add(sc);
      continue;
    }
    if (existing.config.retention === RetentionPolicy.Workqueue && sc.retention !== RetentionPolicy.Workqueue) {
      if (await replaceEmptyWorkQueue(jsm, existing, sc, log)) continue;
      // Still holding commands: it stays a work queue (the engine acks each of its commands) until a start finds it empty.
      await jsm.streams.update(sc.name, { ...sc, ...workQueueOf(existing) });
      continue;
    }
    await jsm.streams.update(sc.name, sc);
  }
}

/**
 * A lease bucket: its TTL is the lease time. A bucket made with another PARLEY_LEASE_MS is brought
 * to this one (the last process to start sets it; every process should have the same).
 */
async function ensureLeaseBucket(jsm: JetStreamManager, kvm: Kvm, bucket: string, leaseMs: number, replicas: number): Promise<void> {
  const stream = `KV_${bucket}`;
  const info = await jsm.streams.info(stream).catch((err: unknown) => {
    if (isNotFound(err)) return null;
    throw err;
  });
  if (!info) {
    await kvm.create(bucket, { history: 1, ttl: leaseMs, replicas });
    return;
  }
  if (info.config.max_age !== nanos(leaseMs)) await jsm.streams.update(stream, { ...info.config, max_age: nanos(leaseMs) });
}

function workQueueOf(existing: StreamInfo): Partial<StreamConfig> {
  const { retention, discard, max_msgs, max_age } = existing.config;
  return { retention, discard, max_msgs, max_age };
}

/**
 * A command stream of earlier versions is a work queue, and retention cannot change in place.
 * Empty, it is made again as configured; holding commands, it is left for the engine to decide
 * them (false), so that no command is dropped.
 */
async function replaceEmptyWorkQueue(jsm: JetStreamManager, existing: StreamInfo, sc: Partial<StreamConfig> & { name: string }, log?: Logger): Promise<boolean> {
  if (existing.state.messages > 0) {
    log?.warn({ stream: sc.name, undecided: existing.state.messages }, 'command stream of an earlier version still holds commands: it stays a work queue until a start finds it empty');
    return false;
  }
  await jsm.streams.delete(sc.name);
  await jsm.streams.add(sc);
  log?.info({ stream: sc.name }, 'command stream made again with retention by count and age (it was a work queue)');
  return true;
}

/**
 * The single command stream of earlier versions takes every partition's subject, so the partition
 * streams cannot be made beside it. Empty, it goes; holding commands, it stays and start-up stops
 * with what to do, so that no command is dropped.
 */
async function removeLegacyCommandStream(jsm: JetStreamManager, names: Names): Promise<void> {
  const legacy = names.commandStreams.legacy;
  const info = await jsm.streams.info(legacy).catch((err: unknown) => {
    if (isNotFound(err)) return null;
    throw err;
  });
  if (!info) return;
  if (info.state.messages > 0) {
    throw new Error(
      `stream ${legacy} (commands, from an earlier Parley) still holds ${info.state.messages} undecided commands: ` +
        'run the earlier version\'s engine until it is empty, then start this one (it removes the empty stream)',
    );
  }
  await jsm.streams.delete(legacy);
}

/**
 * Every command partition stream there is, whatever PARLEY_PARTITIONS was when it was made, with
 * its state: one paged list request for the streams that take `<prefix>.cmd.*`.
 */
export async function commandStreamInfos(jsm: JetStreamManager, names: Names): Promise<StreamInfo[]> {
  const found: StreamInfo[] = [];
  for await (const s of jsm.streams.list(names.subjects.commandsAll)) if (names.commandStreams.isPartition(s.config.name)) found.push(s);
  return found;
}

/**
 * Commands stored and not yet decided, in every partition stream: what the engines' consumers
 * have not acked (pending or delivered and unacked). A stream no engine has consumed yet holds
 * nothing but undecided commands. (The streams keep decided commands too: their message count is
 * not the backlog.)
 */
export async function undecidedCommands(jsm: JetStreamManager, names: Names): Promise<number> {
  let undecided = 0;
  for (const stream of await commandStreamInfos(jsm, names)) {
    let consumed = false;
    for await (const c of jsm.consumers.list(stream.config.name)) {
      consumed = true;
      undecided += c.num_pending + c.num_ack_pending;
    }
    if (!consumed) undecided += stream.state.messages;
  }
  return undecided;
}

export async function commandStreamNames(jsm: JetStreamManager, names: Names): Promise<string[]> {
  return (await commandStreamInfos(jsm, names)).map((s) => s.config.name);
}

export async function deleteStreams(jsm: JetStreamManager, names: Names): Promise<void> {
  const commandStreams = await commandStreamNames(jsm, names).catch(() => [] as string[]);
  for (const name of [
    ...commandStreams,
    names.commandStreams.legacy,
    ...Object.values(names.streams),
    ...Object.values(names.buckets).map(names.kv.stream),
  ]) {
    await jsm.streams.delete(name).catch(() => undefined);
  }
}

/**
 * Whether a JetStream API call failed because its stream or consumer does not exist: by the API's
 * error code, not its wording (a message "not found" could come from anything).
 */
export function isNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamNotFound || err.code === JetStreamApiCodes.ConsumerNotFound);
}

export { jetstreamManager };

/**
 * Drain, but never wait forever: a connection whose reader has stopped (a callback that threw, see
 * lib/liveness.ts) never hears the server confirm the drain, and a process stopping on SIGTERM must
 * still get to its end. After `timeoutMs` the connection is closed instead.
 */
export async function drainWithin(nc: NatsConnection, timeoutMs: number, log: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    nc.drain().then(
      () => 'drained' as const,
      () => 'failed' as const, // closed already, or closed under it: nothing left to drain
    ),
    new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs))),
  ]);
  clearTimeout(timer);
  if (outcome === 'drained') return;
  if (outcome === 'timeout') log.warn({ timeoutMs }, 'NATS drain did not finish; closing the connection');
  await nc.close().catch(() => undefined);
}
