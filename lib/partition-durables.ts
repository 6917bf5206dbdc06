import type { ConsumerInfo, JetStreamManager } from '@nats-io/jetstream';
import { ackFloorOf } from './durable-consumer.js';
import type { Logger } from './log.js';
import type { Names } from './names.js';
import { isNotFound } from './nats.js';

/**
 * The durables of a projector whose work is split in leased partitions (delivery, push): one per
 * partition, named with the layout (`<kind>-p<N>-of-<count>`). Every one reads the whole event log
 * with no filter subject (a filter costs nats-server 2.9 a recount of the pending messages:
 * lib/durable-consumer.ts) and handles only the events of its own partition (lib/partition.ts
 * eventPartition), acking the rest as it passes them: each partition pays for reading every event,
 * which is cheap next to projecting one.
 *
 * A new layout (a changed partition count, or the one durable of earlier versions) is taken over
 * without skipping an event: a new durable starts where the slowest durable of the earlier layouts
 * stood, and those are removed once every partition of the new layout has its own.
 */
export type DurableLayout = {
  /** For logs: `delivery`, `push`. */
  kind: string;
  /** The durable of partition `p` of `of`. */
  durableOf: (p: number, of: number) => string;
  /** Any durable of this kind, of this layout or an earlier one (the one durable of earlier versions included). */
  isOfKind: (name: string) => boolean;
  /**
   * With no earlier layout, a new durable starts at the end of the log (or where the other
   * partitions' durables of its layout stood, so that all start together): the push projector,
   * whose turning on must not push the history. Otherwise it starts at the log's first event.
   */
  newFromEnd: boolean;
};

export const deliveryLayout = (names: Names): DurableLayout => ({
  kind: 'delivery',
  durableOf: names.consumers.deliveryPartition,
  isOfKind: names.consumers.isDelivery,
  newFromEnd: false,
});

export const pushLayout = (names: Names): DurableLayout => ({
  kind: 'push',
  durableOf: names.consumers.pushPartition,
  isOfKind: names.consumers.isPush,
  newFromEnd: true,
});

/** Every durable of the kind on the event log, of this layout or an earlier one. */
export async function partitionDurables(jsm: JetStreamManager, names: Names, layout: DurableLayout): Promise<ConsumerInfo[]> {
  const found: ConsumerInfo[] = [];
  try {
    for await (const c of jsm.consumers.list(names.streams.events)) if (layout.isOfKind(c.name)) found.push(c);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  return found;
}

export type DurableSeed = { ackFloor: number; deliveredBefore: number };

/**
 * Where a partition's first durable of a new layout starts: where the slowest durable of the
 * earlier layouts stood, so no event is skipped; what it handles again must be idempotent (inbox
 * Nats-Msg-Ids, push job ids). With none and `newFromEnd`, where the slowest of its own layout
 * stands. Null otherwise (a new installation: the durable starts at the log's start, or its end).
 */
export async function seedFromEarlierLayouts(jsm: JetStreamManager, names: Names, layout: DurableLayout, partitions: number): Promise<DurableSeed | null> {
  const all = await partitionDurables(jsm, names, layout);
  const earlier = all.filter((c) => !isOfLayout(layout, c.name, partitions));
  const from = earlier.length > 0 ? earlier : layout.newFromEnd ? all : [];
  if (from.length === 0) return null;
  return {
    ackFloor: Math.min(...from.map(ackFloorOf)),
    deliveredBefore: Math.max(...from.map((c) => c.delivered.stream_seq)),
  };
}

/**
 * Once every partition of this layout has its durable, the earlier layouts' durables are not
 * needed to seed anything: remove them (any process may; a second removal finds nothing).
 */
export async function removeEarlierLayouts(jsm: JetStreamManager, names: Names, layout: DurableLayout, partitions: number, log: Logger): Promise<void> {
  const all = await partitionDurables(jsm, names, layout);
  const current = all.filter((c) => isOfLayout(layout, c.name, partitions));
  if (current.length < partitions) return;
  for (const c of all) {
    if (isOfLayout(layout, c.name, partitions)) continue;
    await jsm.consumers.delete(names.streams.events, c.name).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
    log.info({ consumer: c.name, ackFloor: ackFloorOf(c) }, `removed a ${layout.kind} durable of an earlier layout`);
  }
}

function isOfLayout(layout: DurableLayout, name: string, partitions: number): boolean {
  return Array.from({ length: partitions }, (_, p) => layout.durableOf(p, partitions)).includes(name);
}
