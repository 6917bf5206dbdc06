/**
 * Callers waiting for a count to fall below their mark: the back-pressure of a pipelined writer
 * (its unacknowledged publishes, its queued writes). The owner says when the count fell.
 */
export class BelowMark {
  readonly #count: () => number;
  #waiters: { below: number; resolve: () => void }[] = [];

  constructor(count: () => number) {
    this.#count = count;
  }

  /** Resolves once the count is below `below` (at once if so already). */
  when(below: number): Promise<void> {
    if (this.#count() < below) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ below, resolve }));
  }

  /** The count fell: release those whose mark it is now below. */
  settled(): void {
    if (this.#waiters.length === 0) return;
    const count = this.#count();
    this.#waiters = this.#waiters.filter((w) => (count < w.below ? (w.resolve(), false) : true));
  }
}
