/**
 * A child process holding the presence scenario's clients, driven over IPC by bench/presence.ts.
 * Each client is one user, an app on the SDK (ParleyClient): it goes away as an app going to the
 * background does (disconnect(): a clean close) and comes back resuming from its cursor
 * (connect()). The worker records only what the scenario measures: when each user went away, and
 * when its contacts' user.offline arrived.
 *
 * Requests are `{ id, op, args }`; every answer is `{ id, ok, result | error }`. The process exits
 * when its parent goes away.
 */
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { ParleyClient, serverFrameTypes, type AnyServerFrame, type WebSocketLike } from '../../sdk/src/index.js';
import { inBatches, serveWorker } from '../scenario-lib/common.js';
import { indexOf, userOf, type ChurnAnswer, type ChurnArgs, type ConnectAnswer, type ContactsAnswer, type PresenceWorkerInit } from './protocol.js';

type Waiter = { resolve: () => void; reject: (err: Error) => void };

/**
 * The SDK's app-level ping (every 20 s by default) is left out: with 10,000 clients it would add
 * 500 frames/s that the scenario, which measures presence traffic, has never had; presence leases
 * are the gateway's, not the client's.
 */
const NO_PING_MS = 24 * 3600 * 1000;

class Client {
  client?: ParleyClient;
  token = '';
  open = false;
  away = false;
  /** The last close before a connection.success, for the error count. */
  lastClose?: string;
  readonly waiters = new Map<string, Waiter>();
  constructor(readonly index: number) {}
}

let init: PresenceWorkerInit | undefined;
let clients: Client[] = [];
let recording: ChurnAnswer | undefined;

function emptyChurn(): ChurnAnswer {
  return { disconnects: [], offline: [], online: 0, statusBulk: 0, statusBulkUsers: 0, reconnectFailures: 0, frames: {} };
}

function onFrame(c: Client, f: AnyServerFrame): void {
  const r = recording;
  if (r) r.frames[f.type] = (r.frames[f.type] ?? 0) + 1;
  switch (f.type) {
    case 'user.offline':
      if (r && f.payload.userId) r.offline.push([indexOf(f.payload.userId), Date.now()]);
      break;
    case 'user.online':
      if (r) r.online++;
      break;
    case 'status.bulk':
      if (r) {
        r.statusBulk++;
        r.statusBulkUsers += f.payload.users.length;
      }
      break;
    default:
      break;
  }
  if (f.ref !== undefined) {
    const w = c.waiters.get(f.ref);
    if (!w) return;
    c.waiters.delete(f.ref);
    if (f.type === 'error') w.reject(new Error(f.error.code));
    else w.resolve();
  }
}

function clientFor(c: Client, timeoutMs: number): ParleyClient {
  if (c.client) return c.client;
  const client = new ParleyClient({
    url: init!.url,
    token: c.token,
    createSocket: (u, protocols) => new WebSocket(u, protocols, { perMessageDeflate: false }) as unknown as WebSocketLike,
    connectTimeoutMs: timeoutMs,
    pingEveryMs: NO_PING_MS,
  });
  for (const type of serverFrameTypes) client.on(type, (_payload: unknown, frame: unknown) => onFrame(c, frame as AnyServerFrame));
  client.on('error', (_err, frame) => onFrame(c, frame));
  client.on('state', (state) => (c.open = state === 'open'));
  client.on('disconnected', ({ code }) => {
    if (!c.open) c.lastClose = `closed ${code}`;
  });
  c.client = client;
  return client;
}

/** Connect (or come back, from the cursor); resolves at connection.success, rejects at the timeout (the SDK retries until then). */
async function openOne(c: Client, timeoutMs: number): Promise<void> {
  const client = clientFor(c, timeoutMs);
  delete c.lastClose;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([client.connect(), new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(c.lastClose ? `timeout (${c.lastClose})` : 'timeout')), timeoutMs)))]);
  } catch (err) {
    void client.close();
    client.dropConnection();
    delete c.client;
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

function count(errors: Record<string, number>, err: unknown): void {
  const key = (err as Error).message.slice(0, 60);
  errors[key] = (errors[key] ?? 0) + 1;
}

async function connectAll(concurrency: number, timeoutMs: number): Promise<ConnectAnswer> {
  const t0 = Date.now();
  const answer: ConnectAnswer = { success: 0, failed: 0, errors: {}, wallMs: 0 };
  await inBatches(clients.length, concurrency, async (i) => {
    try {
      await openOne(clients[i]!, timeoutMs);
      answer.success++;
    } catch (err) {
      answer.failed++;
      count(answer.errors, err);
    }
  });
  answer.wallMs = Date.now() - t0;
  return answer;
}

/** Each client creates its direct conversations with the users after it (i + 1 … i + contacts/2): every pair once. */
async function createContacts(concurrency: number, timeoutMs: number): Promise<ContactsAnswer> {
  const t0 = Date.now();
  const { users, contacts } = init!;
  const answer: ContactsAnswer = { created: 0, failed: 0, errors: {}, wallMs: 0 };
  const half = Math.floor(contacts / 2);
  await inBatches(clients.length * half, concurrency, async (n) => {
    const c = clients[Math.floor(n / half)]!;
    const other = userOf((c.index + 1 + (n % half)) % users);
    const ref = `c${n}`;
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          c.waiters.delete(ref);
          reject(new Error('no answer'));
        }, timeoutMs);
        c.waiters.set(ref, { resolve: () => (clearTimeout(timer), resolve()), reject: (e) => (clearTimeout(timer), reject(e)) });
        if (!c.client?.sendFrame('conversation.create', { kind: 'direct', userId: other }, ref)) c.waiters.get(ref)?.reject(new Error('not connected'));
      });
      answer.created++;
    } catch (err) {
      answer.failed++;
      count(answer.errors, err);
    }
  });
  answer.wallMs = Date.now() - t0;
  return answer;
}

/** Disconnect random present users at `perSecond`, each coming back after `awayMs`, for `durationMs`. */
async function churn(a: ChurnArgs): Promise<{ disconnects: number }> {
  const answer = (recording ??= emptyChurn());
  const returns: Promise<void>[] = [];
  let started = 0;
  const t0 = Date.now();
  await new Promise<void>((done) => {
    const timer = setInterval(() => {
      const elapsed = Date.now() - t0;
      if (elapsed >= a.durationMs) {
        clearInterval(timer);
        done();
        return;
      }
      // Owed by the clock, not by ticks: a busy event loop fires fewer ticks, not fewer disconnects.
      for (let owed = Math.floor((a.perSecond * elapsed) / 1000) - started; owed > 0; owed--, started++) {
        const c = pickPresent();
        if (!c) break;
        c.away = true;
        answer.disconnects.push([c.index, Date.now()]);
        void c.client!.disconnect();
        returns.push(
          new Promise<void>((back) => setTimeout(back, a.awayMs))
            .then(() => openOne(c, a.timeoutMs))
            .catch(() => void answer.reconnectFailures++)
            .finally(() => (c.away = false)),
        );
      }
    }, 10);
  });
  await Promise.all(returns);
  return { disconnects: answer.disconnects.length };
}

function pickPresent(): Client | undefined {
  for (let tries = 0; tries < 20; tries++) {
    const c = clients[Math.floor(Math.random() * clients.length)]!;
    if (c.open && !c.away) return c;
  }
  return undefined;
}

/** Stop recording and hand over what was recorded after the churn (frames that arrive late included). */
function results(): ChurnAnswer {
  const r = recording ?? emptyChurn();
  recording = undefined;
  return r;
}

async function sign(user: string, secret: Uint8Array, ttl: number): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(user).setIssuedAt(now).setExpirationTime(now + ttl).sign(secret);
}

async function handle(op: string, args: Record<string, unknown>): Promise<unknown> {
  switch (op) {
    case 'init': {
      init = args as unknown as PresenceWorkerInit;
      const secret = new TextEncoder().encode(init.secret);
      clients = Array.from({ length: init.count }, (_, i) => new Client(init!.first + i));
      for (const c of clients) c.token = await sign(userOf(c.index), secret, init.tokenTtlSec);
      return { clients: clients.length };
    }
    case 'connect':
      return connectAll(args.concurrency as number, args.timeoutMs as number);
    case 'contacts':
      return createContacts(args.concurrency as number, args.timeoutMs as number);
    case 'record':
      recording = emptyChurn();
      return { recording: true };
    case 'churn':
      return churn(args as unknown as ChurnArgs);
    case 'results':
      return results();
    case 'close':
      for (const c of clients) drop(c);
      setTimeout(() => process.exit(0), 50);
      return { closed: true };
    default:
      throw new Error(`unknown op ${op}`);
  }
}

// The parent went away (finished, crashed or killed): drop every socket and leave.
serveWorker(handle, () => {
  for (const c of clients) drop(c);
});

function drop(c: Client): void {
  void c.client?.close();
  c.client?.dropConnection();
}
