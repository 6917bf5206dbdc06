import { Backoff, type BackoffOptions } from './backoff.js';
import { systemClock, type CancelTimer, type Clock } from './clock.js';
import { isTemporaryCode, SendFailedError, type AnyErrorCode, type ParleyErrorDetails } from './errors.js';

/**
 * Sends that survive reconnects. Each send is keyed by its tempId, which the server keys it by
 * too (`<userId>:<tempId>`): sending it again, on this connection or the next, never makes a
 * second message. So the outbox re-sends freely — after a reconnect, after a temporary error
 * (`send_failed`, `overloaded`, `rate_limited`, `internal`), after no answer — always with the SAME
 * tempId, until the server confirms it (`message.sent`, or the user's own `message.new` on a later
 * connection) or a bound is reached.
 *
 * The outbox knows nothing of sockets or frames: the client gives it a `transmit` function and
 * tells it what the server answered and when the connection went and came back.
 */

/**
 * Puts a send on the wire. Returns false when there is no open connection: the send waits for
 * reconnected(), and no attempt is counted.
 */
export type Transmit<P> = (tempId: string, payload: P) => boolean;

export type OutboxOptions = {
  /** Give up once a send went out this many times and failed again (temporary errors and timeouts). */
  maxAttempts: number;
  /**
   * Give up this long after add(), whatever the state (Infinity: never, for apps that keep sends
   * across long offline periods). Within the server's idempotency window (its last 1,000 commands
   * per conversation, and about two minutes for a tempId reused elsewhere) a late retry is safe.
   */
  giveUpAfterMs: number;
  /** A send with no answer within this long is treated as a temporary failure (`timeout`). */
  answerTimeoutMs: number;
  /** The pause before each retry after a temporary failure (per send); `rate_limited`'s retryAfterMs is a floor. */
  retry: Partial<BackoffOptions>;
  clock: Clock;
};

export function defaultOutboxOptions(): OutboxOptions {
  return {
    maxAttempts: 6,
    giveUpAfterMs: 60_000,
    answerTimeoutMs: 10_000,
    // `overloaded` asks to back off; the server reads its backlog four times a second.
    retry: { firstMs: 500, maxMs: 8_000, factor: 2 },
    clock: systemClock,
  };
}

/**
 * - `waiting`: not on the wire (no connection); goes out at reconnected().
 * - `in_flight`: sent, waiting for the answer (or the answer timeout).
 * - `retrying`: failed for a temporary reason, waiting for its back-off before going out again.
 */
export type PendingState = 'waiting' | 'in_flight' | 'retrying';

export type PendingSend<P> = {
  readonly tempId: string;
  readonly payload: P;
  readonly state: PendingState;
  /** Times it went out so far. */
  readonly attempts: number;
  readonly addedAt: number;
};

type Entry<P, R> = {
  tempId: string;
  payload: P;
  state: PendingState;
  attempts: number;
  addedAt: number;
  backoff: Backoff;
  /** The answer timer or the retry timer, whichever the state has. */
  cancelTimer: CancelTimer | undefined;
  cancelDeadline: CancelTimer | undefined;
  last: { code: AnyErrorCode; message: string } | undefined;
  promise: Promise<R>;
  resolve: (result: R) => void;
  reject: (error: SendFailedError) => void;
};

export class Outbox<P, R> {
  readonly options: OutboxOptions;
  readonly #transmit: Transmit<P>;
  /** In add() order (a Map keeps insertion order), so re-sends go out in the order of the sends. */
  readonly #entries = new Map<string, Entry<P, R>>();

  constructor(transmit: Transmit<P>, options: Partial<OutboxOptions> = {}) {
    const o = { ...defaultOutboxOptions(), ...options };
    if (!(o.maxAttempts >= 1) || !(o.giveUpAfterMs > 0) || !(o.answerTimeoutMs > 0)) {
      throw new RangeError(`outbox needs maxAttempts >= 1, giveUpAfterMs > 0 and answerTimeoutMs > 0`);
    }
    new Backoff(o.retry); // checks the retry options now, not at the first failure
    this.options = o;
    this.#transmit = transmit;
  }

  /** Sends not yet confirmed or given up. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Send `payload` under `tempId` (a UUID is best: the server wants each tempId once per user).
   * Resolves with the confirmation; rejects with a SendFailedError. Adding a tempId that is still
   * pending returns the pending promise (and keeps the first payload), as the server would.
   */
  add(tempId: string, payload: P): Promise<R> {
    const pending = this.#entries.get(tempId);
    if (pending) return pending.promise;
    const { clock } = this.options;
    let resolve!: (result: R) => void;
    let reject!: (error: SendFailedError) => void;
    const promise = new Promise<R>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const entry: Entry<P, R> = {
      tempId,
      payload,
      state: 'waiting',
      attempts: 0,
      addedAt: clock.now(),
      backoff: new Backoff(this.options.retry),
      cancelTimer: undefined,
      cancelDeadline: undefined,
      last: undefined,
      promise,
      resolve,
      reject,
    };
    this.#entries.set(tempId, entry);
    if (Number.isFinite(this.options.giveUpAfterMs)) {
      entry.cancelDeadline = clock.after(this.options.giveUpAfterMs, () => {
        const last = entry.last ?? { code: 'timeout', message: entry.attempts === 0 ? 'no connection to send it on' : 'no answer' };
        this.#fail(entry, last.code, `gave up after ${this.options.giveUpAfterMs} ms and ${entry.attempts} attempt(s): ${last.message}`);
      });
    }
    this.#send(entry);
    return promise;
  }

  /**
   * The server confirmed `tempId`. Returns false for a tempId that is not pending (already
   * confirmed — every re-send is answered — given up, or never ours): nothing happens.
   */
  confirm(tempId: string, result: R): boolean {
    const entry = this.#entries.get(tempId);
    if (!entry) return false;
    this.#settle(entry);
    entry.resolve(result);
    return true;
  }

  /**
   * The server answered `tempId` with an error. A permanent one ends the send; a temporary one
   * sends it again after a back-off (at least `retryAfterMs`), until the bound. Returns false for
   * a tempId that is not pending.
   */
  onError(tempId: string, code: AnyErrorCode, message: string, details: ParleyErrorDetails = {}): boolean {
    const entry = this.#entries.get(tempId);
    if (!entry) return false;
    if (!isTemporaryCode(code, details.temporary)) {
      this.#fail(entry, code, message, details);
    } else if (entry.state === 'in_flight') {
      this.#retryLater(entry, code, message, details);
    }
    // A temporary error for a send that is not in flight answers an earlier attempt (one that
    // timed out): the current attempt is already taken care of.
    return true;
  }

  /** The connection is gone: answers to what is in flight will not come on it. */
  disconnected(): void {
    for (const entry of this.#entries.values()) {
      if (entry.state !== 'in_flight') continue;
      entry.cancelTimer?.();
      entry.cancelTimer = undefined;
      entry.state = 'waiting';
    }
  }

  /**
   * A new connection is ready (its connection.success came): everything waiting — and anything
   * still counted in flight on the old one — goes out again, in the order of the sends. Sends
   * backing off keep their pause: a `rate_limited` is per user, not per connection.
   */
  reconnected(): void {
    for (const entry of [...this.#entries.values()]) {
      if (entry.state !== 'retrying') this.#send(entry);
    }
  }

  /** What is not confirmed yet, in the order of the sends. */
  pending(): PendingSend<P>[] {
    return [...this.#entries.values()].map(({ tempId, payload, state, attempts, addedAt }) => ({ tempId, payload, state, attempts, addedAt }));
  }

  /** Reject every pending send with `closed` (the client is closing) and stop every timer. */
  close(message = 'the client closed before the send was confirmed'): void {
    for (const entry of [...this.#entries.values()]) this.#fail(entry, 'closed', message);
  }

  #send(entry: Entry<P, R>): void {
    entry.cancelTimer?.();
    entry.cancelTimer = undefined;
    if (!this.#transmit(entry.tempId, entry.payload)) {
      entry.state = 'waiting';
      return;
    }
    if (this.#entries.get(entry.tempId) !== entry) return; // transmit answered it at once (a test double may)
    entry.attempts++;
    entry.state = 'in_flight';
    const { answerTimeoutMs, clock } = this.options;
    entry.cancelTimer = clock.after(answerTimeoutMs, () => {
      entry.cancelTimer = undefined;
      this.#retryLater(entry, 'timeout', `no answer within ${answerTimeoutMs} ms`);
    });
  }

  #retryLater(entry: Entry<P, R>, code: AnyErrorCode, message: string, details: ParleyErrorDetails = {}): void {
    entry.cancelTimer?.();
    entry.cancelTimer = undefined;
    entry.last = { code, message };
    if (entry.attempts >= this.options.maxAttempts) {
      this.#fail(entry, code, `gave up after ${entry.attempts} attempt(s): ${message}`, details);
      return;
    }
    entry.state = 'retrying';
    const delay = Math.max(entry.backoff.next(), details.retryAfterMs ?? 0);
    entry.cancelTimer = this.options.clock.after(delay, () => {
      entry.cancelTimer = undefined;
      this.#send(entry);
    });
  }

  #fail(entry: Entry<P, R>, code: AnyErrorCode, message: string, details: ParleyErrorDetails = {}): void {
    this.#settle(entry);
    entry.reject(new SendFailedError(entry.tempId, entry.attempts, code, message, { ...details, temporary: details.temporary ?? isTemporaryCode(code) }));
  }

  /** Take the entry out and stop its timers; the caller resolves or rejects its promise. */
  #settle(entry: Entry<P, R>): void {
    entry.cancelTimer?.();
    entry.cancelDeadline?.();
    entry.cancelTimer = undefined;
    entry.cancelDeadline = undefined;
    this.#entries.delete(entry.tempId);
  }
}
