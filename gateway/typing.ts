/**
 * Typing indicators as pure state, with the time passed in: what the gateway of the typing
 * connection keeps (TypingSessions, FanoutBudget) and what the gateway of a receiving user keeps
 * (TypingShown). gateway/typing-relay.ts and gateway/typing-feed.ts put them on NATS and sockets.
 *
 * Why two sides. The typing connection's gateway ends a typing that is not renewed in time, that
 * is stopped, or whose connection closes, and relays `typing.stop`. But if that gateway dies
 * (kill -9, a lost host) nobody would: receivers would show "typing…" for ever. So the typing
 * gateway re-relays a renewal at most every `timeoutMs / 2` while the client keeps renewing, and
 * each receiving gateway drops what it has not heard of for `2 × timeoutMs` itself, with a
 * `typing.stop` to its sockets. Between two relays of a live typer there are less than
 * `timeoutMs / 2` (the throttle) plus `timeoutMs` (the longest a client may wait to renew), so a
 * live typer is never dropped by its receivers, and a dead gateway's typers are gone within
 * `2 × timeoutMs`. A renewal costs one publish per recipient every `timeoutMs / 2` at most, none
 * in between; receivers' sockets hear of the transitions only.
 */

/** What a `typing.start` does on the typing side. */
export type StartDecision =
  /** Not typing there before: relay `typing.start` to the other members. */
  | 'relay'
  /** A renewal due to be relayed again (receivers' hold is about to need it). */
  | 'renew'
  /** A renewal inside the throttle: the deadline moves, nothing is sent. */
  | 'quiet'
  /** Already typing in `maxConversations` conversations: refused. */
  | 'too_many';

export type TypingSession = { connectionId: string; userId: string; conversationId: string };

type Typing = { expiresAt: number; relayedAt: number };
type ConnectionTyping = { userId: string; conversations: Map<string, Typing> };

/** Per connection, the conversations it is typing in and until when. */
export class TypingSessions {
  readonly #timeoutMs: number;
  readonly #maxConversations: number;
  readonly #connections = new Map<string, ConnectionTyping>();

  constructor(opts: { timeoutMs: number; maxConversations: number }) {
    this.#timeoutMs = opts.timeoutMs;
    this.#maxConversations = opts.maxConversations;
  }

  /** How often a renewal is relayed again, at most. */
  get relayEveryMs(): number {
    return this.#timeoutMs / 2;
  }

  /** Connections typing somewhere (for stats and tests). */
  get connections(): number {
    return this.#connections.size;
  }

  /** Whether the connection types anywhere. */
  has(connectionId: string): boolean {
    return this.#connections.has(connectionId);
  }

  isTyping(connectionId: string, conversationId: string): boolean {
    return this.#connections.get(connectionId)?.conversations.has(conversationId) ?? false;
  }

  start(connectionId: string, userId: string, conversationId: string, now: number): StartDecision {
    let held = this.#connections.get(connectionId);
    const typing = held?.conversations.get(conversationId);
    if (typing) {
      typing.expiresAt = now + this.#timeoutMs;
      if (now - typing.relayedAt < this.relayEveryMs) return 'quiet';
      typing.relayedAt = now;
      return 'renew';
    }
    if (held && held.conversations.size >= this.#maxConversations) return 'too_many';
    if (!held) this.#connections.set(connectionId, (held = { userId, conversations: new Map() }));
    held.conversations.set(conversationId, { expiresAt: now + this.#timeoutMs, relayedAt: now });
    return 'relay';
  }

  /** Ends a typing; true when there was one (its `typing.stop` is to be relayed). */
  stop(connectionId: string, conversationId: string): boolean {
    const held = this.#connections.get(connectionId);
    if (!held?.conversations.delete(conversationId)) return false;
    if (held.conversations.size === 0) this.#connections.delete(connectionId);
    return true;
  }

  /** The connection closed: every typing it had ends. */
  close(connectionId: string): TypingSession[] {
    const held = this.#connections.get(connectionId);
    if (!held) return [];
    this.#connections.delete(connectionId);
    return [...held.conversations.keys()].map((conversationId) => ({ connectionId, userId: held.userId, conversationId }));
  }

  /** Ends (and returns) every typing not renewed in time. */
  expire(now: number): TypingSession[] {
    const ended: TypingSession[] = [];
    for (const [connectionId, held] of this.#connections) {
      for (const [conversationId, typing] of held.conversations) {
        if (typing.expiresAt <= now) {
          held.conversations.delete(conversationId);
          ended.push({ connectionId, userId: held.userId, conversationId });
        }
      }
      if (held.conversations.size === 0) this.#connections.delete(connectionId);
    }
    return ended;
  }

  /** Every connection that types somewhere (to end them all at shutdown). */
  connectionIds(): string[] {
    return [...this.#connections.keys()];
  }
}

/**
 * How many recipients one connection's relays may reach: a token bucket counted in publishes. A
 * `typing.start` to a group of 999 others costs 999 publishes, and start/stop in a loop would
 * otherwise turn the frame limit (100/s) into 100,000 publishes a second. A start pays for its
 * stop too (stops are never refused: they end something receivers show).
 */
export class FanoutBudget {
  #tokens: number;
  #last: number;
  readonly #perMs: number;
  readonly #capacity: number;

  constructor(perSecond: number, capacity: number, now: number) {
    this.#perMs = perSecond / 1000;
    this.#capacity = capacity;
    this.#tokens = capacity;
    this.#last = now;
  }

  #refill(now: number): void {
    this.#tokens = Math.min(this.#capacity, this.#tokens + Math.max(0, now - this.#last) * this.#perMs);
    this.#last = now;
  }

  take(cost: number, now: number): boolean {
    this.#refill(now);
    if (cost > this.#tokens) return false;
    this.#tokens -= cost;
    return true;
  }

  /** After a refused take: when `cost` will fit (never more than the time to fill the bucket). */
  retryAfterMs(cost: number, now: number): number {
    this.#refill(now);
    const missing = Math.min(cost, this.#capacity) - this.#tokens;
    return missing <= 0 ? 0 : Math.ceil(missing / this.#perMs);
  }
}

/** One typer shown to one receiving user, and which of its connections were told. */
type Shown<C> = { expiresAt: number; told: Set<C> };

export type EndedTyping<C> = { userId: string; conversationId: string; typerId: string; told: C[] };

/**
 * On a receiving user's gateway: who is shown typing to which local connections, so that every
 * connection told `typing.start` is told `typing.stop` once (on the relayed stop, or when the
 * typer's gateway has gone quiet for `holdMs`), and a connection that opens while someone types
 * hears of it at the next relayed renewal. Bounded by `maxEntries`: past it, new typers are not
 * shown (a receiver cannot be made to hold more than that).
 */
export class TypingShown<C> {
  readonly #holdMs: number;
  readonly #maxEntries: number;
  /** receiving user → `${conversationId} ${typerId}` → shown */
  readonly #users = new Map<string, Map<string, Shown<C>>>();
  #entries = 0;

  constructor(opts: { holdMs: number; maxEntries: number }) {
    this.#holdMs = opts.holdMs;
    this.#maxEntries = opts.maxEntries;
  }

  get entries(): number {
    return this.#entries;
  }

  /** A relayed start or renewal: the connections (of `connections`) to tell `typing.start` now. */
  start(userId: string, conversationId: string, typerId: string, connections: Iterable<C>, now: number): C[] {
    const key = `${conversationId} ${typerId}`;
    let typers = this.#users.get(userId);
    let shown = typers?.get(key);
    if (!shown) {
      if (this.#entries >= this.#maxEntries) return [];
      if (!typers) this.#users.set(userId, (typers = new Map()));
      typers.set(key, (shown = { expiresAt: 0, told: new Set() }));
      this.#entries++;
    }
    shown.expiresAt = now + this.#holdMs;
    const tell: C[] = [];
    for (const c of connections) {
      if (!shown.told.has(c)) {
        shown.told.add(c);
        tell.push(c);
      }
    }
    return tell;
  }

  /** A relayed stop: the connections that were told the start. */
  stop(userId: string, conversationId: string, typerId: string): C[] {
    const typers = this.#users.get(userId);
    const key = `${conversationId} ${typerId}`;
    const shown = typers?.get(key);
    if (!typers || !shown) return [];
    typers.delete(key);
    if (typers.size === 0) this.#users.delete(userId);
    this.#entries--;
    return [...shown.told];
  }

  /** Typers not heard of for `holdMs` (their gateway died, or a stop was lost): end them. */
  expire(now: number): EndedTyping<C>[] {
    const ended: EndedTyping<C>[] = [];
    for (const [userId, typers] of this.#users) {
      for (const [key, shown] of typers) {
        if (shown.expiresAt > now) continue;
        typers.delete(key);
        this.#entries--;
        const space = key.indexOf(' ');
        ended.push({ userId, conversationId: key.slice(0, space), typerId: key.slice(space + 1), told: [...shown.told] });
      }
      if (typers.size === 0) this.#users.delete(userId);
    }
    return ended;
  }

  clear(): void {
    this.#users.clear();
    this.#entries = 0;
  }
}
