import { newId } from '../../lib/ids.js';
import type { CommandOutcome } from '../../schemas/index.js';

/**
 * REST calls wait for their command's outcome: each request gets an origin connection id of its
 * own (`rest_…`), and the engine's answer on this gateway's reply subject resolves it.
 */
export class OutcomeWaiter {
  readonly #waiting = new Map<string, { resolve: (o: CommandOutcome | undefined) => void; timer: NodeJS.Timeout }>();

  /** A fresh origin id and the promise of its outcome (undefined on timeout). */
  expect(timeoutMs: number): { connectionId: string; outcome: Promise<CommandOutcome | undefined> } {
    const connectionId = newId('rest');
    const outcome = new Promise<CommandOutcome | undefined>((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(connectionId);
        resolve(undefined);
      }, timeoutMs);
      this.#waiting.set(connectionId, { resolve, timer });
    });
    return { connectionId, outcome };
  }

  /** True when the outcome was for a waiting REST request. */
  deliver(outcome: CommandOutcome): boolean {
    const w = this.#waiting.get(outcome.connectionId);
    if (!w) return false;
    this.#waiting.delete(outcome.connectionId);
    clearTimeout(w.timer);
    w.resolve(outcome);
    return true;
  }

  cancel(connectionId: string): void {
    const w = this.#waiting.get(connectionId);
    if (!w) return;
    clearTimeout(w.timer);
    this.#waiting.delete(connectionId);
    w.resolve(undefined);
  }
}
