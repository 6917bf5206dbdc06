import type { WebSocket } from 'uWebSockets.js';
import { closeCodes, errorCodes, type ErrorCode } from '../lib/errors.js';
import type { InboxEntry } from '../projections/delivery/inbox-entry.js';
import type { Identity } from './auth.js';
import { encodeFrame, type Codec } from './codec.js';
import { MinuteCounter, TokenBucket } from './rate-limit.js';

/** What uWS keeps per socket, filled in at upgrade. */
export type SocketData = {
  connectionId: string;
  codec: Codec;
  deviceId: string;
  requestedCursor?: number;
  identity?: Identity;
  authError?: { code: ErrorCode; message: string };
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
  pending: { seq: number; prev: number; entry: InboxEntry }[] = [];
  closed = false;
  authTimer?: NodeJS.Timeout;
  expiryTimer?: NodeJS.Timeout;
  readonly frames: TokenBucket;
  readonly badFrames: MinuteCounter;
  readonly #limits: ConnectionLimits;

  constructor(ws: WebSocket<SocketData>, data: SocketData, limits: ConnectionLimits) {
    this.ws = ws;
    this.id = data.connectionId;
    this.codec = data.codec;
    this.deviceId = data.deviceId;
    this.#limits = limits;
    this.frames = new TokenBucket(limits.framesPerSecond, limits.frameBurst);
    this.badFrames = new MinuteCounter(limits.badFramesPerMinute);
  }

  get userId(): string | undefined {
    return this.identity?.userId;
  }

  send(frame: object): void {
    if (this.closed) return;
    this.ws.send(encodeFrame(frame, this.codec), this.codec === 'msgpack');
    if (this.ws.getBufferedAmount() > this.#limits.maxBackpressureBytes) {
      this.close(closeCodes.slowConsumer, 'slow consumer: resume from your cursor');
    }
  }

  sendError(code: ErrorCode, message: string, extra: { ref?: string; tempId?: string } = {}): void {
    this.send({
      type: 'error',
      ...(extra.ref !== undefined ? { ref: extra.ref } : {}),
      error: { code, message, temporary: errorCodes[code].temporary, ...(extra.tempId !== undefined ? { tempId: extra.tempId } : {}) },
    });
  }

  /** An inbox entry as this socket sees it: the sending socket gets its own message as `message.sent`. */
  deliver(seq: number, entry: InboxEntry): void {
    if (entry.type === 'message.new' && entry.origin?.connectionId === this.id) {
      const message = entry.payload.message;
      this.send({
        type: 'message.sent',
        seq,
        ...(entry.origin.ref !== undefined ? { ref: entry.origin.ref } : {}),
        payload: { tempId: message.tempId, message },
      });
    } else {
      this.send({ type: entry.type, seq, payload: entry.payload });
    }
    this.lastSeq = seq;
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.ws.end(code, reason);
  }
}
