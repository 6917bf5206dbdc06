import type { JsMsg } from '@nats-io/jetstream';
import { AckFloor } from '../lib/ack-floor.js';

/**
 * How the engine acknowledges one partition's commands, by the retention of its stream.
 *
 * - Retention by count and age (lib/nats.ts streamConfigs): ack policy "all"; the decided prefix
 *   is acked a few times a second (lib/ack-floor.ts) instead of each command: an ack per command
 *   was a NATS message and ~11 µs of nats-server CPU each.
 * - A work queue left by an earlier version while it still holds commands: it allows explicit
 *   acks only, one per command, as before.
 */
export interface CommandAcks {
  /** A command arrived; false: it is covered by an ack already (a redelivery that crossed it): skip it. */
  arrived(m: JsMsg): boolean;
  /** Decided (or dropped for good): it may be acked. */
  done(m: JsMsg): void;
  /** Ack what is done and not yet acked. */
  flush(): void;
}

export function floorAcks(ackFloor: number): CommandAcks {
  const floor = new AckFloor<JsMsg>(ackFloor);
  return {
    arrived: (m) => floor.track(m) !== 'already-acked',
    done: (m) => floor.done(m.seq),
    flush: () => void floor.flush(),
  };
}

export function eachAcked(): CommandAcks {
  return {
    arrived: () => true,
    done: (m) => m.ack(),
    flush: () => undefined,
  };
}
