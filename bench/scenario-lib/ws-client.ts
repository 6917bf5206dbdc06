/**
 * A client that drives a scenario from the bench process (the storm's sender, the flood's bob):
 * an app on the SDK (ParleyClient), plus what a driver wants on top: a frame sent with a `ref`
 * awaited until the answer with that ref, and the first errors kept for the report.
 */
import WebSocket from 'ws';
import { ParleyClient, serverFrameTypes, type AnyServerFrame, type ClientFrameType, type ClientPayloads, type ErrorFrame, type WebSocketLike } from '../../sdk/src/index.js';
import { codecNamed } from '../../cli/sdk-node.js';

export type DriverOptions = { codec?: 'json' | 'msgpack'; localAddress?: string; timeoutMs?: number };

export class DriverClient {
  readonly #waiters = new Map<string, { resolve: (f: AnyServerFrame) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  errors: ErrorFrame[] = [];

  private constructor(readonly client: ParleyClient) {
    const answer = (frame: AnyServerFrame) => {
      if (frame.ref === undefined) return;
      const w = this.#waiters.get(frame.ref);
      if (!w) return;
      this.#waiters.delete(frame.ref);
      clearTimeout(w.timer);
      if (frame.type === 'error') w.reject(new Error(`${frame.error.code}: ${frame.error.message}`));
      else w.resolve(frame);
    };
    for (const type of serverFrameTypes) client.on(type, (_payload: unknown, frame: unknown) => answer(frame as AnyServerFrame));
    client.on('error', (_err, frame) => {
      if (this.errors.length < 100) this.errors.push(frame);
      answer(frame);
    });
  }

  static async open(url: string, token: string, options: DriverOptions = {}): Promise<DriverClient> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const client = new ParleyClient({
      url,
      token,
      codec: codecNamed(options.codec ?? 'json'),
      createSocket: (u, protocols) =>
        new WebSocket(u, protocols, { perMessageDeflate: false, ...(options.localAddress ? { localAddress: options.localAddress } : {}) }) as unknown as WebSocketLike,
      connectTimeoutMs: timeoutMs,
    });
    const driver = new DriverClient(client);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([client.connect(), new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('driver: no connection.success in time')), timeoutMs)))]);
    } catch (err) {
      await client.close();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    return driver;
  }

  /** A frame as it is (no outbox); false when not connected. */
  send<K extends ClientFrameType>(type: K, payload: ClientPayloads[K], ref?: string): boolean {
    return this.client.sendFrame(type, payload, ref);
  }

  /** Send a frame with `ref` and resolve with the first answer carrying that ref (an error rejects). */
  request<K extends ClientFrameType>(frame: { type: K; ref: string; payload: ClientPayloads[K] }, timeoutMs = 30_000): Promise<AnyServerFrame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(frame.ref);
        reject(new Error(`driver: no answer to ${frame.type} ${frame.ref} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.set(frame.ref, { resolve, reject, timer });
      if (!this.send(frame.type, frame.payload, frame.ref)) {
        clearTimeout(timer);
        this.#waiters.delete(frame.ref);
        reject(new Error(`driver: not connected, ${frame.type} ${frame.ref} not sent`));
      }
    });
  }

  terminate(): void {
    for (const w of this.#waiters.values()) clearTimeout(w.timer);
    this.#waiters.clear();
    void this.client.close();
    this.client.dropConnection();
  }
}
