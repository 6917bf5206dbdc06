import type { Logger } from './log.js';

/**
 * uWebSockets.js turns anything its callbacks throw into an uncaught exception, and a NATS
 * subscription whose callback throws stops reading for good (nobody hears anything after it). One
 * hostile input that reaches an unforeseen throw must cost that input, not the process: every such
 * callback goes through here, which logs the error with its context, counts it (/health shows the
 * count) and carries on.
 */
export class Faults {
  count = 0;
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  report(err: unknown, where: string, context: object = {}): void {
    this.count++;
    this.#log.error({ err, where, ...context }, 'unexpected error contained; the process carries on');
  }

  /** A function that runs `fn` and reports what it throws instead of letting it escape (then runs `onError`, guarded too). */
  guard<A extends unknown[]>(where: string, fn: (...args: A) => void, onError?: (err: unknown, args: A) => void): (...args: A) => void {
    return (...args: A) => {
      try {
        fn(...args);
      } catch (err) {
        this.report(err, where);
        if (!onError) return;
        try {
          onError(err, args);
        } catch (again) {
          this.report(again, `${where} (answering the error)`);
        }
      }
    };
  }
}
