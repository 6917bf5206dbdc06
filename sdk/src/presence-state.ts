import type { PresenceStatus } from './protocol.js';

/**
 * The presence of the users the server tells this client about (contacts, and the users it
 * subscribed to): `status.bulk` and `user.online` / `user.offline`. The latest frame about a user
 * is their presence (docs/protocol.md, presence.subscribe). Kept across reconnects: the next
 * connection's `status.bulk` brings it up to date.
 */
export class PresenceState {
  readonly #users = new Map<string, { isOnline: boolean; lastSeen: string | null }>();

  get users(): ReadonlyMap<string, { isOnline: boolean; lastSeen: string | null }> {
    return this.#users;
  }

  /** True when this changed what is known of the user. */
  apply(status: PresenceStatus): boolean {
    const known = this.#users.get(status.userId);
    if (known && known.isOnline === status.isOnline && known.lastSeen === status.lastSeen) return false;
    this.#users.set(status.userId, { isOnline: status.isOnline, lastSeen: status.lastSeen });
    return true;
  }

  forget(userIds: readonly string[]): void {
    for (const id of userIds) this.#users.delete(id);
  }
}
