import type { StoredEntry } from './stream-reader.js';

/**
 * The event log as the engine sees it: streams of events, one per aggregate (a conversation's or
 * a user's subject), numbered by one global sequence. Implementations are named by backend beside
 * it: lib/jetstream-event-store.ts (the real one) and lib/memory-event-store.ts (its twin for unit
 * tests); test/helpers/event-store-contract.ts holds both to the same behaviour.
 */
export type StoredEvent = StoredEntry;

export type AppendOptions = {
  /**
   * Optimistic concurrency: the global sequence of the stream's last event as the writer saw it
   * (its state's `version`; 0 for a stream with no event yet). JetStream:
   * Nats-Expected-Last-Subject-Sequence.
   */
  expectedVersion: number;
  /**
   * Idempotency: a second append with this key inside the store's duplicate window stores nothing
   * and answers `duplicate`. JetStream: Nats-Msg-Id.
   */
  idempotencyKey: string;
};

/**
 * What an append did. A duplicate is checked before the expected version (as JetStream does): a
 * redelivered command is recognised even when its stream has moved on.
 */
export type AppendOutcome =
  | { kind: 'appended'; seq: number }
  /** The key was seen: nothing stored; `seq` is where the first append put its event. */
  | { kind: 'duplicate'; seq: number }
  /** The stream's last event is not `expectedVersion`: someone else wrote first. */
  | { kind: 'conflict' };

/** The read side alone: what folds aggregates (lib/aggregate-store.ts). */
export interface EventReader {
  /** Every event of `stream` after `afterSeq` (and up to `upToSeq` when given), in order. */
  readAfter(stream: string, afterSeq: number, upToSeq?: number): AsyncIterable<StoredEvent>;
  /** The event at global sequence `seq`, whichever stream it is in, or null. */
  bySeq(seq: number): Promise<StoredEvent | null>;
}

export interface EventStore extends EventReader {
  /** Failures other than a conflict (no stream, timeout, closed) reject. */
  append(stream: string, data: Uint8Array, options: AppendOptions): Promise<AppendOutcome>;
}
