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

  /** After a refused take: how long until one will succeed (the `retryAfterMs` clients are told). */
  retryAfterMs(now = Date.now()): number {
    const tokens = Math.min(this.#capacity, this.#tokens + (now - this.#last) * this.#perMs);
    return tokens >= 1 ? 0 : Math.ceil((1 - tokens) / this.#perMs);
  }
}

type Keyed = { tokens: number; at: number; used: number };

/** How often (at most) a new key triggers a sweep of the buckets that have refilled. */
const SWEEP_EVERY_MS = 1_000;

/**
 * Token buckets by key (a user, an address), in one bounded map. A bucket that has refilled is the
 * same as no bucket, so an entry is dropped once it is full again: the map holds only the keys that
 * used their bucket lately. That is what lets a bucket outlive the key's connections (a reconnect
 * finds it as it was left, not full) without growing with every key ever seen. Past `maxKeys` (a
 * flood of distinct keys) the oldest entries go and those keys start full again: bounded memory
 * wins over exactness there.
 *
 * Tokens may go below zero, down to -capacity, through `debit`: consumption reported by other
 * gateways (user-limits.ts) is a debt this gateway's refill pays off first. Pure: the clock is passed in.
 */
export class KeyedBuckets {
  readonly #perMs: number;
  readonly #capacity: number;
  readonly #maxKeys: number;
  readonly #entries = new Map<string, Keyed>();
  #sweptAt = Number.NEGATIVE_INFINITY;

  constructor(perSecond: number, capacity: number, maxKeys: number) {
    this.#perMs = perSecond / 1000;
    this.#capacity = capacity;
    this.#maxKeys = maxKeys;
  }

  get size(): number {
    return this.#entries.size;
  }

  get perSecond(): number {
    return this.#perMs * 1000;
  }

  /** Take a token for `key`: 0 when taken, otherwise the milliseconds until one will be there. */
  take(key: string, now: number): number {
    const e = this.#entry(key, now);
    if (e.tokens >= 1) {
      e.tokens -= 1;
      e.used += 1;
      return 0;
    }
    return Math.ceil((1 - e.tokens) / this.#perMs);
  }

  /** `n` tokens used elsewhere (another gateway): taken even if that leaves a debt. */
  debit(key: string, n: number, now: number): void {
    const e = this.#entry(key, now);
    e.tokens = Math.max(-this.#capacity, e.tokens - n);
  }

  /** The tokens `key` has now (the capacity when it has no entry). */
  tokens(key: string, now: number): number {
    const e = this.#entries.get(key);
    return e ? this.#refilled(e, now) : this.#capacity;
  }

  /** The keys that took at least `min` tokens since the last call, with how many; every count restarts. */
  takeUsage(min: number): [string, number][] {
    const out: [string, number][] = [];
    for (const [key, e] of this.#entries) {
      if (e.used >= min) out.push([key, e.used]);
      e.used = 0;
    }
    return out;
  }

  /** Drop the entries that have refilled (nothing of them is lost: a missing key starts full). */
  sweep(now: number): void {
    this.#sweptAt = now;
    for (const [key, e] of this.#entries) if (this.#refilled(e, now) >= this.#capacity) this.#entries.delete(key);
  }

  #refilled(e: Keyed, now: number): number {
    return Math.min(this.#capacity, e.tokens + Math.max(0, now - e.at) * this.#perMs);
  }

  #entry(key: string, now: number): Keyed {
    let e = this.#entries.get(key);
    if (e) {
      e.tokens = this.#refilled(e, now);
      e.at = Math.max(e.at, now);
      return e;
    }
    // At most once a second: under a flood of new keys a sweep per key would be quadratic.
    if (now - this.#sweptAt >= SWEEP_EVERY_MS) this.sweep(now);
    // Still full: the oldest entry goes (a Map keeps insertion order).
    if (this.#entries.size >= this.#maxKeys) this.#entries.delete(this.#entries.keys().next().value as string);
    e = { tokens: this.#capacity, at: now, used: 0 };
    this.#entries.set(key, e);
    return e;
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
