import type { CancelTimer, Clock } from '../../sdk/src/clock.js';

/**
 * A clock that moves only when the test says so: advance(ms) fires the timers that fall due, in
 * time order (ties in the order they were set), including timers those timers set.
 */
export class ManualClock implements Clock {
  #now: number;
  #nextId = 0;
  #timers = new Map<number, { at: number; id: number; fn: () => void }>();

  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  after(ms: number, fn: () => void): CancelTimer {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), id, fn });
    return () => void this.#timers.delete(id);
  }

  /** Timers set and not yet fired or cancelled. */
  get timers(): number {
    return this.#timers.size;
  }

  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let due: { at: number; id: number; fn: () => void } | undefined;
      for (const timer of this.#timers.values()) {
        if (timer.at <= end && (!due || timer.at < due.at || (timer.at === due.at && timer.id < due.id))) due = timer;
      }
      if (!due) break;
      this.#timers.delete(due.id);
      this.#now = due.at;
      due.fn();
    }
    this.#now = end;
  }
}
