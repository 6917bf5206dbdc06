import type { ConsumerInfo, JetStreamManager } from '@nats-io/jetstream';
import type { Names } from './names.js';
import { deliveryLayout, partitionDurables } from './partition-durables.js';

/**
 * The delivery projector's durables on the event log: one per delivery partition
 * (`delivery-p<N>-of-<count>`), each reading the whole log (lib/partition-durables.ts says why).
 */

/** Every delivery durable on the log, of this layout or an earlier one. */
export function deliveryDurables(jsm: JetStreamManager, names: Names): Promise<ConsumerInfo[]> {
  return partitionDurables(jsm, names, deliveryLayout(names));
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
