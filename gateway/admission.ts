/**
 * The admission rule of the gateways (command-backlog.ts reads its inputs): pure, so that it is
 * tested without a running pipeline.
 *
 * Two limits. `maxBacklog` counts work: commands not yet decided plus events the delivery
 * projector has not finished. `maxWaitMs` is the one a user feels: that backlog divided by the
 * rate the projector takes events is how long a send let in now would wait. A count alone is
 * the wrong size on every machine but one: 20,000 waiting is 10 s here at ~2,000 deliveries/s and
 * 1 s where the pipeline delivers 20,000/s.
 *
 * The projector acks an event only once the recipients' unread counts are written, at most once
 * per `ackLagMs` per user, so about that long's worth of finished events is always unacked: the
 * estimate leaves that out. (Counting only the events not yet handed to the projector instead
 * missed what it holds: with groups of 50 it held ~10 s of events, and admitted sends waited 11 s.)
 */

/** Below this backlog the wait is not estimated: a burst into a system that just started, or was idle, is not refused. */
export const WAIT_FLOOR = 1_000;

/** ackLagMs: how long after its inbox writes a finished event may stay unacked (the unread flush interval). */
export type AdmissionLimits = { maxBacklog: number; maxWaitMs: number; ackLagMs: number };

/** Whether sends are refused now. `drainPerSec` undefined: not measured yet (only the count applies). */
export function isOverloaded(backlog: number, drainPerSec: number | undefined, limits: AdmissionLimits): boolean {
  if (backlog > limits.maxBacklog) return true;
  if (limits.maxWaitMs <= 0 || backlog <= WAIT_FLOOR || drainPerSec === undefined) return false;
  // Nothing finishing at all (no engine, no projector) makes the wait unbounded.
  return drainPerSec <= 0 || (backlog / drainPerSec) * 1000 - limits.ackLagMs > limits.maxWaitMs;
}

/** How many events a second pass a point of the pipeline, from a running count read now and then. */
export class DrainRate {
  readonly #windowMs: number;
  #samples: { atMs: number; finished: number }[] = [];

  /** `windowMs`: the span the rate is taken over (a rate needs at least half of it). */
  constructor(windowMs = 2_000) {
    this.#windowMs = windowMs;
  }

  add(atMs: number, finished: number): void {
    const last = this.#samples.at(-1);
    // A count that went back (the consumer was recreated elsewhere) starts over.
    if (last && finished < last.finished) this.#samples = [];
    this.#samples.push({ atMs, finished });
    while (this.#samples.length > 2 && atMs - this.#samples[1]!.atMs >= this.#windowMs) this.#samples.shift();
  }

  /** Events per second over the window, or undefined while less than half of it is covered. */
  perSecond(): number | undefined {
    const first = this.#samples[0];
    const last = this.#samples.at(-1);
    if (!first || !last || last.atMs - first.atMs < this.#windowMs / 2) return undefined;
    return ((last.finished - first.finished) * 1000) / (last.atMs - first.atMs);
  }

  clear(): void {
    this.#samples = [];
  }
}
