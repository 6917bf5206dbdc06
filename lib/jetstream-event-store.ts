import { PublishError, type JetStreamPublisher, type PubAck } from './js-publisher.js';
import type { AppendOptions, AppendOutcome, EventStore, StoredEvent } from './event-store.js';
import type { StreamReader } from './stream-reader.js';

/**
 * The EventStore on a JetStream stream: appends are one pipelined publish each (the publisher's,
 * with Nats-Msg-Id and Nats-Expected-Last-Subject-Sequence), reads are Direct Gets. It adds no NATS
 * operation of its own, only the mapping of acknowledgements to outcomes.
 */
export class JetStreamEventStore implements EventStore {
  readonly #reader: StreamReader;
  readonly #publisher: JetStreamPublisher;

  constructor(reader: StreamReader, publisher: JetStreamPublisher) {
    this.#reader = reader;
    this.#publisher = publisher;
  }

  readAfter(stream: string, afterSeq: number, upToSeq?: number): AsyncIterable<StoredEvent> {
    return this.#reader.readAfter(stream, afterSeq, upToSeq);
  }

  bySeq(seq: number): Promise<StoredEvent | null> {
    return this.#reader.bySeq(seq);
  }

  append(stream: string, data: Uint8Array, options: AppendOptions): Promise<AppendOutcome> {
    return this.#publisher
      .publish(stream, data, { msgId: options.idempotencyKey, expectedLastSubjectSequence: options.expectedVersion })
      .then(outcomeOf, conflictOrThrow);
  }
}

const outcomeOf = (ack: PubAck): AppendOutcome => (ack.duplicate ? { kind: 'duplicate', seq: ack.seq } : { kind: 'appended', seq: ack.seq });

function conflictOrThrow(err: unknown): AppendOutcome {
  if (err instanceof PublishError && err.code === 'wrong_last_sequence') return { kind: 'conflict' };
  throw err;
}
