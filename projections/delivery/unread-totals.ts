import { encodeJson } from '../../lib/json.js';
import { PublishError, type JetStreamPublisher } from '../../lib/js-publisher.js';
import { LruMap } from '../../lib/lru.js';
import { totalOf, unreadKey, unreadMapOf, type UnreadMap } from '../../lib/unread-map.js';
import type { Names } from '../../lib/names.js';
import type { StreamReader } from '../../lib/stream-reader.js';

/** A user's map as last read or written here, and the revision (stream sequence) it was stored at (0: none yet). */
type Known = { map: UnreadMap; revision: number };

/** Counts set since the last write of a user's map, and the promise of the write that stores them. */
type Batch = { changes: Map<string, number>; stored: Promise<unknown>; resolve: (v: unknown) => void; reject: (e: unknown) => void };

/**
 * Attempts at a user's write when another delivery projector wrote the same key meanwhile. Each
 * attempt reads the key afresh; only two processes writing one busy user at once need a second.
 */
const CAS_ATTEMPTS = 8;

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
 *
 * Several delivery projectors may write one user's key (their conversations are in different
 * partitions): each write expects the revision this one last saw, and when another wrote in
 * between, the map is read again and only the counts set here are laid over it. A conversation is
 * projected by one partition, so every count has one writer and the merge loses nothing.
 */
export class UnreadTotals {
  readonly #kv: StreamReader;
  readonly #publisher: JetStreamPublisher;
  readonly #names: Names;
  readonly #cache: LruMap<string, Known>;
  readonly #flushMs: number;
  #pending = new Map<string, Batch>();
  /** Users whose map is being written: their next batch waits for it (one write per key at a time). */
  readonly #writing = new Map<string, Promise<unknown>>();
  #timer: NodeJS.Timeout | undefined;

  constructor(kv: StreamReader, publisher: JetStreamPublisher, names: Names, cacheSize: number, flushMs = 50) {
    this.#kv = kv;
    this.#publisher = publisher;
    this.#names = names;
    this.#cache = new LruMap(cacheSize);
    this.#flushMs = flushMs;
  }

  async get(userId: string): Promise<UnreadMap> {
    return (await this.#known(userId)).map;
  }

  /** Set one count; resolves to the new total and a promise of the stored write, or null if unchanged. */
  async set(userId: string, conversationId: string, unread: number): Promise<{ total: number; stored: Promise<unknown> } | null> {
    const { map } = await this.#known(userId);
    if ((map[conversationId] ?? 0) === unread) return null;
    apply(map, conversationId, unread);
    return { total: totalOf(map), stored: this.#writeSoon(userId, conversationId, unread) };
  }

  forget(userId: string): void {
    this.#cache.delete(userId);
  }

  /** Write every pending map now (after the writes already going); resolves when they are stored (or failed). */
  async flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (let round = 0; round < 3 && (this.#pending.size > 0 || this.#writing.size > 0); round++) {
      await Promise.allSettled([...this.#writing.values()]);
      this.#startWrites();
      await Promise.allSettled([...this.#writing.values()]);
    }
  }

  /** The user's map, read from the bucket when not held, with the counts set here and not yet written laid over it. */
  async #known(userId: string): Promise<Known> {
    const cached = this.#cache.get(userId);
    if (cached) return cached;
    const known = await this.#read(userId);
    // A concurrent read may have filled it meanwhile: keep the first, which set() may already have changed.
    const raced = this.#cache.get(userId);
    if (raced) return raced;
    this.#cache.set(userId, known);
    return known;
  }

  async #read(userId: string): Promise<Known> {
    const entry = await this.#kv.last(unreadKey(this.#names, userId));
    const known = { map: unreadMapOf(entry), revision: entry?.seq ?? 0 };
    for (const [conversationId, unread] of this.#pending.get(userId)?.changes ?? []) apply(known.map, conversationId, unread);
    return known;
  }

  #writeSoon(userId: string, conversationId: string, unread: number): Promise<unknown> {
    const pending = this.#pending.get(userId);
    if (pending) {
      pending.changes.set(conversationId, unread);
      return pending.stored;
    }
    let resolve!: (v: unknown) => void;
    let reject!: (e: unknown) => void;
    const stored = new Promise((res, rej) => ((resolve = res), (reject = rej)));
    // Nobody may be waiting when a write fails during a stop; the caller handles it when it is.
    stored.catch(() => undefined);
    this.#pending.set(userId, { changes: new Map([[conversationId, unread]]), stored, resolve, reject });
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.#startWrites();
    }, this.#flushMs);
    return stored;
  }

  /** Start a write for every pending user not being written already; those wait for the next round. */
  #startWrites(): void {
    for (const [userId, batch] of this.#pending) {
      if (this.#writing.has(userId)) continue;
      this.#pending.delete(userId);
      const write = this.#write(userId, batch).then(batch.resolve, batch.reject);
      this.#writing.set(userId, write);
      void write.finally(() => {
        this.#writing.delete(userId);
        if (this.#pending.has(userId)) this.#timer ??= setTimeout(() => ((this.#timer = undefined), this.#startWrites()), this.#flushMs);
      });
    }
  }

  async #write(userId: string, batch: Batch): Promise<unknown> {
    for (let attempt = 1; ; attempt++) {
      const known = await this.#known(userId);
      // The counts of this write and of the next, whichever map object they were set on meanwhile.
      for (const [conversationId, unread] of batch.changes) apply(known.map, conversationId, unread);
      for (const [conversationId, unread] of this.#pending.get(userId)?.changes ?? []) apply(known.map, conversationId, unread);
      try {
        const ack = await this.#publisher.publish(unreadKey(this.#names, userId), encodeJson(known.map), { expectedLastSubjectSequence: known.revision });
        // Still the cached one (not forgotten meanwhile): its revision is now this write's.
        if (this.#cache.get(userId) === known) known.revision = ack.seq;
        return ack;
      } catch (err) {
        if (!(err instanceof PublishError && err.code === 'wrong_last_sequence') || attempt >= CAS_ATTEMPTS) throw err;
        // Another projector wrote this user: read theirs, and lay ours over it at the next attempt.
        this.#cache.set(userId, await this.#read(userId));
      }
    }
  }
}

function apply(map: UnreadMap, conversationId: string, unread: number): void {
  if (unread > 0) map[conversationId] = unread;
  else delete map[conversationId];
}
