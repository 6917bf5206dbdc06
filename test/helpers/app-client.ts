import { pack, unpack } from 'msgpackr';
import type { Test } from 'tap';
import WebSocket from 'ws';
import { MemoryCursorStore, msgpackCodec, ParleyClient, serverFrameTypes, type ServerPayloads } from '../../sdk/src/index.js';

/**
 * A small "chat app" over the SDK's ParleyClient (sdk/), counting what an application would see —
 * sends, confirmations, deliveries, deliveries of the same message twice, per-conversation order
 * breaks — so that the fault tests check the SDK's guarantees end to end: the client resumes from
 * its cursor after every drop (to `url`, which a test may point at another gateway meanwhile),
 * drops what it already processed, and re-sends unconfirmed sends with the same tempId.
 */

export type AppClientOptions = {
  userId: string;
  url: string;
  /** A token for each (re)connect. */
  token: () => Promise<string>;
  /** Epoch ms: sends not confirmed by then are given up. */
  deadline: number;
  /** Cursor for the first connect: undefined starts at the inbox end, 0 replays the whole inbox. */
  cursor?: number;
  /** The ceiling of the first reconnect delay (the SDK's back-off: full jitter, doubling). */
  reconnectDelayMs?: number;
  /** The ceiling of the first re-send delay after a temporary error. */
  retryDelayMs?: number;
  codec?: 'json' | 'msgpack';
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

export type AcceptedFrame = { type: string; seq?: number; payload: any };

export class AppClient {
  readonly userId: string;
  readonly sdk: ParleyClient;
  /** Where the next (re)connect goes. */
  url: string;

  /** Messages from others, in the order the application got them (after the SDK's dedupe). */
  readonly deliveries: Delivery[] = [];
  /** Every server frame the application was given, in order. */
  readonly accepted: AcceptedFrame[] = [];
  /** tempId → confirmed message id; its size is the acknowledged count. */
  readonly acknowledged = new Map<string, string>();
  /** Sends the SDK gave up (refused for good, or past the deadline). */
  readonly failed = new Map<string, { code: string; message: string }>();
  /** Every connection.success payload, in order. */
  readonly sessions: ServerPayloads['connection.success'][] = [];
  /** Every close the client saw (code, reason, when). */
  readonly closes: { code: number; reason: string; at: number }[] = [];
  /** Deliveries of a message (sender + tempId) the application already had. */
  duplicated = 0;
  /** Deliveries whose message seq was not above the previous one of that conversation. */
  outOfOrder = 0;
  /** message.send frames that went out again with a tempId already sent. */
  resends = 0;
  /** send() calls. */
  sent = 0;
  /** The current socket (the `ws` package's), for tests that pause it. */
  socket: WebSocket | undefined;

  readonly #deadline: number;
  readonly #transmitted = new Set<string>();
  readonly #seen = new Set<string>();
  readonly #lastMessageSeq = new Map<string, number>();
  #closeWaiters: ((c: { code: number; reason: string }) => void)[] = [];

  private constructor(o: AppClientOptions) {
    this.userId = o.userId;
    this.url = o.url;
    this.#deadline = o.deadline;
    const msgpack = o.codec === 'msgpack';
    const firstMs = o.reconnectDelayMs ?? 100;
    const retryMs = o.retryDelayMs ?? 200;
    this.sdk = new ParleyClient({
      url: () => this.url,
      token: o.token,
      ...(o.cursor !== undefined ? { cursorStore: new MemoryCursorStore(o.cursor) } : {}),
      ...(msgpack ? { codec: msgpackCodec({ pack, unpack }) } : {}),
      createSocket: (url, protocols) => this.#socket(url, protocols, msgpack),
      reconnect: { firstMs, maxMs: firstMs * 8, factor: 2 },
      outbox: {
        maxAttempts: 10_000,
        giveUpAfterMs: Math.max(1, o.deadline - Date.now()),
        retry: { firstMs: retryMs, maxMs: retryMs * 5, factor: 2, stableAfterMs: 10_000, random: Math.random },
      },
    });
    for (const type of serverFrameTypes) this.sdk.on(type, (payload: any, frame: any) => this.#accept(type, payload, frame.seq));
    this.sdk.on('connection.success', (p) => this.sessions.push(p));
    this.sdk.on('disconnected', (c) => {
      this.closes.push({ ...c, at: Date.now() });
      for (const w of this.#closeWaiters.splice(0)) w(c);
    });
  }

  /** Connect (waiting for connection.success) and keep the connection up until stop(). */
  static async start(o: AppClientOptions): Promise<AppClient> {
    const app = new AppClient(o);
    await app.sdk.connect();
    return app;
  }

  /** The highest inbox seq processed. */
  get cursor(): number | undefined {
    return this.sdk.cursor;
  }

  /** Durable frames the SDK dropped because their seq was at or below the cursor. */
  get droppedBySeq(): number {
    return this.sdk.duplicatesDropped;
  }

  /** Sends not yet confirmed. */
  get outbox(): { size: number } {
    return { size: this.sdk.pending().length };
  }

  get connected(): boolean {
    return this.sdk.state === 'open';
  }

  get delivered(): number {
    return this.deliveries.length;
  }

  /** Send a message; the SDK re-sends it with the same tempId until confirmed. Returns the tempId. */
  send(payload: Record<string, unknown> & { tempId: string }): string {
    const { tempId, conversationId, toUserId, ...content } = payload;
    if (this.acknowledged.has(tempId) || this.sdk.pending().some((p) => p.tempId === tempId)) throw new Error(`tempId ${tempId} used twice`);
    this.sent++;
    const target = (conversationId !== undefined ? { conversationId } : { toUserId }) as { conversationId: string } | { toUserId: string };
    this.sdk.send(target, content, { tempId }).then(
      (r) => void (this.acknowledged.has(tempId) || this.acknowledged.set(tempId, r.message.id)),
      (e: { code: string; message: string }) => void this.failed.set(tempId, { code: e.code, message: e.message }),
    );
    return tempId;
  }

  /** Close the socket without reconnecting (a clean disconnect); `resume()` reconnects. */
  disconnect(): Promise<void> {
    return this.sdk.disconnect();
  }

  /** Reconnect after disconnect(), with the cursor, to `url` (or the current url). */
  async resume(url?: string): Promise<void> {
    if (url !== undefined) this.url = url;
    await this.sdk.connect();
  }

  /** Stop for good: no more reconnects or re-sends. */
  stop(): void {
    void this.sdk.close();
  }

  /** Resolves when `pred()` holds (checked every 20 ms), rejects after `timeoutMs`. */
  async until(pred: () => boolean, timeoutMs: number, what = 'condition'): Promise<void> {
    const end = Math.min(Date.now() + timeoutMs, this.#deadline);
    while (!pred()) {
      if (Date.now() > end) throw new Error(`${this.userId}: ${what} not reached within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Resolves with the next close the client sees. */
  nextClose(): Promise<{ code: number; reason: string }> {
    return new Promise((resolve) => this.#closeWaiters.push(resolve));
  }

  #socket(url: string, protocols: string[], msgpack: boolean): WebSocket {
    const ws = new WebSocket(url, protocols);
    this.socket = ws;
    // Re-sends are counted on the wire: a message.send whose tempId went out before.
    const send = ws.send.bind(ws) as (data: string | Uint8Array) => void;
    (ws as { send: unknown }).send = (data: string | Uint8Array) => {
      const frame = (typeof data === 'string' ? (data.startsWith('{"type":"message.send"') ? JSON.parse(data) : undefined) : msgpack ? unpack(data) : undefined) as
        | { type: string; payload: { tempId: string } }
        | undefined;
      if (frame?.type === 'message.send') {
        if (this.#transmitted.has(frame.payload.tempId)) this.resends++;
        this.#transmitted.add(frame.payload.tempId);
      }
      send(data);
    };
    return ws;
  }

  #accept(type: string, payload: any, seq: number | undefined): void {
    this.accepted.push({ type, ...(seq !== undefined ? { seq } : {}), payload });
    if (type !== 'message.new') return;
    const m = payload.message;
    if (m.senderId === this.userId) return;
    const key = `${m.senderId}:${m.tempId}`;
    if (this.#seen.has(key)) this.duplicated++;
    this.#seen.add(key);
    const last = this.#lastMessageSeq.get(m.conversationId) ?? 0;
    if (m.seq <= last) this.outOfOrder++;
    this.#lastMessageSeq.set(m.conversationId, Math.max(last, m.seq));
    this.deliveries.push({
      seq: seq ?? -1,
      conversationId: m.conversationId,
      messageSeq: m.seq,
      messageId: m.id,
      senderId: m.senderId,
      tempId: m.tempId,
      ...(m.content !== undefined ? { content: m.content } : {}),
      at: Date.now(),
    });
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
