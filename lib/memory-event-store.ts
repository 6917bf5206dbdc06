import type { AppendOptions, AppendOutcome, EventStore, StoredEvent } from './event-store.js';

export type MemoryEventStoreOptions = {
  /** How long an idempotency key is remembered (JetStream's duplicate_window; the events stream's is 2 minutes). */
  duplicateWindowMs?: number;
  /** The clock the duplicate window is measured with (tests move it). */
  now?: () => number;
};

/**
 * The EventStore in memory, for unit tests: one global sequence across streams, as a JetStream
 * stream numbers every subject's messages, a last sequence per stream for the expected-version
 * check, and a duplicate window by idempotency key. Each append is decided when it is called, so
 * concurrent writers race here the way they do at the server.
 */
export class MemoryEventStore implements EventStore {
  readonly #all: StoredEvent[] = [];
  readonly #byStream = new Map<string, StoredEvent[]>();
  readonly #keys = new Map<string, { seq: number; at: number }>();
  readonly #windowMs: number;
  readonly #now: () => number;

  constructor(options: MemoryEventStoreOptions = {}) {
    this.#windowMs = options.duplicateWindowMs ?? 120_000;
    this.#now = options.now ?? Date.now;
  }

  /** The global sequence of the last event stored (0: none). */
  get lastSeq(): number {
    return this.#all.length;
  }

  async *readAfter(stream: string, afterSeq: number, upToSeq = Number.POSITIVE_INFINITY): AsyncGenerator<StoredEvent> {
    const events = this.#byStream.get(stream) ?? [];
    // Read by position in the live list: events appended while the caller walks are seen, as with Direct Get.
    for (let i = firstAfter(events, afterSeq); i < events.length && events[i]!.seq <= upToSeq; i++) yield events[i]!;
  }

  async bySeq(seq: number): Promise<StoredEvent | null> {
    return this.#all[seq - 1] ?? null;
  }

  async append(stream: string, data: Uint8Array, options: AppendOptions): Promise<AppendOutcome> {
    const now = this.#now();
    const seen = this.#keys.get(options.idempotencyKey);
    if (seen && now - seen.at < this.#windowMs) return { kind: 'duplicate', seq: seen.seq };
    const events = this.#byStream.get(stream) ?? [];
    if ((events.at(-1)?.seq ?? 0) !== options.expectedVersion) return { kind: 'conflict' };
    const event: StoredEvent = { seq: this.#all.length + 1, subject: stream, data: data.slice() };
    this.#all.push(event);
    events.push(event);
    this.#byStream.set(stream, events);
    this.#keys.set(options.idempotencyKey, { seq: event.seq, at: now });
    return { kind: 'appended', seq: event.seq };
  }
}

/** The index of the first event whose seq is greater than `afterSeq` (events are in seq order). */
function firstAfter(events: StoredEvent[], afterSeq: number): number {
  let lo = 0;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (events[mid]!.seq <= afterSeq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
