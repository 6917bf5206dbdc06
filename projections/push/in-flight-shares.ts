/**
 * How many pushes each user and each push service origin has in flight, against a cap for each:
 * a user whose endpoints hang (a tarpit they registered themselves) or one push service that is
 * slow holds at most its share of the sender's slots, and everyone else's pushes go on.
 */
export class InFlightShares {
  readonly #perUser: number;
  readonly #perOrigin: number;
  readonly #users = new Map<string, number>();
  readonly #origins = new Map<string, number>();

  constructor(perUser: number, perOrigin: number) {
    this.#perUser = perUser;
    this.#perOrigin = perOrigin;
  }

  /** Take a slot for a push of `userId` to `origin`; false (nothing taken) when either is at its cap. */
  take(userId: string, origin: string): boolean {
    const u = this.#users.get(userId) ?? 0;
    const o = this.#origins.get(origin) ?? 0;
    if (u >= this.#perUser || o >= this.#perOrigin) return false;
    this.#users.set(userId, u + 1);
    this.#origins.set(origin, o + 1);
    return true;
  }

  release(userId: string, origin: string): void {
    dec(this.#users, userId);
    dec(this.#origins, origin);
  }
}

function dec(map: Map<string, number>, key: string): void {
  const n = (map.get(key) ?? 0) - 1;
  if (n > 0) map.set(key, n);
  else map.delete(key);
}
