import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/nats-core';
import { directGet, headers } from '../lib/names.js';
import type { StoredEntry } from '../lib/stream-reader.js';

/** A Direct Get that gets no answer this long fails. */
const TIMEOUT_MS = 5_000;

type Query = { seq: number; next_by_subj?: string } | { last_by_subj: string };
type Pending = { resolve(entry: StoredEntry | null): void; reject(err: Error): void; sentAt: number };

/** A Direct Get answered with an error status other than "no message". */
export class DirectGetError extends Error {
  readonly code = 'direct_get_failed';
}

/**
 * Direct Get for the gateway's per-connection reads (the inbox's end, the entry at a cursor,
 * replay walks, unread counts): one reply subscription for all of them and one sweep for
 * timeouts. nats.js's request() builds a timer, a deferred and an Error with a stack trace for
 * every request, even a successful one; at thousands of connects a second that garbage is most of
 * what the gateway allocates, and what an idle connection is charged for in RSS.
 */
export class DirectGets {
  readonly #nc: NatsConnection;
  readonly #inbox = `${createInbox()}.`;
  readonly #pending = new Map<number, Pending>();
  readonly #sub: Subscription;
  readonly #sweep: NodeJS.Timeout;
  #next = 0;

  constructor(nc: NatsConnection) {
    this.#nc = nc;
    this.#sub = nc.subscribe(`${this.#inbox}*`, { callback: (err, msg) => (err ? undefined : this.#onReply(msg)) });
    this.#sweep = setInterval(() => this.#expire(), 1_000);
    this.#sweep.unref();
  }

  get(stream: string, query: Query): Promise<StoredEntry | null> {
    const id = ++this.#next;
    const reply = this.#inbox + id;
    if ('last_by_subj' in query) this.#nc.publish(directGet.lastBySubject(stream, query.last_by_subj), undefined, { reply });
    else this.#nc.publish(directGet.get(stream), JSON.stringify(query), { reply });
    return new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject, sentAt: Date.now() }));
  }

  #onReply(msg: Msg): void {
    const id = Number(msg.subject.slice(this.#inbox.length));
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    const code = msg.headers?.code ?? 0;
    if (code === 404) return p.resolve(null);
    if (code !== 0) return p.reject(new DirectGetError(`direct get failed: ${code} ${msg.headers?.description ?? ''}`));
    const seq = Number(msg.headers?.get(headers.sequence));
    const subject = msg.headers?.get(headers.subject) ?? '';
    p.resolve({ seq, subject, data: msg.data });
  }

  #expire(): void {
    const before = Date.now() - TIMEOUT_MS;
    for (const [id, p] of this.#pending) {
      if (p.sentAt > before) break; // insertion order is sending order
      this.#pending.delete(id);
      p.reject(new DirectGetError(`direct get timed out after ${TIMEOUT_MS} ms`));
    }
  }

  close(): void {
    clearInterval(this.#sweep);
    this.#sub.unsubscribe();
    for (const p of this.#pending.values()) p.reject(new DirectGetError('closed'));
    this.#pending.clear();
  }
}

/** The reads of lib/stream-reader.ts's StreamReader that the gateway uses, over DirectGets. */
export class DirectReader {
  constructor(
    readonly gets: DirectGets,
    readonly stream: string,
  ) {}

  nextAfter(subject: string, afterSeq: number): Promise<StoredEntry | null> {
    return this.gets.get(this.stream, { seq: afterSeq + 1, next_by_subj: subject });
  }

  last(subject: string): Promise<StoredEntry | null> {
    return this.gets.get(this.stream, { last_by_subj: subject });
  }

  bySeq(seq: number): Promise<StoredEntry | null> {
    return this.gets.get(this.stream, { seq });
  }
}
