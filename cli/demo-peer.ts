import WebSocket from 'ws';
import { closeCodes, ParleyClient, serverFrameTypes, type ClientFrameType, type ClientPayloads, type ErrorBody, type WebSocketLike } from '../sdk/src/index.js';
import { codecNamed } from './sdk-node.js';

export type Codec = 'json' | 'msgpack';
/** A frame as the demo's listeners see it: the SDK's frames, read loosely, and `$closed`. */
export type Frame = {
  type: string;
  seq?: number;
  ref?: string;
  payload?: any;
  error?: { code: string; message: string; temporary?: boolean; tempId?: string };
};

export const CONNECT_TIMEOUT_MS = 10_000;

const HINT = ' (the demo signs its tokens with PARLEY_JWT_SECRET, or the development secret when that is unset: run it with the server’s secret)';

/**
 * One user of the demo: a ParleyClient (the SDK), with what the demo adds on top: its frames to
 * listeners in the order they came, a connect that fails fast with the reason (the demo does not
 * wait out reconnects to a server that refuses it), and whether the connection dropped under it.
 */
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
    readonly client: ParleyClient,
  ) {
    const emit = (f: Frame) => {
      for (const l of [...this.#listeners]) l(f);
    };
    for (const type of serverFrameTypes) client.on(type, (_payload: unknown, frame: unknown) => emit(frame as Frame));
    // Errors that answer no pending SDK send or request: the round trip's own sends' rejections.
    client.on('error', (_err, frame) => emit(frame as Frame));
    client.on('disconnected', ({ code, reason }) => {
      if (!this.#closing) this.closedUnexpectedly = `${label}'s connection closed (${code}${reason ? ` ${reason}` : ''})`;
      emit({ type: '$closed', payload: { code, reason } });
    });
  }

  /** Connect and wait for connection.success; a refusal, a failed connect or a close before it fail at once. */
  static async open(label: string, url: string, codec: Codec, token: string): Promise<Peer> {
    let socketError: string | undefined;
    const client = new ParleyClient({
      url,
      token,
      codec: codecNamed(codec),
      createSocket: (u, protocols) => {
        const ws = new WebSocket(u, protocols, { handshakeTimeout: CONNECT_TIMEOUT_MS });
        ws.on('error', (err) => (socketError ??= err.message));
        return ws as unknown as WebSocketLike;
      },
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
    });
    let refused: ErrorBody | undefined;
    const offError = client.on('error', (_err, frame) => (refused ??= frame.error));
    let offClosed = () => {};
    let timer: NodeJS.Timeout | undefined;
    const failed = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no connection.success within ${CONNECT_TIMEOUT_MS / 1000} s`)), CONNECT_TIMEOUT_MS);
      offClosed = client.on('disconnected', ({ code, reason }) => {
        if (refused) {
          const hint = refused.code === 'unauthorized' || refused.code === 'token_expired' ? HINT : '';
          reject(new Error(`the server refused the connection: ${refused.code}: ${refused.message}${hint}`));
        } else if (socketError !== undefined) {
          reject(new Error(`cannot connect to ${url}: ${socketError}`));
        } else {
          reject(new Error(`connection closed before connection.success (${code} ${reason})${code === closeCodes.unauthorized ? HINT : ''}`));
        }
      });
    });
    try {
      const session = await Promise.race([client.connect(), failed]);
      const peer = new Peer(label, client);
      if (session.limits?.framesPerSecond > 0) peer.framesPerSecond = session.limits.framesPerSecond;
      if (session.limits?.userSendsPerSecond > 0) peer.sendsPerSecond = session.limits.userSendsPerSecond;
      return peer;
    } catch (err) {
      await client.close();
      throw new Error(`${label}: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
      offError();
      offClosed();
    }
  }

  listen(fn: (f: Frame) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** A frame as it is (no outbox): false when not connected. */
  send<K extends ClientFrameType>(type: K, payload: ClientPayloads[K], ref?: string): boolean {
    return this.client.sendFrame(type, payload, ref);
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
    const timer = setTimeout(() => this.client.dropConnection(), 2_000);
    await this.client.close();
    clearTimeout(timer);
  }
}
