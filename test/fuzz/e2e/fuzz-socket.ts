import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { unpack } from 'msgpackr';
import type { WireMessage } from '../arbitraries/frames.js';

/** The server answered the upgrade with an HTTP status instead of a socket. */
export class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    readonly retryAfter: string | string[] | undefined,
    readonly body: string,
  ) {
    super(`upgrade refused: ${status}`);
  }
}

/** A frame from the server as the client read it; `undecodable` when its own codec could not read it. */
export type Received = { value?: unknown; undecodable?: string };

/**
 * A WebSocket client for fuzzing: sends any bytes as text or binary, records every frame the
 * server sends (and any it sends that the client cannot decode), and how the socket closed.
 */
export class FuzzSocket {
  readonly received: Received[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  closeCode: number | undefined;
  #waiters: (() => void)[] = [];
  readonly #ws: WebSocket;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        this.closeCode = code;
        this.#wake();
        resolve({ code, reason: reason.toString() });
      }),
    );
    ws.on('error', () => undefined); // a close follows, with its code
    ws.on('message', (data: Buffer, isBinary) => {
      try {
        this.received.push({ value: isBinary ? unpack(data) : JSON.parse(data.toString('utf8')) });
      } catch (err) {
        this.received.push({ undecodable: `${(err as Error).message}: ${data.subarray(0, 200).toString('hex')}` });
      }
      this.#wake();
    });
  }

  /**
   * A msgpack socket with `token`, served (connection.success seen); undefined when the per-address
   * limiter refused it with 429 (a well-formed answer, and no place to probe from).
   */
  static async served(url: string, token: string): Promise<FuzzSocket | undefined> {
    let socket: FuzzSocket;
    try {
      socket = await FuzzSocket.open(url, 'msgpack', token);
    } catch (err) {
      if (!(err instanceof UpgradeRefused) || err.status !== 429) throw err;
      return undefined;
    }
    const served = await socket.waitFor((f) => (f as { type?: string }).type === 'connection.success', 0, 10_000);
    if (!served) socket.terminate();
    assert.ok(served, 'served');
    return socket;
  }

  /** Open a socket in `codec`, with a token at the upgrade or none; resolves once it is open. */
  static async open(url: string, codec: 'json' | 'msgpack', token?: string): Promise<FuzzSocket> {
    const ws = new WebSocket(url, [codec === 'json' ? 'parley.v1.json' : 'parley.v1.msgpack'], token ? { headers: { authorization: `Bearer ${token}` } } : {});
    const socket = new FuzzSocket(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (req, res) => {
        const body: Buffer[] = [];
        res.on('data', (c: Buffer) => body.push(c));
        res.on('end', () => {
          req.destroy(); // ws leaves a refused request to whoever listens for it
          reject(new UpgradeRefused(res.statusCode ?? 0, res.headers['retry-after'], Buffer.concat(body).toString('utf8')));
        });
      });
      ws.once('close', (code) => reject(new Error(`closed before open: ${code}`)));
    });
    return socket;
  }

  get isClosed(): boolean {
    return this.closeCode !== undefined || this.#ws.readyState !== WebSocket.OPEN;
  }

  send(message: WireMessage): void {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(message.bytes, { binary: message.binary });
  }

  /** Whether a frame matching `pred` arrives (or has arrived since `from`) before the socket closes or `ms` pass. */
  async waitFor(pred: (frame: unknown) => boolean, from: number, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (this.received.slice(from).some((r) => r.value !== undefined && pred(r.value))) return true;
      if (this.closeCode !== undefined || Date.now() >= deadline) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  terminate(): void {
    this.#ws.terminate();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}
