/**
 * A token bucket: `capacity` frames at once, refilled at `perSecond`. Pure apart from the clock,
 * which is passed in so tests can drive it.
 */
export class TokenBucket {
  #tokens: number;
  #last: number;
  readonly #capacity: number;
  readonly #perMs: number;

  constructor(perSecond: number, capacity: number, now = Date.now()) {
    this.#capacity = capacity;
    this.#tokens = capacity;
    this.#perMs = perSecond / 1000;
    this.#last = now;
  }

  take(now = Date.now()): boolean {
    this.#tokens = Math.min(this.#capacity, this.#tokens + (now - this.#last) * this.#perMs);
    this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/** Counts events in a sliding one-minute window (in 6 ten-second slots); `add` says whether the limit is passed. */
export class MinuteCounter {
  readonly #slots = new Array<number>(6).fill(0);
  #slot = 0;
  #slotStart: number;
  readonly #limit: number;

  constructor(limit: number, now = Date.now()) {
    this.#limit = limit;
    this.#slotStart = now;
  }

  add(now = Date.now()): boolean {
    if (now - this.#slotStart >= 60_000) {
      // Quiet for a whole window: nothing in it counts any more.
      this.#slots.fill(0);
      this.#slotStart = now;
    }
    while (now - this.#slotStart >= 10_000) {
      this.#slot = (this.#slot + 1) % 6;
      this.#slots[this.#slot] = 0;
      this.#slotStart += 10_000;
    }
    this.#slots[this.#slot]! += 1;
    return this.#slots.reduce((a, b) => a + b, 0) > this.#limit;
  }
}
