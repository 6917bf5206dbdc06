import { headers as natsHeaders, nuid, type NatsConnection, type Subscription, type Msg, type MsgHdrs } from '@nats-io/nats-core';
import { headers } from './names.js';
import { BelowMark } from './below-mark.js';
import { writeCoalescer } from './write-coalescing.js';

/**
 * A pipelined JetStream publisher: a plain publish with a reply subject, and one wildcard
 * subscription collecting the stream's acknowledgements. nats.js's `js.publish()` builds a request
 * (and a timer and a promise chain) per message and is client-CPU-bound at a third of this rate.
 */

export type PubAck = { stream: string; seq: number; duplicate: boolean };

export type PublishOptions = {
  /** Nats-Msg-Id: the stream drops a second message with the same id inside its duplicate window. */
  msgId?: string;
  /** Optimistic concurrency: the subject's last stream sequence must be this (0: no message yet). */
  expectedLastSubjectSequence?: number;
  /** Further headers, stored with the message (e.g. an inbox entry's unread count). */
  headers?: Readonly<Record<string, string>>;
};

export type PublishErrorCode = 'wrong_last_sequence' | 'no_stream' | 'timeout' | 'closed' | 'api_error';

export class PublishError extends Error {
  readonly code: PublishErrorCode;
  constructor(code: PublishErrorCode, message: string) {
    super(message);
    this.name = 'PublishError';
    this.code = code;
  }
}

/** JetStream's error code for a failed expected-last-subject-sequence check. */
const WRONG_LAST_SEQUENCE = 10071;

type Pending = { resolve: (ack: PubAck) => void; reject: (err: Error) => void; deadline: number };

export class JetStreamPublisher {
  readonly #nc: NatsConnection;
  readonly #prefix = `_INBOX.${nuid.next()}`;
  readonly #pending = new Map<number, Pending>();
  readonly #sub: Subscription;
  readonly #timer: NodeJS.Timeout;
  readonly #timeoutMs: number;
  #next = 1;
  #closed = false;
  /** Callers waiting for the number of unacknowledged publishes to fall below their mark. */
  readonly #below = new BelowMark(() => this.#pending.size);
  readonly #coalesce: (() => void) | undefined;

  /**
   * `coalesceWrites`: one socket write per event-loop turn (lib/write-coalescing.ts), for the
   * processes that publish as they consume (engine, projectors); `{ maxHeld }` also lets the
   * writes go every maxHeld publishes, for the gateway, whose turns grow long under overload.
   */
  constructor(nc: NatsConnection, options: { timeoutMs?: number; coalesceWrites?: boolean | { maxHeld: number } } = {}) {
    this.#nc = nc;
    const coalesce = options.coalesceWrites;
    this.#coalesce = coalesce ? writeCoalescer(nc, coalesce === true ? undefined : coalesce.maxHeld) : undefined;
    this.#timeoutMs = options.timeoutMs ?? 5_000;
    this.#sub = nc.subscribe(`${this.#prefix}.*`, { callback: (err, msg) => (err ? undefined : this.#onAck(msg)) });
    // One sweep for all timeouts instead of a timer per message.
    this.#timer = setInterval(() => this.#sweep(), Math.min(250, this.#timeoutMs)).unref();
  }

  get pending(): number {
    return this.#pending.size;
  }

  /** Resolves once fewer than `below` publishes await their acknowledgement (at once if so already). */
  whenPendingBelow(below: number): Promise<void> {
    return this.#below.when(below);
  }

  publish(subject: string, data: Uint8Array, options: PublishOptions = {}): Promise<PubAck> {
    if (this.#closed) return Promise.reject(new PublishError('closed', 'publisher closed'));
    const id = this.#next++;
    let hdrs: MsgHdrs | undefined;
    if (options.msgId !== undefined || options.expectedLastSubjectSequence !== undefined || options.headers !== undefined) {
      hdrs = natsHeaders();
      if (options.msgId !== undefined) hdrs.set(headers.msgId, options.msgId);
      if (options.expectedLastSubjectSequence !== undefined) {
        hdrs.set(headers.expectedLastSubjectSequence, String(options.expectedLastSubjectSequence));
      }
      if (options.headers !== undefined) for (const [name, value] of Object.entries(options.headers)) hdrs.set(name, value);
    }
    return new Promise<PubAck>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, deadline: Date.now() + this.#timeoutMs });
      this.#coalesce?.();
      try {
        this.#nc.publish(subject, data, { reply: `${this.#prefix}.${id}`, ...(hdrs ? { headers: hdrs } : {}) });
      } catch (err) {
        this.#pending.delete(id);
        reject(err as Error);
      }
    });
  }

  #onAck(msg: Msg): void {
    const id = Number(msg.subject.slice(this.#prefix.length + 1));
    const pending = this.#pending.get(id);
    if (!pending) return; // timed out already
    this.#pending.delete(id);
    this.#below.settled();
    if (msg.headers?.code === 503) {
      pending.reject(new PublishError('no_stream', `no stream listens on this subject`));
      return;
    }
    let body: { stream?: string; seq?: number; duplicate?: boolean; error?: { err_code?: number; description?: string } };
    try {
      body = msg.json();
    } catch {
      pending.reject(new PublishError('api_error', 'unparseable publish acknowledgement'));
      return;
    }
    if (body.error) {
      const code = body.error.err_code === WRONG_LAST_SEQUENCE ? 'wrong_last_sequence' : 'api_error';
      pending.reject(new PublishError(code, body.error.description ?? 'publish failed'));
      return;
    }
    pending.resolve({ stream: body.stream!, seq: body.seq!, duplicate: body.duplicate === true });
  }

  #sweep(): void {
    const now = Date.now();
    for (const [id, p] of this.#pending) {
      if (p.deadline <= now) {
        this.#pending.delete(id);
        p.reject(new PublishError('timeout', 'no acknowledgement from the stream in time'));
      }
    }
    this.#below.settled();
  }

  /** Waits (bounded) for outstanding acknowledgements, then stops. */
  async close(waitMs = 5_000): Promise<void> {
    const until = Date.now() + waitMs;
    while (this.#pending.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    this.#closed = true;
    clearInterval(this.#timer);
    this.#sub.unsubscribe();
    for (const p of this.#pending.values()) p.reject(new PublishError('closed', 'publisher closed'));
    this.#pending.clear();
    this.#below.settled();
  }
}
