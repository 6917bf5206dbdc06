const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The wait between failed attempts: 250 ms, doubling up to 5 s; back to 250 ms after a success. */
export class BackOff {
  #ms = 250;

  reset(): void {
    this.#ms = 250;
  }

  async wait(): Promise<void> {
    await sleep(this.#ms);
    this.#ms = Math.min(this.#ms * 2, 5_000);
  }
}
