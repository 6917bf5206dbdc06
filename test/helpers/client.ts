import WebSocket from 'ws';
import { pack, unpack } from 'msgpackr';
import { decodeFrame, jsonCodec, msgpackCodec, type FrameCodec } from '../../sdk/src/index.js';

export type Frame = { type: string; seq?: number; ref?: string; payload?: any; error?: { code: string; message: string; tempId?: string } };

export type ClientOptions = {
  url?: string;
  codec?: 'json' | 'msgpack';
  /** How the token travels: header, query (?token=), subprotocol (bearer.<jwt>), or not at all. */
  auth?: 'header' | 'query' | 'subprotocol' | 'none';
  token?: string;
  cursor?: number;
  deviceId?: string;
  expectSuccess?: boolean;
};

const codecs: Record<'json' | 'msgpack', FrameCodec> = { json: jsonCodec, msgpack: msgpackCodec({ pack, unpack }) };

/**
 * A real WebSocket client (the `ws` package) that records every frame it gets. Raw on purpose:
 * protocol tests need what the SDK's ParleyClient never does — every way to authenticate, frames
 * before authentication, malformed and hostile frames, no reconnect — so only the codec is the
 * SDK's. Tests of a well-behaved app use AppClient (app-client.ts), which is the SDK's client.
 */
export class TestClient {
  readonly frames: Frame[] = [];
  readonly ws: WebSocket;
  readonly codec: 'json' | 'msgpack';
  readonly closed: Promise<{ code: number; reason: string }>;
  #waiters: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  #cursor = 0;

  private constructor(ws: WebSocket, codec: 'json' | 'msgpack') {
    this.ws = ws;
    this.codec = codec;
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('message', (data, isBinary) => {
      const frame = decodeFrame(codecs[codec], isBinary ? (data as Buffer) : data.toString()) as Frame;
      this.frames.push(frame);
      if (typeof frame.seq === 'number') this.#cursor = Math.max(this.#cursor, frame.seq);
      this.#waiters = this.#waiters.filter((w) => {
        if (!w.match(frame)) return true;
        w.resolve(frame);
        return false;
      });
    });
  }

  static async open(url: string, o: ClientOptions = {}): Promise<TestClient> {
    const codec = o.codec ?? 'json';
    const protocols = [codec === 'json' ? 'parley.v1.json' : 'parley.v1.msgpack'];
    const params = new URLSearchParams();
    const headers: Record<string, string> = {};
    if (o.auth === 'header' || o.auth === undefined) headers.authorization = `Bearer ${o.token}`;
    if (o.auth === 'query') params.set('token', o.token!);
    if (o.auth === 'subprotocol') protocols.push(`bearer.${o.token}`);
    if (o.cursor !== undefined) params.set('cursor', String(o.cursor));
    if (o.deviceId) headers['x-device-id'] = o.deviceId;
    const q = params.toString();
    const ws = new WebSocket(q ? `${url}?${q}` : url, protocols, { headers });
    const client = new TestClient(ws, codec);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return client;
  }

  get cursor(): number {
    return this.#cursor;
  }

  send(frame: object): void {
    this.ws.send(codecs[this.codec].encode(frame));
  }

  sendRaw(data: string | Buffer): void {
    this.ws.send(data);
  }

  /** The first frame (already received or coming) of this type that matches. */
  next(type: string, match: (f: Frame) => boolean = () => true, timeoutMs = 5_000): Promise<Frame> {
    const pred = (f: Frame) => f.type === type && match(f);
    const seen = this.frames.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${type} frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames.map((f) => f.type))}`)), timeoutMs);
      this.#waiters.push({
        match: pred,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
      });
    });
  }

  /** Wait until `count` frames of this type have arrived. */
  async collect(type: string, count: number, timeoutMs = 10_000): Promise<Frame[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.of(type).length < count) {
      if (Date.now() > deadline) throw new Error(`only ${this.of(type).length}/${count} ${type} frames within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.of(type);
  }

  of(type: string): Frame[] {
    return this.frames.filter((f) => f.type === type);
  }

  close(): Promise<{ code: number; reason: string }> {
    this.ws.close();
    return this.closed;
  }

  terminate(): void {
    this.ws.terminate();
  }
}
