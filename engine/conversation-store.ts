import { decodeJson } from '../lib/json.js';
import { LruMap } from '../lib/lru.js';
import type { Names } from '../lib/names.js';
import type { StreamReader } from '../lib/stream-reader.js';
import type { ConversationEvent } from '../schemas/index.js';
import { evolve, initialState } from './decider.js';
import type { ConversationState } from './conversation-state.js';

/**
 * Conversation state for deciders: a bounded cache in front of the log. A miss folds the
 * conversation's subject with Direct Get; a stale entry (another writer appended) is brought up to
 * date by folding only what came after its version.
 */
export class ConversationStore {
  readonly #reader: StreamReader;
  readonly #names: Names;
  readonly #cache: LruMap<string, ConversationState>;

  constructor(reader: StreamReader, names: Names, cacheSize: number) {
    this.#reader = reader;
    this.#names = names;
    this.#cache = new LruMap(cacheSize);
  }

  get cached(): number {
    return this.#cache.size;
  }

  /** The cached state (possibly stale), or the state folded from the log. */
  async get(conversationId: string): Promise<ConversationState> {
    const cached = this.#cache.get(conversationId);
    if (cached) return cached;
    const state = await this.catchUp(initialState(conversationId));
    this.#cache.set(conversationId, state);
    return state;
  }

  /**
   * The state as it was just before stream sequence `seq`, for a reader that walks the log in order
   * (the delivery projector): a cached state is taken as is, a missing one is folded up to `seq - 1`.
   */
  async before(conversationId: string, seq: number): Promise<ConversationState> {
    const cached = this.#cache.get(conversationId);
    if (cached) return cached;
    const state = await this.catchUp(initialState(conversationId), seq - 1);
    this.#cache.set(conversationId, state);
    return state;
  }

  /** Fold every event after `state.version` (up to `untilSeq`) into `state`. */
  async catchUp(state: ConversationState, untilSeq?: number): Promise<ConversationState> {
    const subject = this.#names.subjects.conversationEvents(state.id);
    for await (const entry of this.#reader.readAfter(subject, state.version, untilSeq)) {
      evolve(state, decodeJson<ConversationEvent>(entry.data), entry.seq);
    }
    return state;
  }

  /** After a failed append the cached object may be half-trusted: drop it, the next get reloads. */
  forget(conversationId: string): void {
    this.#cache.delete(conversationId);
  }

  remember(state: ConversationState): void {
    this.#cache.set(state.id, state);
  }
}
