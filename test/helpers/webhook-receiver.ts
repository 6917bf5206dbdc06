import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Recorder } from './recorder.js';

/**
 * A webhook consumer on loopback for tests: it verifies Standard Webhooks signatures with
 * node:crypto (written from the spec, not with the `standardwebhooks` package the sender uses, so a
 * shared mistake cannot pass), records what arrived, and can be down (503) or gone (port closed).
 */

export type WebhookFailure = 'missing-headers' | 'bad-timestamp' | 'timestamp-out-of-tolerance' | 'no-matching-signature';

export type ReceivedWebhook = {
  id?: string;
  /** webhook-timestamp, in seconds. */
  timestamp?: number;
  /** The body parsed as JSON (undefined when it is not JSON). */
  body?: unknown;
  raw: string;
  verified: boolean;
  reason?: WebhookFailure;
  /** What the receiver answered. */
  status: number;
  path: string;
  at: number;
};

export type WebhookReceiverOptions = {
  /** `whsec_<base64 key>`, as Standard Webhooks hands secrets out. */
  secret: string;
  /** How far webhook-timestamp may be from now; the spec's recommended 5 minutes by default. */
  toleranceSec?: number;
};

/** A fresh secret in the Standard Webhooks format (24 random bytes, within its 24..64 range). */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

export class WebhookReceiver {
  readonly port: number;
  readonly url: string;
  /** Answer every delivery with 503 (after recording it): the consumer is up but failing. */
  down = false;
  #server: Server;
  #key: Buffer;
  #toleranceSec: number;
  #recorder = new Recorder<ReceivedWebhook>();

  private constructor(server: Server, options: WebhookReceiverOptions) {
    this.#server = server;
    this.port = (server.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${this.port}/webhook`;
    this.#key = Buffer.from(options.secret.replace(/^whsec_/, ''), 'base64');
    this.#toleranceSec = options.toleranceSec ?? 5 * 60;
  }

  static async start(options: WebhookReceiverOptions): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver(await listen(createServer(), 0), options);
    receiver.#attach();
    return receiver;
  }

  get received(): readonly ReceivedWebhook[] {
    return this.#recorder.items;
  }

  waitFor(n: number, timeoutMs?: number): Promise<ReceivedWebhook[]> {
    return this.#recorder.waitFor(n, timeoutMs);
  }

  waitUntil(predicate: (hooks: readonly ReceivedWebhook[]) => boolean, timeoutMs?: number): Promise<ReceivedWebhook[]> {
    return this.#recorder.waitUntil(predicate, timeoutMs);
  }

  /** Close the port, so deliveries fail to connect (ECONNREFUSED) until restart(). */
  async stop(): Promise<void> {
    if (!this.#server.listening) return;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }

  /** Listen again on the same port, so the URL the sender holds works again. */
  async restart(): Promise<void> {
    if (this.#server.listening) return;
    this.#server = await listen(createServer(), this.port);
    this.#attach();
  }

  close(): Promise<void> {
    return this.stop();
  }

  #attach(): void {
    this.#server.on('request', (req, res) => void this.#handle(req, res).catch(() => res.destroy()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const hook: ReceivedWebhook = { raw, status: 0, path: req.url ?? '', at: Date.now(), ...this.#verify(req, raw) };
    try {
      hook.body = JSON.parse(raw);
    } catch {
      // Kept as raw only: the test decides whether a non-JSON body is a failure.
    }
    // A consumer that cannot trust a delivery refuses it; a down one fails whatever arrives.
    hook.status = this.down ? 503 : hook.verified ? 204 : 401;
    this.#recorder.add(hook);
    res.writeHead(hook.status).end();
  }

  #verify(req: IncomingMessage, raw: string): Pick<ReceivedWebhook, 'id' | 'timestamp' | 'verified' | 'reason'> {
    const id = header(req, 'webhook-id');
    const timestampText = header(req, 'webhook-timestamp');
    const signatures = header(req, 'webhook-signature');
    if (id === undefined || timestampText === undefined || signatures === undefined) {
      return { id, verified: false, reason: 'missing-headers' };
    }
    if (!/^\d+$/.test(timestampText)) return { id, verified: false, reason: 'bad-timestamp' };
    const timestamp = Number(timestampText);
    // Replay protection: an old (or far future) timestamp is refused even with a good signature.
    if (Math.abs(Date.now() / 1000 - timestamp) > this.#toleranceSec) {
      return { id, timestamp, verified: false, reason: 'timestamp-out-of-tolerance' };
    }
    const expected = createHmac('sha256', this.#key).update(`${id}.${timestampText}.${raw}`).digest();
    // Several signatures may be sent (key rotation); "v1," is the only scheme this checks.
    const matches = signatures
      .split(' ')
      .filter((s) => s.startsWith('v1,'))
      .some((s) => {
        const given = Buffer.from(s.slice(3), 'base64');
        return given.length === expected.length && timingSafeEqual(given, expected);
      });
    return matches ? { id, timestamp, verified: true } : { id, timestamp, verified: false, reason: 'no-matching-signature' };
  }
}

export function startWebhookReceiver(options: WebhookReceiverOptions): Promise<WebhookReceiver> {
  return WebhookReceiver.start(options);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

function listen(server: Server, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
