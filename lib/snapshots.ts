import type { JetStreamManager } from '@nats-io/jetstream';
import type { Config } from './config.js';
import { decodeJson, encodeJson } from './json.js';
import { StreamReader } from './stream-reader.js';
import type { JetStreamPublisher } from './js-publisher.js';
import type { Logger } from './log.js';
import type { Names } from './names.js';
import { fromSnapshot, toSnapshot, type ConversationSnapshot, type ConversationState } from './conversation-state.js';

/**
 * When to snapshot: after `every` events folded into one conversation. Counted per conversation,
 * not read off `version`: that is a stream sequence shared by every conversation, so with many
 * conversations interleaved it jumps by hundreds per event and every event looked "due" (one
 * snapshot — and one KV write — per message under load).
 */
export class SnapshotCadence {
  readonly #every: number;
  readonly #folds = new Map<string, number>();

  constructor(every: number) {
    this.#every = every;
  }

  /** One more event folded into `id`; true when it is time to snapshot (the count starts over). */
  due(id: string): boolean {
    const folds = (this.#folds.get(id) ?? 0) + 1;
    if (folds >= this.#every) {
      this.#folds.delete(id);
      return true;
    }
    // Re-inserted so the oldest key is the least recently folded one; bounded like the caches.
    this.#folds.delete(id);
    this.#folds.set(id, folds);
    if (this.#folds.size > 100_000) this.#folds.delete(this.#folds.keys().next().value!);
    return false;
  }

  /** A snapshot was just read or written for `id`. */
  reset(id: string): void {
    this.#folds.delete(id);
  }
}

/**
 * Conversation snapshots in the <PREFIX>_SNAPSHOTS KV bucket, so that a cold conversation is one
 * Direct Get for the snapshot plus a short Direct Get tail, never a walk of its whole subject.
 * Each reader of the log keeps its own (`owner`: the engine, the delivery projector), because a
 * snapshot must never be ahead of the position its reader needs. A lost or stale snapshot only
 * costs a longer tail: the log stays the truth.
 */
export class SnapshotStore {
  readonly #kv: StreamReader;
  readonly #publisher: JetStreamPublisher;
  readonly #names: Names;
  readonly #owner: string;
  readonly #log: Logger;
  readonly #cadence: SnapshotCadence;

  constructor(opts: { kv: StreamReader; publisher: JetStreamPublisher; names: Names; owner: string; every: number; log: Logger }) {
    this.#kv = opts.kv;
    this.#publisher = opts.publisher;
    this.#names = opts.names;
    this.#owner = opts.owner;
    this.#cadence = new SnapshotCadence(opts.every);
    this.#log = opts.log;
  }

  #key(id: string): string {
    return this.#names.kv.key(this.#names.buckets.snapshots, `${this.#owner}-${id}`);
  }

  /** The newest snapshot of `id` whose version is below `beforeSeq` (if given), or undefined. */
  async load(id: string, beforeSeq = Number.POSITIVE_INFINITY): Promise<ConversationState | undefined> {
    const entry = await this.#kv.last(this.#key(id));
    if (!entry || entry.data.length === 0) return undefined;
    const snapshot = decodeJson<ConversationSnapshot>(entry.data);
    if (snapshot.id !== id || snapshot.version >= beforeSeq) return undefined;
    // From before edits and deletes: it lacks the kept messages, which only a fold of the whole
    // subject gives back (once; the next snapshot has them). Taking it would make every message
    // before it impossible to edit or delete.
    if (snapshot.messages === undefined) return undefined;
    this.#cadence.reset(id);
    return fromSnapshot(snapshot);
  }

  /** Write a snapshot when enough events have been folded in since the last one (fire and forget). */
  maybeSave(state: ConversationState): void {
    if (!state.exists || !this.#cadence.due(state.id)) return;
    this.#publisher.publish(this.#key(state.id), encodeJson(toSnapshot(state))).catch((err: unknown) => {
      this.#log.warn({ err, conversationId: state.id }, 'snapshot not written (the next load reads a longer tail)');
    });
  }
}

/** The snapshot store of one reader of the log (`owner`), on the configured bucket and cadence. */
export function snapshotsFor(owner: string, deps: { jsm: JetStreamManager; publisher: JetStreamPublisher; names: Names; config: Config; log: Logger }): SnapshotStore {
  const { jsm, publisher, names, config, log } = deps;
  return new SnapshotStore({
    kv: new StreamReader(jsm, names.kv.stream(names.buckets.snapshots)),
    publisher,
    names,
    owner,
    every: config.engine.snapshotEvery,
    log,
  });
}
