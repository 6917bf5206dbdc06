import type { NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, RetentionPolicy, type Consumer, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import type { Component } from '../lib/component.js';
import { durableFromAckFloor, freshWorkQueueConsumer, type DurableSpec } from '../lib/durable-consumer.js';
import type { Config } from '../lib/config.js';
import { decodeJson, encodeJson } from '../lib/json.js';
import { JetStreamEventStore } from '../lib/jetstream-event-store.js';
import { JetStreamPublisher } from '../lib/js-publisher.js';
import { KeyedQueue } from '../lib/keyed-queue.js';
import { writeCoalescer } from '../lib/write-coalescing.js';
import type { Logger } from '../lib/log.js';
import type { Names } from '../lib/names.js';
import { StreamReader } from '../lib/stream-reader.js';
import { validateCommand, type CommandOutcome } from '../schemas/index.js';
import { AggregateStore, conversations, users } from '../lib/aggregate-store.js';
import { aggregateKey } from '../lib/partition.js';
import { snapshotsFor } from '../lib/snapshots.js';
import { CommandHandler } from './command-handler.js';
import { eachAcked, floorAcks, type CommandAcks } from './command-acks.js';
import { PartitionLeases } from '../lib/leases.js';
import { runWhileHeld } from '../lib/while-held.js';
import { Kvm } from '@nats-io/kv';
import { commandLogIds } from '../lib/log-ids.js';

/** How often the decided prefix of each partition's commands is acked (command-acks.ts). */
const ACK_EVERY_MS = 20;

export type EngineStats = { processed: number; rejected: number; duplicates: number; failed: number; cached: number; partitions: number[] };

export type Engine = Component<EngineStats>;

/**
 * The engine process: one durable pull consumer per command partition it holds a lease on
 * (lib/leases.ts: any number of engines share the partitions, a dead one's move). Commands of one
 * conversation are decided in order (they share a partition and a KeyedQueue lane); a command is
 * acked only after its events are in the log, so a crash loses nothing — the command comes again
 * (from the ack floor, at the next start) and its events' Nats-Msg-Ids make the second attempt a no-op.
 */
export async function startEngine(opts: { nc: NatsConnection; config: Config; names: Names; log: Logger }): Promise<Engine> {
  const { nc, config, names } = opts;
  const log = opts.log.child({ component: 'engine' });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const publisher = new JetStreamPublisher(nc, { coalesceWrites: true });
  const events = new JetStreamEventStore(new StreamReader(jsm, names.streams.events), publisher);
  const snapshots = snapshotsFor('engine', { jsm, publisher, names, config, log });
  const conversationStore = new AggregateStore(events, conversations(names), config.engine.cacheSize, snapshots);
  const userStore = new AggregateStore(events, users(names), config.engine.cacheSize);
  // Core NATS: the answer matters only to a connection that is still there.
  const reply = (gatewayId: string, outcome: CommandOutcome) => nc.publish(names.subjects.reply(gatewayId), encodeJson(outcome));
  const handler = new CommandHandler({ conversations: conversationStore, users: userStore, events, reply, log });
  // Blocks may be appended by another engine: hearing of one drops our copy of that user's state.
  const userEvents = nc.subscribe(names.subjects.userEventsAll, {
    callback: (err, msg) => {
      const userId = names.subjects.userOfSubject(msg.subject);
      if (!err && userId) userStore.forget(userId);
    },
  });
  const queue = new KeyedQueue();
  const counts = { processed: 0, rejected: 0, duplicates: 0, failed: 0 };
  /** The partitions this engine holds a lease on, each with its consumer and what it has in flight. */
  const running = new Map<number, RunningPartition>();

  let stopped = false;
  // Replies and acks: one socket write per event-loop turn (appends go through the publisher, which does the same).
  const coalesceWrites = writeCoalescer(nc);
  const process = (m: JsMsg, r: RunningPartition, acks: CommandAcks, deliveredBefore: number): void => {
    if (stopped || r.stopping) {
      // Pulled but not started before the stop (or the lease went): hand it back now rather than after ack_wait.
      m.nak();
      return;
    }
    if (!acks.arrived(m)) return;
    let command;
    try {
      const checked = validateCommand(decodeJson(m.data));
      if (!checked.ok) throw new Error(checked.message);
      command = checked.value;
    } catch (err) {
      // A command no engine can read will not get better by redelivery.
      log.error({ err, seq: m.seq, subject: m.subject }, 'unreadable command, dropped'); // its ids are in what could not be read: the seq finds it
      acks.done(m);
      return;
    }
    const decided = queue
      .run(aggregateKey(command), () => handler.handle(command, m.info.deliveryCount > 1 || m.seq <= deliveredBefore))
      .then((outcome) => {
        coalesceWrites();
        counts.processed++;
        if (outcome === 'rejected') counts.rejected++;
        if (outcome === 'duplicate') counts.duplicates++;
        acks.done(m);
      })
      .catch((err: unknown) => {
        counts.failed++;
        log.warn({ err, ...commandLogIds(command), seq: m.seq }, 'command failed, will be redelivered');
        m.nak(500);
      });
    r.inFlight.add(decided);
    void decided.finally(() => r.inFlight.delete(decided));
  };

  /** A lease was taken: a fresh consumer on the partition, from its ack floor (partitionConsumer). */
  const startPartition = (p: number): void => {
    const r: RunningPartition = { inFlight: new Set(), stopping: false, loop: Promise.resolve() };
    running.set(p, r);
    const plog = log.child({ partition: p });
    r.loop = runWhileHeld({
      run: async () => {
        // A second attempt: what the first started finishes first (its acks go to the consumer it came from).
        await Promise.allSettled([...r.inFlight]);
        const c = await partitionConsumer(
          jsm,
          js,
          { stream: names.commandStreams.partition(p), durable: names.consumers.enginePartition(p), ackWaitMs: config.engine.ackWaitMs, maxAckPending: config.engine.maxAckPending },
          plog,
        );
        r.acks = c.acks;
        if (r.stopping) return;
        r.messages = await c.consumer.consume({ max_messages: 512 });
        if (r.stopping) r.messages.stop();
        for await (const m of r.messages) process(m, r, c.acks, c.deliveredBefore);
      },
      stopping: () => r.stopping || stopped,
      confirm: () => leases.confirm(p),
      log: plog,
    }).catch((err: unknown) => plog.error({ err }, 'partition consumer failed'));
  };

  /**
   * The lease is gone (given back, expired, or taken): stop pulling, let what was started finish
   * and ack it, before anyone else may take the partition (a graceful hand-over waits for this).
   */
  const stopPartition = async (p: number): Promise<void> => {
    const r = running.get(p);
    if (!r) return;
    r.stopping = true;
    r.messages?.stop();
    await r.loop;
    await Promise.allSettled([...r.inFlight]);
    r.acks?.flush();
    if (running.get(p) === r) running.delete(p);
  };

  const ackTimer = setInterval(() => {
    for (const r of running.values()) r.acks?.flush();
  }, ACK_EVERY_MS);
  const leases = new PartitionLeases(
    await new Kvm(nc).open(names.buckets.engineLeases),
    { partitions: config.partitions, leaseMs: config.engine.leaseMs },
    { acquired: startPartition, lost: stopPartition },
    log,
  );
  await leases.start();
  log.info({ partitions: leases.owned, of: config.partitions, engineId: leases.id }, 'engine consuming commands');

  return {
    stats: () => ({ ...counts, cached: conversationStore.cached + userStore.cached, partitions: leases.owned }),
    async stop() {
      stopped = true;
      userEvents.unsubscribe();
      // Each partition stops (its started commands finish and are acked), then its lease goes.
      await leases.stop();
      await queue.idle();
      clearInterval(ackTimer);
      await publisher.close();
      log.info(counts, 'engine stopped');
    },
  };
}

/** One leased partition at work. */
type RunningPartition = { messages?: ConsumerMessages; acks?: CommandAcks; loop: Promise<void>; inFlight: Set<Promise<unknown>>; stopping: boolean };

type PartitionConsumer = { consumer: Consumer; acks: CommandAcks; deliveredBefore: number };

/**
 * A fresh consumer for one partition, so that what a stopped engine was holding comes first and in
 * order, without waiting out its ack wait; acked as its stream's retention allows (command-acks.ts).
 */
async function partitionConsumer(jsm: JetStreamManager, js: JetStreamClient, spec: DurableSpec, log: Logger): Promise<PartitionConsumer> {
  const stream = await jsm.streams.info(spec.stream);
  if (stream.config.retention === RetentionPolicy.Workqueue) {
    const { consumer, deliveredBefore } = await freshWorkQueueConsumer(jsm, js, spec, log);
    return { consumer, acks: eachAcked(), deliveredBefore };
  }
  const { consumer, ackFloor, deliveredBefore } = await durableFromAckFloor(jsm, js, spec, log);
  return { consumer, acks: floorAcks(ackFloor), deliveredBefore };
}
