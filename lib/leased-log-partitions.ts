import type { NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { AckFloor } from './ack-floor.js';
import { durableFromAckFloor } from './durable-consumer.js';
import { PartitionLeases } from './leases.js';
import { runWhileHeld } from './while-held.js';
import type { Logger } from './log.js';
import type { Names } from './names.js';
import { eventPartition } from './partition.js';
import { removeEarlierLayouts, seedFromEarlierLayouts, type DurableLayout } from './partition-durables.js';
import { ConsumerLag, consumerLags, failedEvents, projectedEvents, type ProjectorName } from './projector-metrics.js';

/** How often the finished prefix of each partition's events is acked (one ack for all of them). */
const ACK_EVERY_MS = 20;

/** One leased partition at work: its consumer, its acks, and its events in flight. */
export type LeasedPartition<S> = {
  readonly partition: number;
  acks: AckFloor<JsMsg>;
  /** The highest event the partition's previous consumer had delivered (at or below it, one may have been handled already). */
  deliveredBefore: number;
  /** What the projector keeps per partition (`open`). */
  state: S;
  messages?: ConsumerMessages;
  loop: Promise<void>;
  inFlight: Set<Promise<void>>;
  stopping: boolean;
};

/** What a projector does with the partitions it holds. */
export type PartitionWork<S> = {
  /** A partition's state before its consumer exists. */
  initial: S;
  /** Once its durable is made, before it reads (delivery: the entries a stopped projector stored). */
  open?: (p: number, start: { ackFloor: number; deliveredBefore: number }, log: Logger) => Promise<S>;
  /**
   * One of the partition's own events, in log order: resolves once its work is started (the next
   * event waits for that), with `done`, the work's end (wrapped: a promise would be flattened); the
   * event is acked once that resolves, and comes again (nak) if either fails.
   */
  handle: (part: LeasedPartition<S>, m: JsMsg) => Promise<{ done: Promise<unknown> }>;
  /** Another partition's event, passing (acked at once). */
  passing?: (m: JsMsg) => void;
  /** A stopping partition's work has settled; before the last of it is acked (delivery: the unread totals it awaits). */
  settle?: () => Promise<void>;
};

export type LeasedLogOptions<S> = {
  nc: NatsConnection;
  names: Names;
  log: Logger;
  layout: DurableLayout;
  /** The lease bucket (lib/nats.ts ensureStreams makes it). */
  leaseBucket: string;
  partitions: number;
  leaseMs: number;
  ackWaitMs: number;
  maxAckPending: number;
  work: PartitionWork<S>;
};

/**
 * The partitions of the event log that any number of processes of one projector share by leases
 * (lib/leases.ts), as engines share the command partitions. A partition's durable
 * (lib/partition-durables.ts) is made afresh from its ack floor when its lease is taken (seeded
 * from earlier layouts if it is new) and reads the whole log: the partition's own events go to
 * `work.handle`, the others are acked as they pass. When the lease is lost, pulling stops, the
 * events started finish and are acked before anyone else may take it.
 */
export class LeasedLogPartitions<S> {
  readonly counts = { events: 0, failed: 0, lastEventSeq: 0 };
  readonly #opts: LeasedLogOptions<S>;
  readonly #log: Logger;
  readonly #running = new Map<number, LeasedPartition<S>>();
  #leases?: PartitionLeases;
  #ackTimer?: NodeJS.Timeout;

  private constructor(opts: LeasedLogOptions<S>) {
    this.#opts = opts;
    this.#log = opts.log;
  }

  static async start<S>(opts: LeasedLogOptions<S>): Promise<LeasedLogPartitions<S>> {
    const self = new LeasedLogPartitions(opts);
    const jsm = await jetstreamManager(opts.nc);
    const js = jetstream(opts.nc);
    // Events finish out of order (their writes are pipelined); one ack covers all finished ones.
    self.#ackTimer = setInterval(() => {
      for (const r of self.#running.values()) r.acks.flush();
    }, ACK_EVERY_MS);
    try {
      self.#leases = new PartitionLeases(
        await new Kvm(opts.nc).open(opts.leaseBucket),
        { partitions: opts.partitions, leaseMs: opts.leaseMs },
        { acquired: (p) => self.#startPartition(jsm, js, p), lost: (p) => self.#stopPartition(p) },
        opts.log,
      );
      await self.#leases.start();
    } catch (err) {
      clearInterval(self.#ackTimer);
      throw err;
    }
    opts.log.info({ partitions: self.owned, of: opts.partitions, projectorId: self.#leases.id }, `${opts.layout.kind} projector consuming events`);
    return self;
  }

  /** The partitions this process holds a lease on. */
  get owned(): number[] {
    return this.#leases?.owned ?? [];
  }

  /** Stop pulling in every partition and wait for the loops; what is in flight goes on (see `stop`). */
  async halt(): Promise<void> {
    for (const r of this.#running.values()) {
      r.stopping = true;
      r.messages?.stop();
    }
    await Promise.all([...this.#running.values()].map((r) => r.loop));
  }

  /** Halt, then each partition's events finish and are acked, then its lease goes. */
  async stop(): Promise<void> {
    await this.halt();
    await this.#leases?.stop();
    clearInterval(this.#ackTimer);
  }

  /** A lease was taken: the partition's durable afresh from its ack floor (seeded from earlier layouts if it is new). */
  #startPartition(jsm: JetStreamManager, js: JetStreamClient, p: number): void {
    const { names, layout, partitions, work } = this.#opts;
    const r: LeasedPartition<S> = {
      partition: p,
      acks: new AckFloor<JsMsg>(0),
      deliveredBefore: 0,
      state: work.initial,
      inFlight: new Set(),
      stopping: false,
      loop: Promise.resolve(),
    };
    this.#running.set(p, r);
    const plog = this.#log.child({ partition: p });
    r.loop = runWhileHeld({
      run: () => this.#runPartition(jsm, js, r, plog),
      stopping: () => r.stopping,
      confirm: async () => (await this.#leases?.confirm(p)) ?? false,
      log: plog,
    }).catch((err: unknown) => plog.error({ err }, `${layout.kind} partition consumer failed`));
  }

  /** One attempt at a partition: its durable made again from the ack floor, then consumed until stopped. */
  async #runPartition(jsm: JetStreamManager, js: JetStreamClient, r: LeasedPartition<S>, plog: Logger): Promise<void> {
    const { names, layout, partitions, work } = this.#opts;
    const p = r.partition;
    // A second attempt: the first's events finish first (each acks on the consumer it came from).
    await Promise.allSettled([...r.inFlight]);
    const durable = layout.durableOf(p, partitions);
    const exists = await jsm.consumers.info(names.streams.events, durable).then(() => true, () => false);
    const seed = exists ? null : await seedFromEarlierLayouts(jsm, names, layout, partitions);
    if (seed) plog.info({ durable, ...seed }, `new ${layout.kind} partition durable, starting where the earlier layout stood`);
    const { consumer, ackFloor, deliveredBefore } = await durableFromAckFloor(
      jsm,
      js,
      {
        stream: names.streams.events,
        durable,
        // No filter: the stream holds events only, and every partition reads all of them (see partition-durables.ts).
        ackWaitMs: this.#opts.ackWaitMs,
        maxAckPending: this.#opts.maxAckPending,
        newFromEnd: layout.newFromEnd,
        ...(seed ? { seed } : {}),
      },
      plog,
    );
    await removeEarlierLayouts(jsm, names, layout, partitions, plog);
    if (work.open) r.state = await work.open(p, { ackFloor, deliveredBefore }, plog);
    r.acks = new AckFloor<JsMsg>(ackFloor);
    r.deliveredBefore = deliveredBefore;
    if (r.stopping) return;
    r.messages = await consumer.consume({ max_messages: 1024 });
    if (r.stopping) r.messages.stop();
    await this.#consume(r, r.messages);
  }

  /** Read one partition's durable: its own events handled, the others' acked as they pass. */
  async #consume(r: LeasedPartition<S>, messages: ConsumerMessages): Promise<void> {
    const { names, partitions, work, layout } = this.#opts;
    const p = r.partition;
    // Layout kinds are the projectors' names (delivery, push: lib/partition-durables.ts).
    const projector = layout.kind as ProjectorName;
    const lag = new ConsumerLag(projector);
    const removeLag = consumerLags.add(lag);
    try {
      await this.#consumeWith(r, messages, lag);
    } finally {
      removeLag();
    }
  }

  async #consumeWith(r: LeasedPartition<S>, messages: ConsumerMessages, lag: ConsumerLag): Promise<void> {
    const { names, partitions, work } = this.#opts;
    const p = r.partition;
    for await (const m of messages) {
      lag.seen(m);
      // A redelivery of an event still in progress (a nak, a long ack wait) is handled again: its
      // writes must be idempotent. One already covered by our ack needs nothing.
      if (r.acks.track(m) === 'already-acked') continue;
      if (eventPartition(names, m.subject, partitions) !== p) {
        work.passing?.(m);
        r.acks.done(m.seq);
        continue;
      }
      // The floor this event was tracked on: a later attempt at the partition has a floor of its own.
      const acks = r.acks;
      let started: { done: Promise<unknown> };
      try {
        started = await work.handle(r, m);
      } catch (err) {
        this.counts.failed++;
        failedEvents.inc(lag.projector);
        this.#log.error({ err, eventSeq: m.seq, subject: m.subject, partition: p }, 'event could not be handled, will be redelivered');
        m.nak(1_000);
        continue;
      }
      const done = started.done.then(
        () => {
          this.counts.events++;
          projectedEvents.inc(lag.projector);
          this.counts.lastEventSeq = Math.max(this.counts.lastEventSeq, m.seq);
          acks.done(m.seq);
        },
        (err: unknown) => {
          this.counts.failed++;
          failedEvents.inc(lag.projector);
          this.#log.warn({ err, eventSeq: m.seq, subject: m.subject, partition: p }, 'the writes of an event failed, it will be redelivered');
          m.nak(1_000);
        },
      );
      r.inFlight.add(done);
      void done.finally(() => r.inFlight.delete(done));
    }
  }

  /** The lease is gone: stop pulling, let the events started finish and ack them before anyone else may take it. */
  async #stopPartition(p: number): Promise<void> {
    const r = this.#running.get(p);
    if (!r) return;
    r.stopping = true;
    r.messages?.stop();
    await r.loop;
    await Promise.allSettled([...r.inFlight]);
    if (this.#opts.work.settle) {
      await this.#opts.work.settle();
      await Promise.allSettled([...r.inFlight]);
    }
    r.acks.flush();
    if (this.#running.get(p) === r) this.#running.delete(p);
  }
}
