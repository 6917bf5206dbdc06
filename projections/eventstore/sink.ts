import {
  BACKWARDS,
  END,
  EventStoreDBClient,
  NO_STREAM,
  StreamNotFoundError,
  WrongExpectedVersionError,
  binaryEvent,
  jsonEvent,
  type JSONType,
} from '@eventstore/db-client';

/**
 * Where the mirror writes: EventStoreDB in production, an in-memory sink in tests. Kept to the few
 * operations the mirror needs so the NATS side can be tested without an EventStoreDB server.
 */

/** Stored with every mirrored event, so a stream's last event says how far it is mirrored. */
export type MirrorMetadata = {
  /** The event's sequence in the NATS events stream. */
  logSeq: number;
  subject: string;
  natsStream: string;
  /** When NATS stored it (ISO 8601, UTC). */
  loggedAt: string;
};

export type MirrorEvent = {
  /** Deterministic: mirrorEventId(stream, logSeq). */
  id: string;
  type: string;
  /** The stored event, parsed; raw bytes when it was not JSON. */
  data: JSONType | Uint8Array;
  metadata: MirrorMetadata;
};

/** The last event of a stream: its revision and the log sequence it mirrors (0 if unknown). */
export type StreamTail = { revision: bigint; logSeq: number };

export interface MirrorSink {
  /** The stream's last event, or null when the stream does not exist. */
  tail(stream: string): Promise<StreamTail | null>;
  /**
   * Append events to a stream whose last revision must be `expected` ('no_stream': must not
   * exist yet); resolves with the stream's new last revision. A failed expectation throws an error
   * for which isConflict() is true.
   */
  append(stream: string, events: MirrorEvent[], expected: bigint | 'no_stream'): Promise<bigint>;
  isConflict(err: unknown): boolean;
  close(): Promise<void>;
}

/** A MirrorSink writing to EventStoreDB (connection string, e.g. esdb://localhost:2113?tls=false). */
export function eventStoreDbSink(connectionString: string): MirrorSink {
  const client = EventStoreDBClient.connectionString(connectionString);
  return {
    async tail(stream) {
      try {
        for await (const resolved of client.readStream(stream, { direction: BACKWARDS, fromRevision: END, maxCount: 1 })) {
          const event = resolved.event;
          if (!event) continue;
          const meta = event.metadata as Partial<MirrorMetadata> | undefined;
          return { revision: event.revision, logSeq: typeof meta?.logSeq === 'number' ? meta.logSeq : 0 };
        }
        return null;
      } catch (err) {
        if (err instanceof StreamNotFoundError) return null;
        throw err;
      }
    },
    async append(stream, events, expected) {
      const data = events.map((e) =>
        e.data instanceof Uint8Array
          ? binaryEvent({ id: e.id, type: e.type, data: e.data, metadata: e.metadata })
          : jsonEvent({ id: e.id, type: e.type, data: e.data, metadata: e.metadata }),
      );
      const result = await client.appendToStream(stream, data, { expectedRevision: expected === 'no_stream' ? NO_STREAM : expected });
      return result.nextExpectedRevision;
    },
    isConflict(err) {
      return err instanceof WrongExpectedVersionError;
    },
    close: () => client.dispose(),
  };
}
