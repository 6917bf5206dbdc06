/**
 * Who watches whom through presence.subscribe on this gateway, as pure state: per connection the
 * users it subscribed to (at most `max`), and per user the connections watching them. The gateway
 * holds one NATS subscription per watched user (gateway/presence-subscriptions.ts): a user's first
 * watcher here opens it and their last one closes it, which is what the returned lists say.
 */
export type WatchResult =
  /** `added`: new for this connection; `opened`: users nobody here watched before (subscribe to them). */
  | { ok: true; added: string[]; opened: string[] }
  /** Over the bound: nothing changed. `held`: what the connection holds; `wanted`: what it would have held. */
  | { ok: false; held: number; wanted: number };

export class PresenceWatch {
  readonly max: number;
  readonly #byConnection = new Map<string, Set<string>>();
  readonly #byUser = new Map<string, Set<string>>();

  constructor(max: number) {
    this.max = max;
  }

  /** Users watched by some connection here (one NATS subscription each). */
  get users(): number {
    return this.#byUser.size;
  }

  /** Connections watching someone. */
  get connections(): number {
    return this.#byConnection.size;
  }

  heldBy(connectionId: string): number {
    return this.#byConnection.get(connectionId)?.size ?? 0;
  }

  isWatching(connectionId: string, userId: string): boolean {
    return this.#byConnection.get(connectionId)?.has(userId) ?? false;
  }

  /** The connections watching `userId` (a copy). */
  watchers(userId: string): string[] {
    return [...(this.#byUser.get(userId) ?? [])];
  }

  /** All or nothing: a frame that would take the connection over `max` changes nothing. */
  subscribe(connectionId: string, userIds: Iterable<string>): WatchResult {
    const held = this.#byConnection.get(connectionId);
    const added = [...new Set(userIds)].filter((u) => !held?.has(u));
    const wanted = (held?.size ?? 0) + added.length;
    if (wanted > this.max) return { ok: false, held: held?.size ?? 0, wanted };
    if (added.length === 0) return { ok: true, added, opened: [] };
    const mine = held ?? new Set<string>();
    if (!held) this.#byConnection.set(connectionId, mine);
    const opened: string[] = [];
    for (const userId of added) {
      mine.add(userId);
      let watchers = this.#byUser.get(userId);
      if (!watchers) {
        this.#byUser.set(userId, (watchers = new Set()));
        opened.push(userId);
      }
      watchers.add(connectionId);
    }
    return { ok: true, added, opened };
  }

  /** Returns the users nobody here watches any more (unsubscribe from them). Ids not held: nothing. */
  unsubscribe(connectionId: string, userIds: Iterable<string>): string[] {
    const held = this.#byConnection.get(connectionId);
    if (!held) return [];
    const closed: string[] = [];
    for (const userId of userIds) {
      if (!held.delete(userId)) continue;
      const watchers = this.#byUser.get(userId);
      watchers?.delete(connectionId);
      if (watchers?.size === 0) {
        this.#byUser.delete(userId);
        closed.push(userId);
      }
    }
    if (held.size === 0) this.#byConnection.delete(connectionId);
    return closed;
  }

  /** The connection closed: everything it watched goes (returns, as unsubscribe, the users left unwatched). */
  close(connectionId: string): string[] {
    return this.unsubscribe(connectionId, [...(this.#byConnection.get(connectionId) ?? [])]);
  }
}
