import type { KV, KvWatchEntry } from '@nats-io/kv';
import type { QueuedIterator } from '@nats-io/nats-core';
import type { Logger } from './log.js';

/** How long opening a view waits for the bucket's current values. */
const LOAD_TIMEOUT_MS = 10_000;

/**
 * A whole KV bucket in memory, kept current by a watch: for lookups on every event (is this user
 * online, what are their push subscriptions) that could not afford a round trip each. `parse`
 * turns a value into what is kept, or undefined to keep nothing for the key (a malformed value, or
 * one not worth keeping, like an offline user).
 */
export class KvView<T> {
  readonly #values = new Map<string, T>();
  readonly #parse: (value: Uint8Array) => T | undefined;
  readonly #log: Logger;
  #watch?: QueuedIterator<KvWatchEntry>;

  private constructor(parse: (value: Uint8Array) => T | undefined, log: Logger) {
    this.#parse = parse;
    this.#log = log;
  }

  /** Resolves once every key the bucket held at the start is in the view. */
  static async open<T>(kv: KV, parse: (value: Uint8Array) => T | undefined, log: Logger): Promise<KvView<T>> {
    const view = new KvView(parse, log);
    await view.#follow(kv);
    return view;
  }

  get(key: string): T | undefined {
    return this.#values.get(key);
  }

  get size(): number {
    return this.#values.size;
  }

  stop(): void {
    this.#watch?.stop();
  }

  async #follow(kv: KV): Promise<void> {
    // The watch hands the last value of every key, then each change; the bucket's last sequence,
    // read once the watch exists, is some key's last value: past it, the view is complete.
    const watch = await kv.watch();
    this.#watch = watch;
    const { streamInfo } = await kv.status();
    const lastSeq = streamInfo.state.messages === 0 ? 0 : streamInfo.state.last_seq;
    let loaded!: () => void;
    const complete = new Promise<void>((resolve) => (loaded = resolve));
    if (lastSeq === 0) loaded();
    void (async () => {
      for await (const e of watch) {
        this.#take(e);
        if (e.revision >= lastSeq) loaded();
      }
    })().catch((err: unknown) => this.#log.error({ err }, 'a KV watch stopped'));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`KV view: bucket not read within ${LOAD_TIMEOUT_MS} ms`)), LOAD_TIMEOUT_MS);
    });
    try {
      await Promise.race([complete, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  #take(e: KvWatchEntry): void {
    let value: T | undefined;
    if (e.operation === 'PUT') {
      try {
        value = this.#parse(e.value);
      } catch {
        this.#log.warn({ key: e.key }, 'ignoring a malformed KV value');
      }
    }
    if (value === undefined) this.#values.delete(e.key);
    else this.#values.set(e.key, value);
  }
}
