/**
 * What a fake outside service (push service, webhook receiver) has received, with waits that wake on
 * each new record: deliveries are asynchronous, so a test waits for the nth one instead of sleeping.
 */
export class Recorder<T> {
  readonly items: T[] = [];
  #wake = new Set<() => void>();

  add(item: T): void {
    this.items.push(item);
    for (const wake of [...this.#wake]) wake();
  }

  /** Resolve with every record once `predicate` holds for them; reject with what was seen when time is up. */
  waitUntil(predicate: (items: readonly T[]) => boolean, timeoutMs = 5_000, what = 'the condition'): Promise<T[]> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (!predicate(this.items)) return false;
        done();
        resolve([...this.items]);
        return true;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${this.items.length} received`));
      }, timeoutMs);
      const wake = (): void => void check();
      const done = (): void => {
        clearTimeout(timer);
        this.#wake.delete(wake);
      };
      this.#wake.add(wake);
      check();
    });
  }

  /** Resolve with the first `n` records once there are at least `n`. */
  async waitFor(n: number, timeoutMs = 5_000): Promise<T[]> {
    const items = await this.waitUntil((xs) => xs.length >= n, timeoutMs, `${n} record(s)`);
    return items.slice(0, n);
  }
}
