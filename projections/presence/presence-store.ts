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
  failures = 0;

  constructor(kv: KV, pool: pg.Pool | undefined, schema: string, log: Logger) {
    this.#kv = kv;
    this.#pool = pool;
    this.#table = `${ident(schema)}.presence`;
    this.#log = log;
  }

  async write(userId: string, p: StoredPresence): Promise<void> {
    const kv = this.#kv.put(userId, encodeJson({ isOnline: p.isOnline, lastSeen: new Date(p.lastSeen).toISOString() }));
    const pgWrite = this.#pool?.query(
      `INSERT INTO ${this.#table} (user_id, is_online, last_seen) VALUES ($1, $2, $3)
       ON CONFLICT (user_id) DO UPDATE SET is_online = EXCLUDED.is_online, last_seen = EXCLUDED.last_seen`,
      [userId, p.isOnline, new Date(p.lastSeen)],
    );
    const results = await Promise.allSettled([kv, pgWrite ?? Promise.resolve()]);
    for (const r of results) {
      if (r.status === 'rejected') {
        this.failures++;
        this.#log.warn({ err: r.reason, userId }, 'could not store presence');
      }
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
