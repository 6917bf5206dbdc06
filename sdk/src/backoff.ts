/**
 * Delays between reconnects (and between retries of a send): exponential with full jitter,
 * capped. Full jitter (a uniform delay between 0 and the exponential ceiling) spreads the clients
 * a server restart disconnected all at once, so they do not come back in waves (AWS Architecture
 * Blog, "Exponential Backoff And Jitter").
 */

export type BackoffOptions = {
  /** The ceiling of the first delay, in ms. */
  firstMs: number;
  /** No delay is above this, however many failures came before. */
  maxMs: number;
  /** Each failure multiplies the ceiling by this (≥ 1). */
  factor: number;
  /**
   * A connection that stayed up this long was a success: the next delay starts from `firstMs`
   * again. A shorter one (accepted, then dropped at once) keeps growing the delay, so a server
   * that accepts and closes does not get a reconnect storm.
   */
  stableAfterMs: number;
  /** A number in [0, 1); Math.random unless a test injects one. */
  random: () => number;
};

export function defaultBackoffOptions(): BackoffOptions {
  return { firstMs: 500, maxMs: 30_000, factor: 2, stableAfterMs: 10_000, random: Math.random };
}

export class Backoff {
  readonly options: BackoffOptions;
  #failures = 0;

  constructor(options: Partial<BackoffOptions> = {}) {
    const o = { ...defaultBackoffOptions(), ...options };
    // Bad options fail at once rather than as a reconnect loop with no pause.
    if (!(o.firstMs >= 0) || !(o.maxMs >= o.firstMs) || !(o.factor >= 1)) {
      throw new RangeError(`backoff needs 0 <= firstMs <= maxMs and factor >= 1 (got ${o.firstMs}, ${o.maxMs}, ${o.factor})`);
    }
    this.options = o;
  }

  /** Failures since the last reset: how many delays next() has given. */
  get failures(): number {
    return this.#failures;
  }

  /** The ceiling of the delay next() gives now: min(maxMs, firstMs × factor^failures). */
  ceiling(): number {
    const { firstMs, maxMs, factor } = this.options;
    // firstMs 0 stays 0: 0 × factor^failures would become NaN once the power overflows to Infinity.
    if (firstMs === 0) return 0;
    return Math.min(maxMs, firstMs * factor ** this.#failures);
  }

  /** The delay before the next attempt, a whole number of ms in [0, ceiling()]. */
  next(): number {
    const ceiling = this.ceiling();
    this.#failures++;
    return Math.round(this.options.random() * ceiling);
  }

  /** Start again from `firstMs`. */
  reset(): void {
    this.#failures = 0;
  }

  /** A connection ended after being up `upMs`: resets when it was up long enough to count as a success. */
  connectionLasted(upMs: number): void {
    if (upMs >= this.options.stableAfterMs) this.reset();
  }
}
