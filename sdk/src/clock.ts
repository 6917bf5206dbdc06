/**
 * Time as the SDK's parts see it: injected, so tests drive it by hand (fast and deterministic)
 * and the parts never touch the global timers themselves.
 */

/** Cancels a timer; calling it after the timer fired, or twice, does nothing. */
export type CancelTimer = () => void;

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds. */
  after(ms: number, fn: () => void): CancelTimer;
}

/**
 * The global timers, typed here by hand: the SDK is checked without Node's or the DOM's types (so
 * that nothing Node-only slips in), and both environments have these two functions.
 */
const timers = globalThis as unknown as {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
};

/** The real clock: Date.now() and setTimeout. */
export const systemClock: Clock = {
  now: () => Date.now(),
  after(ms, fn) {
    const handle = timers.setTimeout(fn, ms);
    return () => timers.clearTimeout(handle);
  },
};
