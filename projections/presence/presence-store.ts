import type { KV } from '@nats-io/kv';
import type pg from 'pg';
import { decodeJson, encodeJson } from '../../lib/json.js';
import type { Logger } from '../../lib/log.js';
import { ident } from '../../lib/pg.js';
import { isSubjectToken } from '../../lib/names.js';

/** One user's presence as last announced: lastSeen in ms since the epoch. */
export type StoredPresence = { isOnline: boolean; lastSeen: number };

/**
 * Where announced presence is kept so it outlives the service: the KV bucket <PREFIX>_PRESENCE
 * (one key per user; the truth, read back at start) and the Postgres read model `presence` (for
 * status.bulk's one query and for REST). Written on transitions only, never on heartbeats.
 */
export class PresenceStore {
  readonly #kv: KV;
  readonly #pool: pg.Pool | undefined;
  readonly #table: string;
  readonly #log: Logger;
  /** Postgres rows waiting for the next batch, by user. */
  readonly #rows = new Map<string, StoredPresence>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  failures = 0;

  constructor(kv: KV, pool: pg.Pool | undefined, schema: string, log: Logger) {
    this.#kv = kv;
    this.#pool = pool;
    this.#table = `${ident(schema)}.presence`;
    this.#log = log;
  }

  /**
   * Store a transition: the KV key at once (resolves when stored), the Postgres row with the next
   * batch. One upsert per transition held a pool connection per announcement, and under churn
   * (200 transitions a second beside the projector's batches) the pool, not the CPU, set the pace
   * of announcements; a batch every 50 ms is one statement for all of them.
   */
  async write(userId: string, p: StoredPresence): Promise<void> {
    if (this.#pool) {
      this.#rows.set(userId, p); // the latest transition of a user wins within a batch
      this.#flushSoon();
    }
    try {
      await this.#kv.put(userId, encodeJson({ isOnline: p.isOnline, lastSeen: new Date(p.lastSeen).toISOString() }));
    } catch (err) {
      this.failures++;
      this.#log.warn({ err, userId }, 'could not store presence');
    }
  }

  /** A transition still waiting for its batch (what the read model will say in a moment). */
  unwritten(userId: string): StoredPresence | undefined {
    return this.#rows.get(userId);
  }

  /** Write what the next batch holds now (at stop). */
  async flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    // One batch at a time, so a user's rows reach Postgres in the order of their transitions.
    this.#flushing = this.#flushing.then(() => this.#writeRows());
    await this.#flushing;
  }

  #flushSoon(): void {
    this.#timer ??= setTimeout(() => void this.flush(), 50);
  }

  async #writeRows(): Promise<void> {
    if (this.#rows.size === 0) return;
    const rows = [...this.#rows];
    this.#rows.clear();
    try {
      await this.#pool!.query(
        `INSERT INTO ${this.#table} (user_id, is_online, last_seen)
         SELECT * FROM unnest($1::text[], $2::boolean[], $3::timestamptz[])
         ON CONFLICT (user_id) DO UPDATE SET is_online = EXCLUDED.is_online, last_seen = EXCLUDED.last_seen`,
        [rows.map(([userId]) => userId), rows.map(([, p]) => p.isOnline), rows.map(([, p]) => new Date(p.lastSeen))],
      );
    } catch (err) {
      this.failures += rows.length;
      this.#log.warn({ err, users: rows.length }, 'could not store presence in the read model (KV has it)');
    }
  }

  async read(userId: string): Promise<StoredPresence | undefined> {
    const e = await this.#kv.get(userId);
    return e && e.operation === 'PUT' ? parseStored(e.value) : undefined;
  }

  /** Users stored as online: after a restart, they are online until no gateway claims them. */
  async readOnline(): Promise<{ userId: string; lastSeen: number }[]> {
    const online: { userId: string; lastSeen: number }[] = [];
    const keys: string[] = [];
    for await (const key of await this.#kv.keys()) if (isSubjectToken(key)) keys.push(key);
    for (let i = 0; i < keys.length; i += 64) {
      const batch = keys.slice(i, i + 64);
      const got = await Promise.all(batch.map((k) => this.read(k)));
      got.forEach((p, j) => {
        if (p?.isOnline) online.push({ userId: batch[j]!, lastSeen: p.lastSeen });
      });
    }
    return online;
  }
}

function parseStored(bytes: Uint8Array): StoredPresence | undefined {
  try {
    const v = decodeJson<{ isOnline?: unknown; lastSeen?: unknown }>(bytes);
    const lastSeen = typeof v.lastSeen === 'string' ? Date.parse(v.lastSeen) : Number.NaN;
    if (typeof v.isOnline !== 'boolean' || !Number.isFinite(lastSeen)) return undefined;
    return { isOnline: v.isOnline, lastSeen };
  } catch {
    return undefined;
  }
}
