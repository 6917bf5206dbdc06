import type { Test } from 'tap';
import { TestClient, type Frame } from './client.js';

/**
 * A small "chat app" over TestClient, the way a real client is meant to behave (docs/protocol.md):
 *
 * - it keeps its cursor (the highest inbox `seq` it has processed) and drops any durable frame at
 *   or below it (cursor dedupe), so the application never sees a frame twice;
 * - when its socket closes it reconnects with `?cursor=<cursor>` to `url` (which the test may point
 *   at another gateway meanwhile), until stopped or past its deadline;
 * - every send has a tempId and stays in an outbox until confirmed (`message.sent`, or the user's
 *   own message arriving as `message.new` on a later connection); after a reconnect, or an `error`
 *   with a temporary code (`send_failed`, `rate_limited`, `internal`, `overloaded`: "retry this
 *   send (same tempId) in a moment"), it is re-sent with the SAME tempId, until confirmed or the deadline.
 *
 * It counts what an application would see: sends, acknowledgements, deliveries (messages from
 * others), deliveries of the same message twice, and per-conversation order breaks.
 */

export type AppClientOptions = {
  userId: string;
  url: string;
  /** A token for each (re)connect. */
  token: () => Promise<string>;
  /** Epoch ms: no reconnect or re-send after this. */
  deadline: number;
  /** Cursor for the first connect: undefined starts at the inbox end, 0 replays the whole inbox. */
  cursor?: number;
  reconnectDelayMs?: number;
  retryDelayMs?: number;
  codec?: 'json' | 'msgpack';
  /** Called for every frame the application accepts (after cursor dedupe). */
  onFrame?: (frame: Frame) => void;
};

export type Delivery = {
  seq: number;
  conversationId: string;
  messageSeq: number;
  messageId: string;
  senderId: string;
  tempId: string;
  content?: string;
  at: number;
};

type Outgoing = { payload: Record<string, unknown> & { tempId: string }; attempts: number; retryTimer?: NodeJS.Timeout };

const TEMPORARY = new Set(['send_failed', 'rate_limited', 'internal', 'overloaded']);

export class AppClient {
  readonly userId: string;
  /** Where the next (re)connect goes. */
  url: string;
  /** The highest inbox seq processed; undefined until the first connection.success. */
  cursor: number | undefined;

  /** Messages from others, in the order the application got them (after cursor dedupe). */
  readonly deliveries: Delivery[] = [];
  /** Every frame the application accepted, in order. */
  readonly accepted: Frame[] = [];
  /** tempId → confirmed message id; its size is the acknowledged count. */
  readonly acknowledged = new Map<string, string>();
  /** Sends not yet confirmed. */
  readonly outbox = new Map<string, Outgoing>();
  /** Sends the server refused for good (a non-temporary error with the tempId). */
  readonly failed = new Map<string, { code: string; message: string }>();
  /** Every connection.success payload, in order. */
  readonly sessions: any[] = [];
  /** Every close the socket saw (code, reason, when). */
  readonly closes: { code: number; reason: string; at: number }[] = [];
  /** Durable frames dropped because their seq was at or below the cursor. */
  droppedBySeq = 0;
  /** Deliveries of a message (sender + tempId) the application already had. */
  duplicated = 0;
  /** Deliveries whose message seq was not above the previous one of that conversation. */
  outOfOrder = 0;
  /** Re-sends (same tempId) after a reconnect or a temporary error. */
  resends = 0;
  /** send() calls. */
  sent = 0;

  readonly #o: AppClientOptions;
  #client: TestClient | undefined;
  /** The socket that has had its connection.success: sends go here. */
  #live: TestClient | undefined;
  #stopped = false;
  #connecting: Promise<void> | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #seen = new Set<string>();
  #lastMessageSeq = new Map<string, number>();
  #listeners: (() => void)[] = [];

  private constructor(o: AppClientOptions) {
    this.#o = o;
    this.userId = o.userId;
    this.url = o.url;
    this.cursor = o.cursor;
  }

  /** Connect (waiting for connection.success) and keep the connection up until stop(). */
  static async start(o: AppClientOptions): Promise<AppClient> {
    const app = new AppClient(o);
    await app.#connect();
    return app;
  }

  /** The current socket (undefined while reconnecting). */
  get client(): TestClient | undefined {
    return this.#client;
  }

  /** A socket is open and has had its connection.success. */
  get connected(): boolean {
    return this.#live !== undefined && this.#live.ws.readyState === this.#live.ws.OPEN;
  }

  get delivered(): number {
    return this.deliveries.length;
  }

  /** Send a message; it is re-sent with the same tempId until confirmed. Returns the tempId. */
  send(payload: Record<string, unknown> & { tempId: string }): string {
    if (this.outbox.has(payload.tempId) || this.acknowledged.has(payload.tempId)) throw new Error(`tempId ${payload.tempId} used twice`);
    this.sent++;
    const out: Outgoing = { payload, attempts: 0 };
    this.outbox.set(payload.tempId, out);
    this.#transmit(out);
    return payload.tempId;
  }

  /** Close the socket without reconnecting (a clean disconnect); `resume()` reconnects. */
  async disconnect(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#reconnectTimer);
    const c = this.#client;
    if (c) await c.close();
  }

  /** Reconnect after disconnect(), with the cursor, to `url` (or the current url). */
  async resume(url?: string): Promise<void> {
    if (url !== undefined) this.url = url;
    this.#stopped = false;
    await this.#connect();
  }

  /** Stop for good: no more reconnects or re-sends. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#reconnectTimer);
    for (const out of this.outbox.values()) clearTimeout(out.retryTimer);
    this.#client?.terminate();
  }

  /** Resolves when `pred()` holds (checked every 20 ms), rejects after `timeoutMs`. */
  async until(pred: () => boolean, timeoutMs: number, what = 'condition'): Promise<void> {
    const end = Math.min(Date.now() + timeoutMs, this.#o.deadline);
    while (!pred()) {
      if (Date.now() > end) throw new Error(`${this.userId}: ${what} not reached within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Resolves with the close that ends the current socket. */
  nextClose(): Promise<{ code: number; reason: string }> {
    return this.#client ? this.#client.closed : Promise.resolve({ code: 0, reason: 'not connected' });
  }

  async #connect(): Promise<void> {
    if (this.#connecting) return this.#connecting;
    this.#connecting = (async () => {
      for (;;) {
        if (this.#stopped) return;
        try {
          await this.#open();
          return;
        } catch (err) {
          if (Date.now() > this.#o.deadline) throw new Error(`${this.userId}: could not reconnect before the deadline: ${(err as Error).message}`);
          await new Promise((r) => setTimeout(r, this.#o.reconnectDelayMs ?? 100));
        }
      }
    })().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #open(): Promise<void> {
    const token = await this.#o.token();
    const client = await TestClient.open(this.url, {
      auth: 'header',
      token,
      ...(this.cursor !== undefined ? { cursor: this.cursor } : {}),
      ...(this.#o.codec ? { codec: this.#o.codec } : {}),
    });
    client.ws.on('error', () => undefined); // a reset after open; 'close' follows
    this.#client = client;
    let index = 0;
    let ready!: () => void;
    const success = new Promise<void>((resolve) => (ready = resolve));
    const pump = () => {
      while (index < client.frames.length && this.#client === client) {
        const frame = client.frames[index++]!;
        if (frame.type === 'connection.success') {
          this.#live = client;
          ready();
        }
        this.#onFrame(frame);
      }
    };
    client.ws.on('message', pump);
    pump();
    const ended = client.closed.then(({ code, reason }) => {
      pump();
      const wasLive = this.#live === client;
      if (this.#client === client) this.#client = undefined;
      if (wasLive) this.#live = undefined;
      this.closes.push({ code, reason, at: Date.now() });
      // A socket that never got connection.success is retried by #connect's loop.
      if (!wasLive || this.#stopped || Date.now() > this.#o.deadline) return { code, reason };
      clearTimeout(this.#reconnectTimer);
      this.#reconnectTimer = setTimeout(() => void this.#connect().catch(() => undefined), this.#o.reconnectDelayMs ?? 100);
      return { code, reason };
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        success,
        ended.then(({ code, reason }) => {
          throw new Error(`closed ${code} ${reason} before connection.success`);
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('no connection.success within 10 s')), 10_000);
        }),
      ]);
    } catch (err) {
      if (this.#client === client) this.#client = undefined;
      client.terminate();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  #onFrame(frame: Frame): void {
    if (frame.type === 'connection.success') {
      this.sessions.push(frame.payload);
      if (this.cursor === undefined || frame.payload.resumed !== true) this.cursor = frame.payload.cursor;
      this.accepted.push(frame);
      this.#o.onFrame?.(frame);
      // Everything unconfirmed goes again, with the same tempId.
      for (const out of this.outbox.values()) {
        if (out.attempts > 0) this.resends++;
        this.#transmit(out);
      }
      return;
    }
    if (typeof frame.seq === 'number') {
      if (this.cursor !== undefined && frame.seq <= this.cursor) {
        this.droppedBySeq++;
        return;
      }
      this.cursor = frame.seq;
    }
    this.accepted.push(frame);
    this.#o.onFrame?.(frame);
    if (frame.type === 'message.sent') return this.#confirm(frame.payload.tempId, frame.payload.message?.id);
    if (frame.type === 'message.new') {
      const m = frame.payload.message;
      if (m.senderId === this.userId) return this.#confirm(m.tempId, m.id);
      const key = `${m.senderId}:${m.tempId}`;
      if (this.#seen.has(key)) this.duplicated++;
      this.#seen.add(key);
      const last = this.#lastMessageSeq.get(m.conversationId) ?? 0;
      if (m.seq <= last) this.outOfOrder++;
      this.#lastMessageSeq.set(m.conversationId, Math.max(last, m.seq));
      this.deliveries.push({
        seq: frame.seq ?? -1,
        conversationId: m.conversationId,
        messageSeq: m.seq,
        messageId: m.id,
        senderId: m.senderId,
        tempId: m.tempId,
        ...(m.content !== undefined ? { content: m.content } : {}),
        at: Date.now(),
      });
      return;
    }
    if (frame.type === 'error') {
      const tempId = frame.error?.tempId ?? (frame.ref?.startsWith('s:') ? frame.ref.slice(2) : undefined);
      if (tempId === undefined) return;
      const out = this.outbox.get(tempId);
      if (!out) return;
      if (TEMPORARY.has(frame.error!.code)) {
        clearTimeout(out.retryTimer);
        out.retryTimer = setTimeout(() => {
          if (!this.outbox.has(tempId) || Date.now() > this.#o.deadline) return;
          this.resends++;
          this.#transmit(out);
        }, this.#o.retryDelayMs ?? 200);
      } else {
        this.outbox.delete(tempId);
        this.failed.set(tempId, { code: frame.error!.code, message: frame.error!.message });
      }
    }
  }

  #confirm(tempId: string, messageId: string): void {
    const out = this.outbox.get(tempId);
    if (out) {
      clearTimeout(out.retryTimer);
      this.outbox.delete(tempId);
    }
    if (!this.acknowledged.has(tempId)) this.acknowledged.set(tempId, messageId);
  }

  #transmit(out: Outgoing): void {
    const c = this.#live;
    // Not connected (or no connection.success yet): the next connection.success sends it.
    if (!c || c.ws.readyState !== c.ws.OPEN) return;
    out.attempts++;
    c.send({ type: 'message.send', ref: `s:${out.payload.tempId}`, payload: out.payload });
  }
}

export type Tally = { sent: number; acknowledged: number; delivered: number; lost: number; duplicated: number; outOfOrder: number; failed: number };

/**
 * The figures of a fault test: what `sender` sent and had acknowledged, and what `receiver` got
 * of it. Lost = acknowledged by the sender but never delivered to the receiver.
 */
export function tally(sender: AppClient, receiver: AppClient): Tally {
  const fromSender = receiver.deliveries.filter((d) => d.senderId === sender.userId);
  const got = new Set(fromSender.map((d) => d.tempId));
  return {
    sent: sender.sent,
    acknowledged: sender.acknowledged.size,
    delivered: fromSender.length,
    lost: [...sender.acknowledged.keys()].filter((id) => !got.has(id)).length,
    duplicated: receiver.duplicated,
    outOfOrder: receiver.outOfOrder,
    failed: sender.failed.size,
  };
}

export function describe(label: string, x: Tally): string {
  return `${label}: sent ${x.sent}, acknowledged ${x.acknowledged}, delivered ${x.delivered}, lost ${x.lost}, duplicated ${x.duplicated}, out of order ${x.outOfOrder}`;
}

/**
 * What every fault test must show for `receiver`: each of `total` sends acknowledged and delivered
 * exactly once, none refused for good, message seqs 1..N in order.
 */
export function assertExactlyOnce(t: Test, x: Tally, receiver: AppClient, total: number): void {
  const who = receiver.userId;
  t.equal(x.failed, 0, 'no send refused for good');
  t.equal(x.acknowledged, total, 'every send acknowledged');
  t.equal(x.lost, 0, `${who}: 0 acknowledged messages lost`);
  t.equal(x.duplicated, 0, `${who}: 0 delivered twice`);
  t.equal(x.outOfOrder, 0, `${who}: per-conversation order preserved`);
  t.equal(x.delivered, total, `${who} got every message`);
  t.same(
    receiver.deliveries.map((d) => d.messageSeq),
    Array.from({ length: total }, (_, i) => i + 1),
    `${who}: message seqs 1..N, consecutive, in order`,
  );
}
