import { encodeJson } from '../../lib/json.js';
import type { JetStreamPublisher } from '../../lib/js-publisher.js';
import { LruMap } from '../../lib/lru.js';
import { readUnread, totalOf, unreadKey, type UnreadMap } from '../../lib/unread-map.js';
import type { Names } from '../../lib/names.js';
import type { StreamReader } from '../../lib/stream-reader.js';

type PendingWrite = { map: UnreadMap; stored: Promise<unknown>; resolve: (v: unknown) => void; reject: (e: unknown) => void };

/**
 * Per-user unread counts across conversations, in the KV bucket <PREFIX>_UNREAD (one key per
 * user), so a gateway can tell a connecting client its totals. Each count is *set* to the value
 * folded from the conversation's events, never incremented, so a redelivered event cannot
 * double-count and a lost write is repaired by the next change.
 *
 * Writes are coalesced: a user's map is written at most once per `flushMs` with everything that
 * changed meanwhile. A member of a busy group otherwise costs one KV write (the dearest kind of
 * JetStream write: it also deletes the previous revision) per message. Callers wait for `stored`
 * before acking the event, so a crash before the flush projects the event again.
 */
export class UnreadTotals {
  readonly #kv: StreamReader;
  readonly #publisher: JetStreamPublisher;
  readonly #names: Names;
  readonly #cache: LruMap<string, UnreadMap>;
  readonly #flushMs: number;
  #pending = new Map<string, PendingWrite>();
  #timer: NodeJS.Timeout | undefined;

  constructor(kv: StreamReader, publisher: JetStreamPublisher, names: Names, cacheSize: number, flushMs = 50) {
    this.#kv = kv;
    this.#publisher = publisher;
    this.#names = names;
    this.#cache = new LruMap(cacheSize);
    this.#flushMs = flushMs;
  }

  async get(userId: string): Promise<UnreadMap> {
    const cached = this.#cache.get(userId) ?? this.#pending.get(userId)?.map;
    if (cached) return cached;
    const map = await readUnread(this.#kv, this.#names, userId);
    this.#cache.set(userId, map);
    return map;
  }

  /** Set one count; resolves to the new total and a promise of the stored write, or null if unchanged. */
  async set(userId: string, conversationId: string, unread: number): Promise<{ total: number; stored: Promise<unknown> } | null> {
    const map = await this.get(userId);
    if ((map[conversationId] ?? 0) === unread) return null;
    if (unread > 0) map[conversationId] = unread;
    else delete map[conversationId];
    return { total: totalOf(map), stored: this.#writeSoon(userId, map) };
  }

  forget(userId: string): void {
    this.#cache.delete(userId);
  }

  /** Write every pending map now; resolves when they are stored (or failed). */
  async flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#pending;
    this.#pending = new Map();
    const writes = [...batch].map(([userId, w]) => {
      const stored = this.#publisher.publish(unreadKey(this.#names, userId), encodeJson(w.map));
      stored.then(w.resolve, w.reject);
      return stored;
    });
    await Promise.allSettled(writes);
  }

  #writeSoon(userId: string, map: UnreadMap): Promise<unknown> {
    const pending = this.#pending.get(userId);
    // The map object is the cached one: the write takes whatever it holds at flush time.
    if (pending) return pending.stored;
    let resolve!: (v: unknown) => void;
    let reject!: (e: unknown) => void;
    const stored = new Promise((res, rej) => ((resolve = res), (reject = rej)));
    // Nobody may be waiting when a write fails during a stop; the caller handles it when it is.
    stored.catch(() => undefined);
    this.#pending.set(userId, { map, stored, resolve, reject });
    this.#timer ??= setTimeout(() => void this.flush(), this.#flushMs);
    return stored;
  }
}
