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

/**
 * Who is refused first. From half of either limit, sends are refused only from the users sending
 * most: those whose rate over the last second is above a fair share. The other half of the room is
 * left to everyone else, so one flooder filling the backlog does not get every other user refused
 * (before, past the limit everyone was, and a flood through ten connections had 14–19 of an
 * innocent user's 20 sends refused). Past the limit itself every send is refused, as before: the
 * bound on what waits holds whoever sends.
 */
export const SHED_FROM = 0.5;

/**
 * The fair share floor, in sends per second over the last second: a person typing ("ok", "sure",
 * "see you") sends at most about this; such a sender is never the one shed.
 */
export const MODEST_SENDS_PER_SECOND = 3;

export type Admission = 'admit' | 'shed' | 'refuse';

/**
 * Whether one send goes in: `userRate` is the sender's sends over the last second (this one
 * included), `activeSenders` how many users sent in that time. The fair share is the pipeline's
 * drain rate split evenly between them, and never below a person's typing rate (with nothing
 * draining, or not measured yet, that floor is the share).
 */
export function decideAdmission(
  x: { backlog: number; drainPerSec: number | undefined; userRate: number; activeSenders: number },
  limits: AdmissionLimits,
): Admission {
  if (isOverloaded(x.backlog, x.drainPerSec, limits)) return 'refuse';
  const soft = { ...limits, maxBacklog: limits.maxBacklog * SHED_FROM, maxWaitMs: limits.maxWaitMs * SHED_FROM };
  if (!isOverloaded(x.backlog, x.drainPerSec, soft)) return 'admit';
  return x.userRate > fairShare(x.drainPerSec, x.activeSenders) ? 'shed' : 'admit';
}

export function fairShare(drainPerSec: number | undefined, activeSenders: number): number {
  return Math.max(MODEST_SENDS_PER_SECOND, (drainPerSec ?? 0) / Math.max(1, activeSenders));
}

type Recent = { slot: number; current: number; previous: number };

/**
 * Sends per user over the last second, and how many users sent in it: a sliding window made of
 * two one-second slots (the previous slot weighted by how much of it is still in the window).
 * Only users who sent in the last two seconds are kept. Pure: the clock is passed in.
 */
export class RecentSends {
  readonly #users = new Map<string, Recent>();
  #slot = Number.NEGATIVE_INFINITY;
  #activeNow = 0;
  #activeBefore = 0;

  /** Count one send of `userId` at `nowMs`; returns the user's rate (sends in the last second, this one included). */
  add(userId: string, nowMs: number): number {
    const slot = this.#advance(nowMs);
    let r = this.#users.get(userId);
    if (!r) {
      r = { slot, current: 0, previous: 0 };
      this.#users.set(userId, r);
      this.#activeNow++;
    } else if (r.slot !== slot) {
      r.previous = r.slot === slot - 1 ? r.current : 0;
      r.current = 0;
      r.slot = slot;
      this.#activeNow++;
    }
    r.current++;
    return this.#rate(r, nowMs);
  }

  /** The user's sends over the last second. */
  rate(userId: string, nowMs: number): number {
    this.#advance(nowMs);
    const r = this.#users.get(userId);
    return r ? this.#rate(r, nowMs) : 0;
  }

  /** Users who sent in the last second (about). */
  active(nowMs: number): number {
    this.#advance(nowMs);
    return Math.max(this.#activeNow, this.#activeBefore);
  }

  get size(): number {
    return this.#users.size;
  }

  #rate(r: Recent, nowMs: number): number {
    const slot = Math.floor(nowMs / 1000);
    const elapsed = (nowMs - slot * 1000) / 1000;
    if (r.slot === slot) return r.current + r.previous * (1 - elapsed);
    if (r.slot === slot - 1) return r.current * (1 - elapsed);
    return 0;
  }

  #advance(nowMs: number): number {
    const slot = Math.floor(nowMs / 1000);
    if (slot === this.#slot) return slot;
    this.#activeBefore = slot === this.#slot + 1 ? this.#activeNow : 0;
    this.#activeNow = 0;
    this.#slot = slot;
    // Once a second: users with nothing in the last two slots are forgotten.
    for (const [userId, r] of this.#users) if (r.slot < slot - 1) this.#users.delete(userId);
    return slot;
  }
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
