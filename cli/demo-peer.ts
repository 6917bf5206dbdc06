import { Packr } from 'msgpackr';
import WebSocket from 'ws';

export type Codec = 'json' | 'msgpack';
export type Frame = {
  type: string;
  seq?: number;
  ref?: string;
  payload?: any;
  error?: { code: string; message: string; temporary?: boolean; tempId?: string };
};

export const CONNECT_TIMEOUT_MS = 10_000;

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** One user's WebSocket: decodes frames and hands them to listeners. */
export class Peer {
  readonly #listeners = new Set<(f: Frame) => void>();
  #closing = false;
  closedUnexpectedly?: string;
  /** The frame rate the server allows this connection (connection.success), when it said. */
  framesPerSecond?: number;
  /** The send rate the server allows this user (connection.success), when it said. */
  sendsPerSecond?: number;

  private constructor(
    readonly label: string,
    readonly ws: WebSocket,
    readonly codec: Codec,
  ) {
    ws.on('message', (data, isBinary) => {
      let frame: Frame;
      try {
        const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
        frame = (isBinary ? packr.unpack(buf) : JSON.parse(buf.toString('utf8'))) as Frame;
      } catch {
        return;
      }
      for (const l of [...this.#listeners]) l(frame);
    });
    ws.on('close', (code, reason) => {
      if (!this.#closing) this.closedUnexpectedly = `${label}'s connection closed (${code}${reason.length ? ` ${reason.toString()}` : ''})`;
      for (const l of [...this.#listeners]) l({ type: '$closed', payload: { code, reason: reason.toString() } });
    });
  }

  /** Connect and wait for connection.success. */
  static open(label: string, url: string, codec: Codec, token: string): Promise<Peer> {
    const ws = new WebSocket(url, [codec === 'json' ? 'parley.v1.json' : 'parley.v1.msgpack'], {
      headers: { authorization: `Bearer ${token}` },
      handshakeTimeout: CONNECT_TIMEOUT_MS,
    });
    const peer = new Peer(label, ws, codec);
    return new Promise((resolve, reject) => {
      const fail = (message: string) => {
        clearTimeout(timer);
        off();
        ws.terminate();
        reject(new Error(`${label}: ${message}`));
      };
      const timer = setTimeout(() => fail(`no connection.success within ${CONNECT_TIMEOUT_MS / 1000} s`), CONNECT_TIMEOUT_MS);
      ws.once('error', (err) => fail(`cannot connect to ${url}: ${err.message}`));
      const off = peer.listen((f) => {
        if (f.type === 'connection.success') {
          clearTimeout(timer);
          off();
          const limit = f.payload?.limits?.framesPerSecond;
          if (typeof limit === 'number' && limit > 0) peer.framesPerSecond = limit;
          const sends = f.payload?.limits?.userSendsPerSecond;
          if (typeof sends === 'number' && sends > 0) peer.sendsPerSecond = sends;
          resolve(peer);
        } else if (f.type === 'error') {
          const hint =
            f.error?.code === 'unauthorized' || f.error?.code === 'token_expired'
              ? ' (the demo signs its tokens with PARLEY_JWT_SECRET, or the development secret when that is unset: run it with the server’s secret)'
              : '';
          fail(`the server refused the connection: ${f.error?.code}: ${f.error?.message}${hint}`);
        } else if (f.type === '$closed') {
          fail(`connection closed before connection.success (${f.payload.code} ${f.payload.reason})`);
        }
      });
    });
  }

  listen(fn: (f: Frame) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  send(frame: object): void {
    this.ws.send(this.codec === 'json' ? JSON.stringify(frame) : packr.pack(frame));
  }

  /** The first frame that matches, within the timeout. */
  next(what: string, match: (f: Frame) => boolean, timeoutMs = CONNECT_TIMEOUT_MS): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`${this.label}: no ${what} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      const off = this.listen((f) => {
        if (f.type === 'error' && f.error) {
          clearTimeout(timer);
          off();
          reject(new Error(`${this.label}: waiting for ${what}, got error ${f.error.code}: ${f.error.message}`));
        } else if (f.type === '$closed') {
          clearTimeout(timer);
          off();
          reject(new Error(this.closedUnexpectedly ?? `${this.label}'s connection closed`));
        } else if (match(f)) {
          clearTimeout(timer);
          off();
          resolve(f);
        }
      });
    });
  }

  async close(): Promise<void> {
    this.#closing = true;
    if (this.ws.readyState === WebSocket.CLOSED) return;
    const closed = new Promise<void>((resolve) => this.ws.once('close', () => resolve()));
    this.ws.close(1000, 'demo done');
    const timer = setTimeout(() => this.ws.terminate(), 2_000);
    await closed;
    clearTimeout(timer);
  }
}
