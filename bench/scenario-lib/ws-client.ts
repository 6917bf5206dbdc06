/** One JSON WebSocket client for driving a scenario from the bench process (the sender). */
import WebSocket from 'ws';

export type Frame = { type: string; seq?: number; ref?: string; payload?: any; error?: { code: string; message: string } };

export class DriverClient {
  readonly #waiters = new Map<string, { resolve: (f: Frame) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  readonly #counts = new Map<string, number>();
  errors: Frame[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString()) as Frame;
      this.#counts.set(f.type, (this.#counts.get(f.type) ?? 0) + 1);
      if (f.type === 'error' && this.errors.length < 100) this.errors.push(f);
      if (f.ref !== undefined) {
        const w = this.#waiters.get(f.ref);
        if (w) {
          this.#waiters.delete(f.ref);
          clearTimeout(w.timer);
          if (f.type === 'error') w.reject(new Error(`${f.error?.code}: ${f.error?.message}`));
          else w.resolve(f);
        }
      }
    });
  }

  static open(url: string, token: string, timeoutMs = 30_000): Promise<DriverClient> {
    const ws = new WebSocket(url, ['parley.v1.json'], { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
    const client = new DriverClient(ws);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('driver: no connection.success in time')), timeoutMs);
      ws.on('message', function first(data) {
        if ((JSON.parse(data.toString()) as Frame).type === 'connection.success') {
          clearTimeout(timer);
          ws.off('message', first);
          resolve(client);
        }
      });
      ws.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  count(type: string): number {
    return this.#counts.get(type) ?? 0;
  }

  send(frame: object): void {
    this.ws.send(JSON.stringify(frame));
  }

  /** Send a frame with `ref` and resolve with the first answer carrying that ref (an error rejects). */
  request(frame: { type: string; ref: string; payload: object }, timeoutMs = 30_000): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(frame.ref);
        reject(new Error(`driver: no answer to ${frame.type} ${frame.ref} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.set(frame.ref, { resolve, reject, timer });
      this.send(frame);
    });
  }

  /** How many answers are still awaited. */
  get waiting(): number {
    return this.#waiters.size;
  }

  terminate(): void {
    for (const w of this.#waiters.values()) clearTimeout(w.timer);
    this.#waiters.clear();
    this.ws.terminate();
  }
}
