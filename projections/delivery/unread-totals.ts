import { decodeJson, encodeJson } from '../../lib/json.js';
import type { JetStreamPublisher } from '../../lib/js-publisher.js';
import { LruMap } from '../../lib/lru.js';
import type { Names } from '../../lib/names.js';
import type { StreamReader } from '../../lib/stream-reader.js';

/** A user's unread counts: { conversationId: unread }, conversations with none left out. */
export type UnreadMap = Record<string, number>;

export function totalOf(map: UnreadMap): number {
  let total = 0;
  for (const n of Object.values(map)) total += n;
  return total;
}

/**
 * Per-user unread counts across conversations, in the KV bucket <PREFIX>_UNREAD (one key per
 * user), so a gateway can tell a connecting client its totals. Each count is *set* to the value
 * folded from the conversation's events, never incremented, so a redelivered event cannot
 * double-count and a lost write is repaired by the next change.
 */
export class UnreadTotals {
  readonly #kv: StreamReader;
  readonly #publisher: JetStreamPublisher;
  readonly #names: Names;
  readonly #cache: LruMap<string, UnreadMap>;

  constructor(kv: StreamReader, publisher: JetStreamPublisher, names: Names, cacheSize: number) {
    this.#kv = kv;
    this.#publisher = publisher;
    this.#names = names;
    this.#cache = new LruMap(cacheSize);
  }

  async get(userId: string): Promise<UnreadMap> {
    const cached = this.#cache.get(userId);
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
    const key = this.#names.kv.key(this.#names.buckets.unread, userId);
    return { total: totalOf(map), stored: this.#publisher.publish(key, encodeJson(map)) };
  }

  forget(userId: string): void {
    this.#cache.delete(userId);
  }
}

/** Read a user's unread map straight from the bucket (the gateway does this on connect). */
export async function readUnread(kv: StreamReader, names: Names, userId: string): Promise<UnreadMap> {
  const entry = await kv.last(names.kv.key(names.buckets.unread, userId));
  return entry && entry.data.length > 0 ? decodeJson<UnreadMap>(entry.data) : {};
}
