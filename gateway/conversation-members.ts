import { AggregateStore, conversations, users, type AggregateKind, type SnapshotSource } from '../lib/aggregate-store.js';
import { fromSnapshot, type ConversationSnapshot, type ConversationState } from '../lib/conversation-state.js';
import type { EventReader } from '../lib/event-store.js';
import { decodeJson } from '../lib/json.js';
import { LruMap } from '../lib/lru.js';
import type { Names } from '../lib/names.js';
import type { UserState } from '../lib/user-state.js';
import type { DirectReader } from './direct-get.js';

/**
 * Who may hear a member's typing, without Postgres (a gateway may run without DATABASE_URL): the
 * conversation's state folded from the events stream (lib/aggregate-store.ts with the engine's
 * `evolve`), read with the gateway's Direct Gets, in a bounded LRU cache.
 *
 * A cached state is trusted for `refreshMs` (1 s) before it is caught up with the log again (one
 * Direct Get when nothing changed). Membership changes are rare next to typing frames (a client
 * renews every 2–3 s, in every conversation it types in), and the cost of a stale answer is small
 * and short: for at most that second a member who just left may still hear typing, and a typing
 * relayed to a member who just joined may be missing. A sender not found a member is looked up
 * again before it is refused (`recheckMs`, 0: always; one read at a time per conversation), so
 * that someone who has just joined is never refused: a stranger's typing frames cost a Direct Get
 * each, which the frame rate limits bound as they bound every other frame.
 */
export const CONVERSATIONS_CACHED = 10_000;
export const USERS_CACHED = 10_000;

/** The engine's snapshots (lib/snapshots.ts, owner "engine"), read only: a cold state is a short tail. */
function engineSnapshots(names: Names, kv: DirectReader): SnapshotSource<ConversationState> {
  return {
    async load(id) {
      const entry = await kv.last(names.kv.key(names.buckets.snapshots, `engine-${id}`));
      if (!entry || entry.data.length === 0) return undefined;
      const snapshot = decodeJson<ConversationSnapshot>(entry.data);
      return snapshot.id === id ? fromSnapshot(snapshot) : undefined;
    },
    maybeSave() {},
  };
}

/** lib/event-store.ts's read side over the gateway's Direct Gets (gateway/direct-get.ts). */
export function directEventReader(reader: DirectReader): EventReader {
  return {
    async *readAfter(subject, afterSeq, upToSeq = Number.POSITIVE_INFINITY) {
      let cursor = afterSeq;
      for (;;) {
        const entry = await reader.nextAfter(subject, cursor);
        if (!entry || entry.seq > upToSeq) return;
        yield entry;
        cursor = entry.seq;
      }
    },
    bySeq: (seq) => reader.bySeq(seq),
  };
}

/** A state is only trusted for a while: one catch-up at a time per id, at most every `maxAgeMs`. */
class FreshStates<S extends { id: string; version: number }, E> {
  readonly #store: AggregateStore<S, E>;
  readonly #checkedAt: LruMap<string, number>;
  readonly #inFlight = new Map<string, Promise<S>>();
  readonly #now: () => number;
  readonly #trim: (state: S) => void;

  constructor(reader: EventReader, kind: AggregateKind<S, E>, size: number, now: () => number, trim: (state: S) => void, snapshots?: SnapshotSource<S>) {
    this.#store = new AggregateStore(reader, kind, size, snapshots);
    this.#checkedAt = new LruMap(size);
    this.#now = now;
    this.#trim = trim;
  }

  get cached(): number {
    return this.#store.cached;
  }

  get(id: string, maxAgeMs: number): Promise<S> {
    const running = this.#inFlight.get(id);
    if (running) return running;
    const at = this.#checkedAt.get(id);
    // (A state evicted from the store meanwhile is folded again, and trimmed again.)
    if (at !== undefined && this.#now() - at < maxAgeMs) return this.#store.get(id).then((s) => (this.#trim(s), s));
    const loading = this.#load(id, at !== undefined).finally(() => this.#inFlight.delete(id));
    this.#inFlight.set(id, loading);
    return loading;
  }

  /** `known`: a state was read before (catch it up); otherwise fold it afresh, in one pass. */
  async #load(id: string, known: boolean): Promise<S> {
    const startedAt = this.#now();
    try {
      if (!known) this.#store.forget(id);
      const fetched = await this.#store.get(id);
      const state = known ? await this.#store.catchUp(fetched) : fetched;
      this.#trim(state);
      this.#checkedAt.set(id, startedAt);
      return state;
    } catch (err) {
      // A half-folded state must not stay cached.
      this.#store.forget(id);
      this.#checkedAt.delete(id);
      throw err;
    }
  }

  forget(id: string): void {
    this.#store.forget(id);
    this.#checkedAt.delete(id);
  }
}

/**
 * Typing needs members and kind only: what else the engine's state keeps (command ids, sender
 * runs, watermarks) is dropped after each fold, so that a cached conversation costs its member
 * list and not the hundreds of kilobytes a busy one holds for the engine.
 */
function membersOnly(state: ConversationState): void {
  state.recentCommands.clear();
  state.senderRuns.length = 0;
  state.delivered.clear();
  state.read.clear();
  state.unread.clear();
}

export class ConversationMembers {
  readonly #conversations: FreshStates<ConversationState, never>;
  readonly #users: FreshStates<UserState, never>;
  readonly #refreshMs: number;
  readonly #recheckMs: number;

  constructor(opts: { events: DirectReader; kv: DirectReader; names: Names; now?: () => number; refreshMs?: number; recheckMs?: number }) {
    const now = opts.now ?? Date.now;
    const reader = directEventReader(opts.events);
    this.#conversations = new FreshStates(reader, conversations(opts.names) as AggregateKind<ConversationState, never>, CONVERSATIONS_CACHED, now, membersOnly, engineSnapshots(opts.names, opts.kv));
    this.#users = new FreshStates(reader, users(opts.names) as AggregateKind<UserState, never>, USERS_CACHED, now, (s) => s.recentCommands.clear());
    this.#refreshMs = opts.refreshMs ?? 1_000;
    this.#recheckMs = opts.recheckMs ?? 0;
  }

  get cached(): { conversations: number; users: number } {
    return { conversations: this.#conversations.cached, users: this.#users.cached };
  }

  /**
   * Whether either user blocks the other (presence.subscribe's forwarding), from the same user
   * states as typing: trusted for `refreshMs` (1 s), so a block hides presence within that second.
   */
  async blocksEither(a: string, b: string): Promise<boolean> {
    if (a === b) return false;
    const [first, second] = await Promise.all([this.#users.get(a, this.#refreshMs), this.#users.get(b, this.#refreshMs)]);
    return first.blocked.has(b) || second.blocked.has(a);
  }

  /**
   * The members who may hear `userId` type in the conversation (everyone but `userId`; nobody in a
   * direct conversation where either user blocks the other), or undefined when `userId` is not a
   * member or the conversation does not exist: the two answers a stranger must not tell apart.
   */
  async recipients(conversationId: string, userId: string): Promise<string[] | undefined> {
    let state = await this.#conversations.get(conversationId, this.#refreshMs);
    if (!state.exists || !state.members.has(userId)) {
      state = await this.#conversations.get(conversationId, this.#recheckMs);
      if (!state.exists) {
        // Not kept: ids that name nothing would push real conversations out of the cache.
        this.#conversations.forget(conversationId);
        return undefined;
      }
      if (!state.members.has(userId)) return undefined;
    }
    const others: string[] = [];
    for (const member of state.members.keys()) if (member !== userId) others.push(member);
    if (state.kind === 'direct' && others.length === 1) {
      const other = others[0]!;
      const [mine, theirs] = await Promise.all([this.#users.get(userId, this.#refreshMs), this.#users.get(other, this.#refreshMs)]);
      if (mine.blocked.has(other) || theirs.blocked.has(userId)) return [];
    }
    return others;
  }
}
