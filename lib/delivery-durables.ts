import type { ConsumerInfo, JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from './log.js';
import type { Names } from './names.js';
import { isNotFound } from './nats.js';

/**
 * The delivery projector's durables on the event log: one per delivery partition, named with the
 * layout (`delivery-p<N>-of-<count>`). Every one reads the whole log with no filter subject (a
 * filter costs nats-server 2.9 a recount of the pending messages: lib/durable-consumer.ts) and
 * projects only the events of its own partition, acking the rest as it passes them.
 */

/** Every delivery durable on the log, of this layout or an earlier one. */
export async function deliveryDurables(jsm: JetStreamManager, names: Names): Promise<ConsumerInfo[]> {
  const found: ConsumerInfo[] = [];
  try {
    for await (const c of jsm.consumers.list(names.streams.events)) if (names.consumers.isDelivery(c.name)) found.push(c);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  return found;
}

/**
 * Where a partition's first durable of a new layout starts: where the slowest durable of the
 * earlier layouts (or the one `delivery` of earlier versions) stood, so no event is skipped; what
 * it projects again is idempotent (inbox Nats-Msg-Ids, and the entries stored before:
 * projections/delivery/stored-before.ts). Null when there is none (a new installation).
 */
export async function seedFromEarlierLayouts(jsm: JetStreamManager, names: Names, partitions: number): Promise<{ ackFloor: number; deliveredBefore: number } | null> {
  const earlier = (await deliveryDurables(jsm, names)).filter((c) => !isOfLayout(names, c.name, partitions));
  if (earlier.length === 0) return null;
  return {
    ackFloor: Math.min(...earlier.map((c) => c.ack_floor.stream_seq)),
    deliveredBefore: Math.max(...earlier.map((c) => c.delivered.stream_seq)),
  };
}

/**
 * Once every partition of this layout has its durable, the earlier layouts' durables are not
 * needed to seed anything: remove them (any process may; a second removal finds nothing).
 */
export async function removeEarlierLayouts(jsm: JetStreamManager, names: Names, partitions: number, log: Logger): Promise<void> {
  const all = await deliveryDurables(jsm, names);
  const current = all.filter((c) => isOfLayout(names, c.name, partitions));
  if (current.length < partitions) return;
  for (const c of all) {
    if (isOfLayout(names, c.name, partitions)) continue;
    await jsm.consumers.delete(names.streams.events, c.name).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
    log.info({ consumer: c.name, ackFloor: c.ack_floor.stream_seq }, 'removed a delivery durable of an earlier layout');
  }
}

/**
 * The events the delivery projectors have yet to finish, as the gateway's admission control
 * counts them: the partition furthest behind (each reads every event), and the lowest delivered
 * sequence (how fast the slowest one moves). Null when no projector has started.
 */
export function deliveryBacklog(durables: ConsumerInfo[]): { waiting: number; delivered: number } | null {
  if (durables.length === 0) return null;
  return {
    waiting: Math.max(...durables.map((c) => c.num_pending + c.num_ack_pending)),
    delivered: Math.min(...durables.map((c) => c.delivered.stream_seq)),
  };
}

function isOfLayout(names: Names, name: string, partitions: number): boolean {
  return Array.from({ length: partitions }, (_, p) => names.consumers.deliveryPartition(p, partitions)).includes(name);
}
