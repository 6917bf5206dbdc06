import type pg from 'pg';
import { ident } from '../../lib/pg.js';
import type { PresenceStatus } from '../../schemas/index.js';

/** A user's presence as the service holds it now (presence-state.ts), undefined when not held. */
export type LiveStatus = (userId: string) => { isOnline: boolean; lastSeen: number } | undefined;

/** What a user that `asker` may not see looks like: exactly a user never seen. */
export const unseen = (userId: string): PresenceStatus => ({ userId, isOnline: false, lastSeen: null });

/**
 * The presence of `users` as `asker` may see it (presence.subscribe, GET /v1/presence): for anyone
 * who blocks the asker or whom the asker blocks, `unseen` — the same answer as for an id nobody
 * has, so that an answer never tells a blocked user they are blocked. Others: live (state) when
 * the service holds them, else as stored (never seen: lastSeen null). Two queries, fresh (a block
 * just made counts at once).
 */
export async function queryPresence(pool: pg.Pool, schema: string, live: LiveStatus, asker: string, users: string[]): Promise<PresenceStatus[]> {
  if (users.length === 0) return [];
  const s = ident(schema);
  const [blocks, stored] = await Promise.all([
    pool.query<{ other: string }>(
      `SELECT blocked_id AS other FROM ${s}.blocks WHERE blocker_id = $1 AND blocked_id = ANY($2)
       UNION
       SELECT blocker_id AS other FROM ${s}.blocks WHERE blocked_id = $1 AND blocker_id = ANY($2)`,
      [asker, users],
    ),
    pool.query<{ user_id: string; last_seen: Date | null }>(`SELECT user_id, last_seen FROM ${s}.presence WHERE user_id = ANY($1)`, [users]),
  ]);
  const hidden = new Set(blocks.rows.map((r) => r.other));
  const lastSeen = new Map(stored.rows.map((r) => [r.user_id, r.last_seen]));
  return users.map((userId) => {
    if (hidden.has(userId)) return unseen(userId);
    const held = live(userId);
    if (held) return { userId, isOnline: held.isOnline, lastSeen: new Date(held.lastSeen).toISOString() };
    // Not held: offline (online users are restored into the state at start), as last stored.
    const at = lastSeen.get(userId);
    return { userId, isOnline: false, lastSeen: at ? at.toISOString() : null };
  });
}
