import { createECDH, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent, createServer as createHttpsServer, type RequestOptions as HttpsRequestOptions } from 'node:https';
import { createConnection, type AddressInfo, type NetConnectOpts } from 'node:net';
import type { Duplex } from 'node:stream';
import webpush from 'web-push';
import { Recorder } from './recorder.js';
import { selfSignedCert, type SelfSignedCert } from './self-signed-cert.js';
import { checkVapid, type VapidCheck } from './vapid-check.js';
import { PushDecryptError, decryptPushBody } from './web-push-decrypt.js';

/**
 * A Web Push service (RFC 8030) on loopback for tests: it hands out subscriptions, decrypts what
 * is pushed to them (RFC 8291), checks VAPID (RFC 8292), records everything and answers as scripted,
 * so the sender's handling of 201, 404/410 (gone), 413, 429 and 5xx can be exercised for real.
 */

/** The JSON a browser's PushSubscription serialises to: what a client registers with the server. */
export type PushSubscriptionJson = { endpoint: string; keys: { p256dh: string; auth: string } };

/** How to answer one push: a status (after an optional delay), or never (the sender's timeout fires). */
export type PushAnswer = { status: number; retryAfter?: number | string; delayMs?: number } | { hang: true };

/** A queue (each push takes the next; 201 once empty) or a function of the push being answered. */
export type PushScript = PushAnswer[] | ((push: ReceivedPush) => PushAnswer);

export type ReceivedPush = {
  endpoint: string;
  /** What the service answered; 'hang' when it never did. */
  status: number | 'hang';
  /** Why the request was refused before the script was asked (unknown endpoint, bad headers, undecryptable). */
  problem?: string;
  ttl?: number;
  urgency?: string;
  topic?: string;
  /** The decrypted body, parsed as JSON (undefined when it did not decrypt or is not JSON). */
  payload?: unknown;
  /** The decrypted body as text. */
  text?: string;
  vapid: VapidCheck;
  at: number;
};

export type PushServiceOptions = {
  /** Refuse (401) a push whose VAPID check fails, as real push services do. Default true. */
  requireVapid?: boolean;
  /** Largest body accepted; RFC 8030 §7.2 only promises 4096 octets, so that is the default. */
  maxBodyBytes?: number;
  /**
   * Serve https with a fresh self-signed certificate (see `certificate`), so a sender that only
   * does https needs no special agent, only to trust the certificate. Default: plain http.
   */
  tls?: boolean;
};

type Subscriber = { privateKey: Buffer; authSecret: Buffer; script?: PushScript };

export class PushService {
  readonly origin: string;
  /** With `tls`: the certificate to trust (agent `ca`, or `certFile` for NODE_EXTRA_CA_CERTS). */
  readonly certificate: { cert: string; certFile: string } | undefined;
  #server: Server;
  #cert: SelfSignedCert | undefined;
  #subscribers = new Map<string, Subscriber>();
  #recorder = new Recorder<ReceivedPush>();
  #timers = new Set<NodeJS.Timeout>();
  #requireVapid: boolean;
  #maxBodyBytes: number;

  private constructor(server: Server, options: PushServiceOptions, cert: SelfSignedCert | undefined) {
    this.#server = server;
    this.#cert = cert;
    this.certificate = cert && { cert: cert.cert, certFile: cert.certFile };
    this.origin = `${cert ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
    this.#requireVapid = options.requireVapid ?? true;
    this.#maxBodyBytes = options.maxBodyBytes ?? 4096;
  }

  static async start(options: PushServiceOptions = {}): Promise<PushService> {
    const cert = options.tls ? selfSignedCert() : undefined;
    const server = cert ? createHttpsServer({ key: cert.key, cert: cert.cert }) : createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const service = new PushService(server, options, cert);
    // A client that drops mid-body just loses its request; the test sees it missing from `received`.
    server.on('request', (req, res) => void service.#handle(req, res).catch(() => res.destroy()));
    return service;
  }

  get received(): readonly ReceivedPush[] {
    return this.#recorder.items;
  }

  /** A new subscriber, as a browser would create one: its own P-256 key pair and 16-byte auth secret. */
  subscribe(): PushSubscriptionJson {
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const authSecret = randomBytes(16);
    const endpoint = `${this.origin}/push/${randomBytes(12).toString('base64url')}`;
    this.#subscribers.set(endpoint, { privateKey: ecdh.getPrivateKey(), authSecret });
    return { endpoint, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: authSecret.toString('base64url') } };
  }

  /** Script how pushes to `endpoint` are answered from now on (replaces any earlier script). */
  script(endpoint: string, script: PushScript): void {
    const subscriber = this.#subscribers.get(endpoint);
    if (!subscriber) throw new Error(`not a subscription of this push service: ${endpoint}`);
    subscriber.script = Array.isArray(script) ? [...script] : script;
  }

  waitFor(n: number, timeoutMs?: number): Promise<ReceivedPush[]> {
    return this.#recorder.waitFor(n, timeoutMs);
  }

  waitUntil(predicate: (pushes: readonly ReceivedPush[]) => boolean, timeoutMs?: number): Promise<ReceivedPush[]> {
    return this.#recorder.waitUntil(predicate, timeoutMs);
  }

  /** Stop listening and drop held requests (a 'hang' answer would otherwise keep close() waiting). */
  async close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
    this.#cert?.remove();
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const endpoint = `${this.origin}${req.url ?? ''}`;
    const body = await readBody(req, this.#maxBodyBytes);
    const push: ReceivedPush = { endpoint, status: 201, vapid: await checkVapid(req.headers.authorization, this.origin), at: Date.now() };
    const urgency = req.headers['urgency'];
    if (typeof urgency === 'string') push.urgency = urgency;
    const topic = req.headers['topic'];
    if (typeof topic === 'string') push.topic = topic;
    const ttl = req.headers['ttl'];
    if (typeof ttl === 'string' && /^\d+$/.test(ttl)) push.ttl = Number(ttl);

    const subscriber = this.#subscribers.get(endpoint);
    const refuse = (status: number, problem: string): void => {
      Object.assign(push, { status, problem });
      this.#recorder.add(push);
      res.writeHead(status, { 'content-type': 'text/plain' }).end(problem);
    };
    if (req.method !== 'POST') return refuse(405, `method ${req.method}`);
    if (!subscriber) return refuse(404, 'no such subscription');
    if (body === 'too large') return refuse(413, `body over ${this.#maxBodyBytes} bytes`);
    // RFC 8030 §5.2: TTL is required; a push service answers 400 without it.
    if (push.ttl === undefined) return refuse(400, `TTL header missing or not a non-negative integer: ${String(ttl)}`);
    if (req.headers['content-encoding'] !== 'aes128gcm') return refuse(400, `Content-Encoding ${String(req.headers['content-encoding'])}, expected aes128gcm`);
    try {
      push.text = decryptPushBody(body, subscriber.privateKey, subscriber.authSecret).toString('utf8');
    } catch (err) {
      if (err instanceof PushDecryptError) return refuse(400, `cannot decrypt: ${err.message}`);
      throw err;
    }
    try {
      push.payload = JSON.parse(push.text);
    } catch {
      // Not JSON is the sender's business, not the push service's: recorded as text only.
    }
    if (this.#requireVapid && !push.vapid.ok) return refuse(401, `VAPID: ${push.vapid.reason}`);

    const answer = nextAnswer(subscriber, push);
    if ('hang' in answer) {
      push.status = 'hang';
      this.#recorder.add(push);
      return;
    }
    push.status = answer.status;
    this.#recorder.add(push);
    const headers: Record<string, string> = {};
    if (answer.retryAfter !== undefined) headers['retry-after'] = String(answer.retryAfter);
    // RFC 8030 §5: a created message has a Location; senders may log it.
    if (answer.status === 201) headers.location = `${this.origin}/message/${randomBytes(8).toString('base64url')}`;
    const send = (): void => void res.writeHead(answer.status, headers).end();
    if (!answer.delayMs) return send();
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      send();
    }, answer.delayMs);
    this.#timers.add(timer);
  }
}

/**
 * The environment of a process that pushes (role push, or projector) to a loopback push service:
 * a fresh VAPID pair, every message a push (no coalescing, so each can be counted), a 1 s timeout.
 */
export function pushingProcessEnv(extra: Record<string, string> = {}): Record<string, string> {
  const vapid = webpush.generateVAPIDKeys();
  return {
    PARLEY_PUSH: '1',
    PARLEY_VAPID_PUBLIC_KEY: vapid.publicKey,
    PARLEY_VAPID_PRIVATE_KEY: vapid.privateKey,
    PARLEY_VAPID_SUBJECT: 'mailto:ops@example.com',
    PARLEY_PUSH_ALLOW_INSECURE: '1',
    PARLEY_PUSH_COALESCE_MS: '0',
    PARLEY_PUSH_TIMEOUT_MS: '1000',
    ...extra,
  };
}

export function startPushService(options?: PushServiceOptions): Promise<PushService> {
  return PushService.start(options);
}

export function createPushSubscription(service: PushService): PushSubscriptionJson {
  return service.subscribe();
}

function nextAnswer(subscriber: Subscriber, push: ReceivedPush): PushAnswer {
  const script = subscriber.script;
  if (typeof script === 'function') return script(push);
  return script?.shift() ?? { status: 201 };
}

/** The whole body, or 'too large' (still drained, so the answer reaches the sender). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > limit ? 'too large' : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * An https.Agent that speaks plain HTTP. The `web-push` package always calls https.request and only
 * accepts an https.Agent as its `agent` option, so this is how it reaches the default (http://)
 * service: `webpush.sendNotification(sub, body, { agent: plainHttpAgent(), ... })`. A `tls` service
 * needs no such hook, only trust: `new https.Agent({ ca: service.certificate.cert })`, or
 * NODE_EXTRA_CA_CERTS=<certificate.certFile> for a spawned process.
 */
export function plainHttpAgent(): HttpsAgent {
  return new PlainHttpAgent();
}

class PlainHttpAgent extends HttpsAgent {
  override createConnection(options: HttpsRequestOptions): Duplex {
    return createConnection(options as NetConnectOpts);
  }
}
