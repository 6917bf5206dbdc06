import type { Output } from './io.js';

/**
 * Batches small writes into ~64 KiB chunks and waits for 'drain' when the destination is full,
 * so memory stays flat however fast the log is read. A write error is thrown by the next call.
 */
export class ChunkWriter {
  readonly #out: Output;
  #pieces: Uint8Array[] = [];
  #size = 0;
  #error: Error | undefined;
  readonly #onError = (err: Error) => {
    this.#error ??= err;
  };
  bytes = 0;

  constructor(
    out: Output,
    readonly chunkBytes = 64 * 1024,
  ) {
    this.#out = out;
    out.on('error', this.#onError);
  }

  get error(): Error | undefined {
    return this.#error;
  }

  async write(...pieces: (Uint8Array | string)[]): Promise<void> {
    if (this.#error) throw this.#error;
    for (const p of pieces) {
      const b = typeof p === 'string' ? Buffer.from(p) : p;
      this.#pieces.push(b);
      this.#size += b.byteLength;
    }
    if (this.#size >= this.chunkBytes) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.#error) throw this.#error;
    if (this.#size === 0) return;
    const chunk = Buffer.concat(this.#pieces, this.#size);
    this.#pieces = [];
    this.#size = 0;
    this.bytes += chunk.byteLength;
    if (!this.#out.write(chunk)) {
      await new Promise<void>((resolve, reject) => {
        const done = (err?: Error) => {
          this.#out.off('drain', done);
          this.#out.off('error', done);
          if (err) reject(err);
          else resolve();
        };
        this.#out.on('drain', done);
        this.#out.on('error', done);
      });
    }
    if (this.#error) throw this.#error;
  }

  /** Stop listening for errors (after the last flush). */
  release(): void {
    this.#out.off('error', this.#onError);
  }
}

export function isBrokenPipe(err: unknown): boolean {
  return (err as { code?: unknown })?.code === 'EPIPE' || (err as { code?: unknown })?.code === 'ERR_STREAM_DESTROYED';
}
