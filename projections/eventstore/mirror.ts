import { createHash } from 'node:crypto';
import type { NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import type { Component } from '../../lib/component.js';
import type { Config } from '../../lib/config.js';
import { durableConsumer, waitForAbandonedMessages } from '../../lib/durable-consumer.js';
import type { Logger } from '../../lib/log.js';
import { LruMap } from '../../lib/lru.js';
import type { Names } from '../../lib/names.js';
import { eventStoreDbSink, type MirrorEvent, type MirrorSink, type StreamTail } from './sink.js';

export type { MirrorEvent, MirrorMetadata, MirrorSink, StreamTail } from './sink.js';
export { eventStoreDbSink } from './sink.js';

/**
 * The EventStoreDB mirror: a durable JetStream consumer copies every event of the log into
 * EventStoreDB, one stream per conversation (`conversation-<id>`) and per user (`user-<id>`).
 *
 * Exactly once per event, however often it runs:
 * - every event's EventStoreDB id is derived from its log position (mirrorEventId), and its
 *   metadata carries `logSeq`, so a stream's last event says how far that stream is mirrored;
 * - events of one stream are appended in log order, with the expected revision of the stream, and
 *   anything at or below the stream's last mirrored log seq is acknowledged without writing
 *   (a redelivery, a restart, a consumer that was deleted and created again);
 * - a failed append is retried in place (never skipped past) until it succeeds or the mirror
 *   stops; the message is acked only after its append, and kept alive with "working" meanwhile.
 * Streams are appended to concurrently; one stream's events are batched into one append.
 */

type Env = Record<string, string | undefined>;

/** The mirror runs only when EVENTSTORE_URL (an EventStoreDB connection string) is set. */
export function mirrorEnabled(env: Env = process.env): boolean {
  return (env.EVENTSTORE_URL ?? '').trim() !== '';
}

/** RFC 4122 version 5 (SHA-1, name-based) UUID of `name` in `namespace`. */
export function uuidV5(name: string, namespace: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  if (ns.length !== 16) throw new Error(`invalid namespace UUID ${JSON.stringify(namespace)}`);
  const hash = createHash('sha1').update(ns).update(name, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** RFC 4122's URL namespace. */
const URL_NAMESPACE = '6ba7b811-9dad-11d1-80b4-00c04fd430c8';
/** The namespace of mirror event ids. Never change it: ids would stop matching what is stored. */
export const MIRROR_ID_NAMESPACE = uuidV5('https://github.com/parley/eventstore-mirror', URL_NAMESPACE);

/** The EventStoreDB event id of the event at `logSeq` in `stream`: the same on every run. */
export function mirrorEventId(stream: string, logSeq: number): string {
  return uuidV5(`${stream}:${logSeq}`, MIRROR_ID_NAMESPACE);
}

/** `conversation-<id>` / `user-<id>` for an event subject; undefined for anything else. */
export function eventStoreStreamOf(names: Names, subject: string): string | undefined {
  const conversationId = names.subjects.conversationOfSubject(subject);
  if (conversationId) return `conversation-${conversationId}`;
  const userId = names.subjects.userOfSubject(subject);
  return userId ? `user-${userId}` : undefined;
}

export type EventStoreMirrorStats = {
  /** Events appended to EventStoreDB by this process. */
  mirrored: number;
  /** Events acked without writing: already in EventStoreDB (or not an event subject). */
  skipped: number;
  /** Append attempts that failed (each retried). */
  failedAppends: number;
  /** Highest log sequence acked. */
  lastLogSeq: number;
  /** Messages received and not yet acked. */
  inFlight: number;
};

export type EventStoreMirror = Component<EventStoreMirrorStats>;

export type EventStoreMirrorOptions = {
  nc: NatsConnection;
  config: Config;
  names: Names;
  log: Logger;
  /** Default: process.env; EVENTSTORE_URL is read from it unless `sink` is given. */
  env?: Env;
  /** Where to write; default an EventStoreDB client for EVENTSTORE_URL (closed on stop). */
  sink?: MirrorSink;
  ackWaitMs?: number;
  maxAckPending?: number;
  /** Most events and bytes per append. */
  maxBatch?: number;
  maxBatchBytes?: number;
  /** Longest wait between retries of a failed append. */
  maxRetryDelayMs?: number;
};

type Queue = { items: JsMsg[]; running: boolean };

const NO_STREAM_TAIL = { revision: 'no_stream', logSeq: 0 } as const;
type Tail = StreamTail | typeof NO_STREAM_TAIL;

export async function startEventStoreMirror(opts: EventStoreMirrorOptions): Promise<EventStoreMirror> {
  const { nc, config, names } = opts;
  const log = opts.log.child({ component: 'eventstore-mirror' });
  const env = opts.env ?? process.env;
  if (!opts.sink && !mirrorEnabled(env)) throw new Error('EVENTSTORE_URL is not set: the EventStoreDB mirror has nowhere to write');
  const sink = opts.sink ?? eventStoreDbSink(env.EVENTSTORE_URL!.trim());
  const ownSink = !opts.sink;
  const ackWaitMs = opts.ackWaitMs ?? 30_000;
  const maxAckPending = opts.maxAckPending ?? 1_000;
  const maxBatch = opts.maxBatch ?? 100;
  const maxBatchBytes = opts.maxBatchBytes ?? 512 * 1024;
  const maxRetryDelayMs = opts.maxRetryDelayMs ?? 10_000;

  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const consumer = await durableConsumer(jsm, js, {
    stream: names.streams.events,
    durable: names.consumers.eventStoreMirror,
    // No filter: the stream holds events only (see durable-consumer.ts).
    ackWaitMs,
    maxAckPending,
  });

  const counts = { mirrored: 0, skipped: 0, failedAppends: 0, lastLogSeq: 0 };
  const queues = new Map<string, Queue>();
  const held = new Set<JsMsg>();
  const workers = new Set<Promise<void>>();
  const tails = new LruMap<string, Tail>(config.engine.cacheSize);
  let stopped = false;
  let wake: () => void = () => undefined;
  const stopping = new Promise<void>((resolve) => (wake = resolve));
  let messages: ConsumerMessages | undefined;

  // Messages waiting behind a slow or failing append must not be redelivered meanwhile.
  const heartbeat = setInterval(() => {
    for (const m of held) m.working();
  }, Math.max(500, Math.floor(ackWaitMs / 3)));
  heartbeat.unref();

  const done = (m: JsMsg) => {
    m.ack();
    held.delete(m);
    counts.lastLogSeq = Math.max(counts.lastLogSeq, m.seq);
  };

  const toMirrorEvent = (stream: string, m: JsMsg): MirrorEvent => {
    let data: MirrorEvent['data'] = m.data;
    let type = 'Unparseable';
    try {
      const parsed = JSON.parse(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).toString('utf8')) as unknown;
      if (parsed !== null && typeof parsed === 'object') {
        data = parsed as Record<string, unknown>;
        const t = (parsed as { type?: unknown }).type;
        type = typeof t === 'string' && t !== '' ? t : 'Unknown';
      }
    } catch {
      log.error({ logSeq: m.seq, subject: m.subject }, 'event is not JSON: mirrored as binary');
    }
    return {
      id: mirrorEventId(stream, m.seq),
      type,
      data,
      metadata: { logSeq: m.seq, subject: m.subject, natsStream: names.streams.events, loggedAt: m.time.toISOString() },
    };
  };

  /** Append one batch (in log order) to `stream`, skipping what it already holds; then ack. */
  const appendBatch = async (stream: string, batch: JsMsg[]) => {
    let tail = tails.get(stream);
    if (tail === undefined) {
      tail = (await sink.tail(stream)) ?? NO_STREAM_TAIL;
      tails.set(stream, tail);
    }
    const fresh: JsMsg[] = [];
    let high = tail.logSeq;
    for (const m of batch) {
      if (m.seq > high) {
        fresh.push(m);
        high = m.seq;
      }
    }
    if (fresh.length > 0) {
      const revision = await sink.append(
        stream,
        fresh.map((m) => toMirrorEvent(stream, m)),
        tail.revision,
      );
      tails.set(stream, { revision, logSeq: high });
      counts.mirrored += fresh.length;
    }
    counts.skipped += batch.length - fresh.length;
    for (const m of batch) done(m);
  };

  const takeBatch = (q: Queue): JsMsg[] => {
    let bytes = 0;
    let n = 0;
    while (n < q.items.length && n < maxBatch) {
      bytes += q.items[n]!.data.byteLength;
      if (n > 0 && bytes > maxBatchBytes) break;
      n++;
    }
    return q.items.slice(0, n);
  };

  /** Works through one stream's queue; a failure is retried, never skipped past. */
  const drain = async (stream: string, q: Queue) => {
    let attempt = 0;
    try {
      while (q.items.length > 0 && !stopped) {
        const batch = takeBatch(q);
        try {
          await appendBatch(stream, batch);
          q.items.splice(0, batch.length);
          attempt = 0;
        } catch (err) {
          counts.failedAppends++;
          attempt++;
          // Re-read the stream's tail next time: the append may have landed, or someone else wrote.
          tails.delete(stream);
          const delay = Math.min(maxRetryDelayMs, 100 * 2 ** Math.min(attempt, 10));
          const conflict = sink.isConflict(err);
          log[attempt > 3 ? 'error' : 'warn'](
            { err: conflict ? undefined : err, stream, logSeq: batch[0]!.seq, events: batch.length, attempt, retryInMs: delay, conflict },
            conflict ? 'eventstore stream moved on (wrong expected revision), re-reading its tail' : 'eventstore append failed, retrying',
          );
          await Promise.race([new Promise((r) => setTimeout(r, conflict && attempt === 1 ? 0 : delay).unref()), stopping]);
        }
      }
    } finally {
      q.running = false;
      if (q.items.length === 0 && queues.get(stream) === q) queues.delete(stream);
    }
  };

  const enqueue = (m: JsMsg) => {
    const stream = eventStoreStreamOf(names, m.subject);
    if (!stream) {
      log.warn({ subject: m.subject, logSeq: m.seq }, 'not an event subject, not mirrored');
      counts.skipped++;
      m.ack();
      return;
    }
    held.add(m);
    let q = queues.get(stream);
    if (!q) {
      q = { items: [], running: false };
      queues.set(stream, q);
    }
    q.items.push(m);
    if (!q.running) {
      q.running = true;
      const worker = drain(stream, q).catch((err: unknown) => log.error({ err, stream }, 'eventstore mirror worker failed'));
      workers.add(worker);
      void worker.finally(() => workers.delete(worker));
    }
  };

  const loop = (async () => {
    // One stream's events must reach EventStoreDB in log order, so a restarted mirror lets the
    // messages a stopped one held come back first.
    if (!(await waitForAbandonedMessages(consumer, ackWaitMs, log, () => stopped))) return;
    if (stopped) return;
    messages = await consumer.consume({ max_messages: Math.min(1_000, maxAckPending) });
    for await (const m of messages) {
      if (stopped) break;
      enqueue(m);
    }
  })().catch((err: unknown) => log.error({ err }, 'eventstore mirror consumer failed'));
  log.info({ consumer: names.consumers.eventStoreMirror }, 'eventstore mirror consuming events');

  return {
    stats: () => ({ ...counts, inFlight: held.size }),
    async stop() {
      if (stopped) return;
      stopped = true;
      wake();
      messages?.stop();
      await loop;
      // Appends under way finish (and ack); what is still queued is redelivered to the next run.
      while (workers.size > 0) await Promise.allSettled([...workers]);
      clearInterval(heartbeat);
      if (ownSink) await sink.close().catch((err: unknown) => log.warn({ err }, 'closing the eventstore client failed'));
      log.info({ ...counts, unacked: held.size }, 'eventstore mirror stopped');
    },
  };
}
