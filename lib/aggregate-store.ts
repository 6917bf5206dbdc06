import type { ConversationEvent, UserEvent } from '../schemas/index.js';
import { evolve, initialState, type ConversationState } from './conversation-state.js';
import type { EventReader } from './event-store.js';
import { decodeJson } from './json.js';
import { LruMap } from './lru.js';
import type { Names } from './names.js';
import { evolveUser, initialUserState, type UserState } from './user-state.js';

/** How to fold one kind of aggregate out of its subject in the event log. */
export type AggregateKind<S, E> = {
  subject(id: string): string;
  initial(id: string): S;
  evolve(state: S, event: E, streamSeq: number): S;
};

/** Where a cold aggregate may start from instead of its first event. */
export type SnapshotSource<S> = {
  load(id: string, beforeSeq?: number): Promise<S | undefined>;
  maybeSave(state: S): void;
};

export const conversations = (names: Names): AggregateKind<ConversationState, ConversationEvent> => ({
  subject: names.subjects.conversationEvents,
  initial: initialState,
  evolve,
});

export const users = (names: Names): AggregateKind<UserState, UserEvent> => ({
  subject: names.subjects.userEvents,
  initial: initialUserState,
  evolve: evolveUser,
});

/**
 * Aggregate state for deciders (and the delivery projector): a bounded cache in front of the log. A
 * miss folds the aggregate's stream (on JetStream its subject, with Direct Get); a stale entry
 * (another writer appended) is brought up to date by folding only what came after its version.
 */
export class AggregateStore<S extends { id: string; version: number }, E> {
  readonly kind: AggregateKind<S, E>;
  readonly #events: EventReader;
  readonly #cache: LruMap<string, S>;
  readonly #snapshots: SnapshotSource<S> | undefined;

  constructor(events: EventReader, kind: AggregateKind<S, E>, cacheSize: number, snapshots?: SnapshotSource<S>) {
    this.#events = events;
    this.kind = kind;
    this.#cache = new LruMap(cacheSize);
    this.#snapshots = snapshots;
  }

  /** A state was folded forward (an append, a projected event): maybe snapshot it. */
  folded(state: S): void {
    this.#snapshots?.maybeSave(state);
  }

  async #cold(id: string, beforeSeq?: number): Promise<S> {
    const fromSnapshot = await this.#snapshots?.load(id, beforeSeq);
    return fromSnapshot ?? this.kind.initial(id);
  }

  get cached(): number {
    return this.#cache.size;
  }

  /** The cached state (possibly stale), or the state folded from the log. */
  async get(id: string): Promise<S> {
    const cached = this.#cache.get(id);
    if (cached) return cached;
    const state = await this.catchUp(await this.#cold(id));
    this.#cache.set(id, state);
    return state;
  }

  /**
   * The state as it was just before stream sequence `seq`, for a reader that walks the log in order
   * (the delivery projector): a cached state is taken as is, a missing one is folded up to `seq - 1`.
   */
  async before(id: string, seq: number): Promise<S> {
    const cached = this.#cache.get(id);
    if (cached) return cached;
    const state = await this.catchUp(await this.#cold(id, seq), seq - 1);
    this.#cache.set(id, state);
    return state;
  }

  /** Fold every event after `state.version` (up to `untilSeq`) into `state`. */
  async catchUp(state: S, untilSeq?: number): Promise<S> {
    for await (const entry of this.#events.readAfter(this.kind.subject(state.id), state.version, untilSeq)) {
      this.kind.evolve(state, decodeJson<E>(entry.data), entry.seq);
    }
    return state;
  }

  /** Drop a state that may be wrong (a failed append, an event written elsewhere); the next get reloads. */
  forget(id: string): void {
    this.#cache.delete(id);
  }
}
