import type { ConsumerInfo, JetStreamManager } from '@nats-io/jetstream';
import { ackFloorOf } from './durable-consumer.js';
import { isNotFound } from './nats.js';

/** How far a durable is behind its stream: the events above its ack floor (null: no such durable). */
export function lagOf(info: ConsumerInfo | null, lastSeq: number): { ackFloor: number | null; lag: number | null } {
  if (!info) return { ackFloor: null, lag: null };
  const ackFloor = ackFloorOf(info);
  return { ackFloor, lag: Math.max(0, lastSeq - ackFloor) };
}

/**
 * The lag of some durables of one stream, read now: one stream info and one consumer info each.
 * What `parley partitions` shows, and what /ready judges for the projectors a process runs.
 */
export async function durableLags(
  jsm: JetStreamManager,
  stream: string,
  durables: string[],
): Promise<{ lastSeq: number; lags: { durable: string; ackFloor: number | null; lag: number | null }[] }> {
  const [info, consumers] = await Promise.all([
    jsm.streams.info(stream),
    Promise.all(
      durables.map((d) =>
        jsm.consumers.info(stream, d).catch((err: unknown) => {
          if (isNotFound(err)) return null;
          throw err;
        }),
      ),
    ),
  ]);
  const lastSeq = info.state.last_seq;
  return { lastSeq, lags: durables.map((durable, i) => ({ durable, ...lagOf(consumers[i]!, lastSeq) })) };
}
