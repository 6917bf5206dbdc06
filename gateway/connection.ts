import type { WebSocket } from 'uWebSockets.js';
import { closes, errorBody, type Close, type ErrorCode } from '../lib/errors.js';
import type { Faults } from '../lib/faults.js';
import { jsonFrameOf } from '../lib/inbox-entry-bytes.js';
import type { UnreadCount } from '../lib/unread-header.js';
import type { InboxEntry } from '../schemas/index.js';
import type { Identity } from './auth.js';
import { encodeFrame, type Codec } from './codec.js';
import { closesSent, errorsSent, framesOut } from './metrics.js';
import { MinuteCounter, TokenBucket } from './rate-limit.js';

const UNACKED_KEPT = 4_096;

/** A live inbox entry held back while the socket catches up (with its stored text), and the unread count it carried. */
export type PendingLive = { seq: number; prev: number; entry: InboxEntry; text: string; unread: UnreadCount | undefined };

/** What uWS keeps per socket, filled in at upgrade. */
export type SocketData = {
  connectionId: string;
  codec: Codec;
  deviceId: string;
  requestedCursor?: number;
  /** The token from the upgrade request, until `open` takes it to verify. */
  token?: string;
  /** The client's address as the per-address limits count it (address-limits.ts). */
  address: string;
  /** Counted among its address's unauthenticated sockets (until it authenticates or closes). */
  unauthenticated?: boolean;
  connection?: Connection;
};

export type ConnectionLimits = {
  maxBackpressureBytes: number;
  framesPerSecond: number;
  frameBurst: number;
  badFramesPerMinute: number;
};

/**
 * One WebSocket: its codec, its user, its inbox cursor and its limits. Sends go through here so
 * that backpressure is checked on every write: past the limit the socket is closed with 4009 and
 * the client resumes from its cursor, instead of the gateway buffering without bound.
 */
export class Connection {
  readonly id: string;
  readonly codec: Codec;
  readonly deviceId: string;
  readonly ws: WebSocket<SocketData>;
  identity?: Identity;
  /** The last inbox seq sent to this socket. */
  lastSeq = 0;
  /** While stored entries are being read, live ones wait here. */
  catchingUp = true;
  catchUpRunning = false;
  /** NATS reconnected while a catch-up ran: it reads to the inbox's end before it stops. */
  recheck = false;
  /** connection.success has been sent: frames may flow. */
  started = false;
  /** When this socket was last sent an unread.update from a live entry (gateway/unread-frames.ts). */
  unreadSentAt = Number.NEGATIVE_INFINITY;
  // What follows is allocated on first use: an idle socket is most sockets, and every object it
  // holds is paid for per connection (see bench/connections.ts).
  pending?: PendingLive[];
  /** Messages from others sent to this socket and not yet acknowledged: [inbox seq, conversation, message seq]. */
  #unacked?: [number, string, number][];
  closed = false;
  authTimer?: NodeJS.Timeout;
  /** The upgrade's token is being verified; frames wait for it. */
  verifying?: Promise<void>;
  #frames?: TokenBucket;
  #badFrames?: MinuteCounter;
  readonly #limits: ConnectionLimits;
  readonly #faults: Faults;

  constructor(ws: WebSocket<SocketData>, data: SocketData, limits: ConnectionLimits, faults: Faults) {
    this.ws = ws;
    this.id = data.connectionId;
    this.codec = data.codec;
    this.deviceId = data.deviceId;
    this.#limits = limits;
    this.#faults = faults;
  }

  /** The frame rate limit (a full bucket until the first frame, so it can start then). */
  get frames(): TokenBucket {
    return (this.#frames ??= new TokenBucket(this.#limits.framesPerSecond, this.#limits.frameBurst));
  }

  get badFrames(): MinuteCounter {
    return (this.#badFrames ??= new MinuteCounter(this.#limits.badFramesPerMinute));
  }

  get userId(): string | undefined {
    return this.identity?.userId;
  }

  /**
   * A frame that cannot be written in this socket's codec (an event stored by a version whose edge
   * let it in) is skipped and reported, for this socket alone: throwing here once killed the NATS
   * reader that fed every socket, and closing would lock the device out (it resumes at the same entry).
   */
  send(frame: object): void {
    if (this.closed) return;
    let bytes: string | Uint8Array;
    try {
      bytes = encodeFrame(frame, this.codec);
    } catch (err) {
      const { type, seq } = frame as { type?: unknown; seq?: unknown };
      this.#faults.report(err, 'frame encoding', { connectionId: this.id, codec: this.codec, type, seq });
      return;
    }
    framesOut.inc((frame as { type?: unknown }).type);
    this.#write(bytes);
  }

  #write(bytes: string | Uint8Array): void {
    this.ws.send(bytes, this.codec === 'msgpack');
    if (this.ws.getBufferedAmount() > this.#limits.maxBackpressureBytes) {
      this.close(closes.slowConsumer);
    }
  }

  sendError(code: ErrorCode, message: string, extra: { ref?: string; tempId?: string; retryAfterMs?: number } = {}): void {
    if (!this.closed) errorsSent.inc(code);
    this.send({
      type: 'error',
      ...(extra.ref !== undefined ? { ref: extra.ref } : {}),
      error: errorBody(code, message, {
        ...(extra.tempId !== undefined ? { tempId: extra.tempId } : {}),
        ...(extra.retryAfterMs !== undefined ? { retryAfterMs: extra.retryAfterMs } : {}),
      }),
    });
  }

  /**
   * An inbox entry as this socket sees it: the sending socket gets its own message as `message.sent`.
   * `text`: the entry as stored; a JSON socket gets its frame spliced from it (lib/inbox-entry-bytes.ts).
   */
  deliver(seq: number, entry: InboxEntry, text?: string): void {
    // The socket whose command caused the event gets its `ref` back, and its own message as message.sent.
    const mine = entry.origin?.connectionId === this.id;
    const ref = mine && entry.origin?.ref !== undefined ? { ref: entry.origin.ref } : {};
    if (entry.type === 'message.new' && entry.payload.message.senderId !== this.userId) {
      const unacked = (this.#unacked ??= []);
      unacked.push([seq, entry.payload.message.conversationId, entry.payload.message.seq]);
      // A client that never acks must not grow this without bound; its oldest receipts are dropped.
      if (unacked.length > UNACKED_KEPT) unacked.splice(0, unacked.length - UNACKED_KEPT);
    }
    if (mine && entry.type === 'message.new') {
      const message = entry.payload.message;
      this.send({ type: 'message.sent', seq, ...ref, payload: { tempId: message.tempId, message } });
    } else {
      const spliced = this.codec === 'json' && text !== undefined && !this.closed ? jsonFrameOf(text, entry.type, seq, ref.ref) : undefined;
      if (spliced !== undefined) {
        framesOut.inc(entry.type);
        this.#write(spliced);
      }
      else this.send({ type: entry.type, seq, ...ref, payload: entry.payload });
    }
    this.lastSeq = seq;
  }

  /** Per conversation, the highest message seq among the messages acknowledged by `ack {seq}`. */
  takeReceipts(upToInboxSeq: number): Map<string, number> {
    const receipts = new Map<string, number>();
    let n = 0;
    const unacked = this.#unacked ?? [];
    for (const [inboxSeq, conversationId, messageSeq] of unacked) {
      if (inboxSeq > upToInboxSeq) break;
      receipts.set(conversationId, Math.max(receipts.get(conversationId) ?? 0, messageSeq));
      n++;
    }
    unacked.splice(0, n);
    return receipts;
  }

  close(close: Close): void {
    if (this.closed) return;
    this.closed = true;
    closesSent.inc(String(close.code));
    this.ws.end(close.code, close.reason);
  }
}
