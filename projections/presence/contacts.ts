import type pg from 'pg';
import { ident } from '../../lib/pg.js';

/** status.bulk lists at most this many contacts (the most recently active conversations first): one NATS message. */
export const MAX_BULK_CONTACTS = 5_000;

/** A contact, and their stored presence if the presence service ever stored one. */
export type Contact = { userId: string; isOnline: boolean | null; lastSeen: Date | null };

/**
 * A user's contacts, from the read models: the other member of each of their direct
 * conversations, less anyone who blocks them or whom they block (a block hides presence both ways).
 * Group members are never contacts. Ordered by the conversation's last activity, so the cut at
 * `limit` keeps the people the user talks to.
 */
export async function readContacts(pool: pg.Pool, schema: string, userId: string, limit = MAX_BULK_CONTACTS): Promise<Contact[]> {
  const s = ident(schema);
  const { rows } = await pool.query<{ user_id: string; is_online: boolean | null; last_seen: Date | null }>(
    `SELECT other.user_id, p.is_online, p.last_seen
       FROM ${s}.conversation_members me
       JOIN ${s}.conversations c ON c.id = me.conversation_id AND c.kind = 'direct'
       JOIN ${s}.conversation_members other ON other.conversation_id = me.conversation_id AND other.user_id <> me.user_id
       LEFT JOIN ${s}.presence p ON p.user_id = other.user_id
      WHERE me.user_id = $1
        AND NOT EXISTS (SELECT 1 FROM ${s}.blocks b
                         WHERE (b.blocker_id = $1 AND b.blocked_id = other.user_id)
                            OR (b.blocker_id = other.user_id AND b.blocked_id = $1))
      ORDER BY c.last_activity_at DESC
      LIMIT $2`,
    [userId, limit],
  );
  const seen = new Set<string>();
  const contacts: Contact[] = [];
  for (const r of rows) {
    if (seen.has(r.user_id)) continue;
    seen.add(r.user_id);
    contacts.push({ userId: r.user_id, isOnline: r.is_online, lastSeen: r.last_seen });
  }
  return contacts;
}

/** When each of `users` was last seen, as stored in the read model (absent: never seen). One lookup by primary key. */
export async function lastSeenOf(pool: pg.Pool, schema: string, users: string[]): Promise<Map<string, Date>> {
  const { rows } = await pool.query<{ user_id: string; last_seen: Date }>(`SELECT user_id, last_seen FROM ${ident(schema)}.presence WHERE user_id = ANY($1)`, [users]);
  return new Map(rows.map((r) => [r.user_id, r.last_seen]));
}

/**
 * Blocks seen on the log as they happen (the service follows the user events), kept until the read
 * models surely have them: a block hides presence at once, not after the read models' lag and the
 * contacts' cache. An unblock only ends what was seen here; the read models say the rest.
 */
export class RecentBlocks {
  readonly #until = new Map<string, number>();
  readonly #keepMs: number;

  constructor(keepMs = 600_000) {
    this.#keepMs = keepMs;
  }

  static #pair(a: string, b: string): string {
    return a < b ? `${a}\n${b}` : `${b}\n${a}`;
  }

  blocked(a: string, b: string, now = Date.now()): void {
    this.#until.set(RecentBlocks.#pair(a, b), now + this.#keepMs);
    if (this.#until.size > 100_000) for (const [k, t] of this.#until) if (t <= now) this.#until.delete(k);
  }

  unblocked(a: string, b: string): void {
    this.#until.delete(RecentBlocks.#pair(a, b));
  }

  /** Whether either of the two blocked the other recently (either way: a block hides presence both ways). */
  between(a: string, b: string, now = Date.now()): boolean {
    const until = this.#until.get(RecentBlocks.#pair(a, b));
    return until !== undefined && until > now;
  }

  /** `contacts` of `userId` less those in a recent block with them. */
  filter<C extends { userId: string }>(userId: string, contacts: C[], now = Date.now()): C[] {
    return this.#until.size === 0 ? contacts : contacts.filter((c) => !this.between(userId, c.userId, now));
  }
}

/**
 * Contacts remembered for `ttlMs`, so a user flapping online and offline costs one query, not one a
 * transition. A new direct conversation counts for presence within ttlMs (plus the read models'
 * lag); a block at once (RecentBlocks, and `forget`).
 */
export class ContactCache {
  readonly #read: (userId: string) => Promise<Contact[]>;
  readonly #ttlMs: number;
  readonly #entries = new Map<string, { at: number; contacts: Promise<Contact[]> }>();

  constructor(read: (userId: string) => Promise<Contact[]>, ttlMs: number) {
    this.#read = read;
    this.#ttlMs = ttlMs;
  }

  get(userId: string, now = Date.now()): Promise<Contact[]> {
    const hit = this.#entries.get(userId);
    if (hit && now - hit.at < this.#ttlMs) return hit.contacts;
    const contacts = this.#read(userId);
    this.#entries.set(userId, { at: now, contacts });
    // A failed read is not remembered.
    contacts.catch(() => this.#entries.delete(userId));
    if (this.#entries.size > 10_000) this.#sweep(now);
    return contacts;
  }

  /** Read `userId`'s contacts again next time (a block or unblock involving them). */
  forget(userId: string): void {
    this.#entries.delete(userId);
  }

  #sweep(now: number): void {
    for (const [userId, e] of this.#entries) if (now - e.at >= this.#ttlMs) this.#entries.delete(userId);
  }
}
