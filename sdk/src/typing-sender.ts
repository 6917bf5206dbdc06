import type { CancelTimer, Clock } from './clock.js';

export type TypingSenderOptions = {
  /** A typing.start is renewed this often while the user keeps typing (the server ends it after 5 s). */
  renewEveryMs: number;
  /** No keystroke for this long: typing.stop. */
  idleAfterMs: number;
};

/**
 * The user's own typing: call `keystroke(conversationId)` on every input event; this sends
 * `typing.start` at once, renews it while keystrokes keep coming (never more than once per
 * renewEveryMs, whatever the keystroke rate), and sends `typing.stop` after idleAfterMs without
 * one, or at `stop()` (the message was sent).
 */
export class TypingSender {
  readonly #send: (type: 'typing.start' | 'typing.stop', conversationId: string) => void;
  readonly #clock: Clock;
  readonly #o: TypingSenderOptions;
  readonly #active = new Map<string, { lastSentAt: number; cancelIdle: CancelTimer }>();

  constructor(send: (type: 'typing.start' | 'typing.stop', conversationId: string) => void, clock: Clock, options: Partial<TypingSenderOptions> = {}) {
    this.#send = send;
    this.#clock = clock;
    this.#o = { renewEveryMs: 2_500, idleAfterMs: 4_000, ...options };
  }

  keystroke(conversationId: string): void {
    const now = this.#clock.now();
    const active = this.#active.get(conversationId);
    active?.cancelIdle();
    const renew = !active || now - active.lastSentAt >= this.#o.renewEveryMs;
    if (renew) this.#send('typing.start', conversationId);
    this.#active.set(conversationId, {
      lastSentAt: renew ? now : active!.lastSentAt,
      cancelIdle: this.#clock.after(this.#o.idleAfterMs, () => this.stop(conversationId)),
    });
  }

  stop(conversationId: string): void {
    const active = this.#active.get(conversationId);
    if (!active) return;
    active.cancelIdle();
    this.#active.delete(conversationId);
    this.#send('typing.stop', conversationId);
  }

  /** The connection is gone: the server ended our typing; nothing is sent. */
  reset(): void {
    for (const { cancelIdle } of this.#active.values()) cancelIdle();
    this.#active.clear();
  }
}
