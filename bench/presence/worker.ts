/**
 * A child process holding the presence scenario's WebSocket clients (the `ws` package), driven
 * over IPC by bench/presence.ts. Each client is one user; it records only what the scenario
 * measures: when it was disconnected, and when its contacts' user.offline arrived.
 *
 * Requests are `{ id, op, args }`; every answer is `{ id, ok, result | error }`. The process exits
 * when its parent goes away.
 */
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { inBatches, serveWorker } from '../scenario-lib/common.js';
import { indexOf, userOf, type ChurnAnswer, type ChurnArgs, type ConnectAnswer, type ContactsAnswer, type PresenceWorkerInit } from './protocol.js';

type Frame = { type: string; ref?: string; payload?: { userId?: string; users?: unknown[] }; error?: { code: string } };
type Waiter = { resolve: () => void; reject: (err: Error) => void };

class Client {
  ws?: WebSocket;
  token = '';
  open = false;
  away = false;
  readonly waiters = new Map<string, Waiter>();
  constructor(readonly index: number) {}
}

let init: PresenceWorkerInit | undefined;
let clients: Client[] = [];
let recording: ChurnAnswer | undefined;

function emptyChurn(): ChurnAnswer {
  return { disconnects: [], offline: [], online: 0, statusBulk: 0, statusBulkUsers: 0, reconnectFailures: 0, frames: {} };
}

function onFrame(c: Client, f: Frame): void {
  const r = recording;
  if (r) r.frames[f.type] = (r.frames[f.type] ?? 0) + 1;
  switch (f.type) {
    case 'user.offline':
      if (r && f.payload?.userId) r.offline.push([indexOf(f.payload.userId), Date.now()]);
      break;
    case 'user.online':
      if (r) r.online++;
      break;
    case 'status.bulk':
      if (r) {
        r.statusBulk++;
        r.statusBulkUsers += f.payload?.users?.length ?? 0;
      }
      break;
    default:
      break;
  }
  if (f.ref !== undefined) {
    const w = c.waiters.get(f.ref);
    if (!w) return;
    c.waiters.delete(f.ref);
    if (f.type === 'error') w.reject(new Error(f.error?.code ?? 'error'));
    else w.resolve();
  }
}

/** Open the client's socket; resolves at connection.success, rejects when it fails or closes first. */
function openOne(c: Client, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(init!.url, ['parley.v1.json'], { headers: { authorization: `Bearer ${c.token}` }, perMessageDeflate: false });
    c.ws = ws;
    const timer = setTimeout(() => fail(new Error('timeout')), timeoutMs);
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.terminate();
      reject(err);
    };
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString()) as Frame;
      if (!settled && f.type === 'connection.success') {
        settled = true;
        clearTimeout(timer);
        c.open = true;
        resolve();
      }
      onFrame(c, f);
    });
    ws.on('error', (err) => fail(err));
    ws.on('close', (code) => {
      c.open = false;
      fail(new Error(`closed ${code}`));
    });
  });
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
        c.ws!.send(JSON.stringify({ type: 'conversation.create', ref, payload: { kind: 'direct', userId: other } }));
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
        c.ws!.close(1000);
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
      for (const c of clients) c.ws?.terminate();
      setTimeout(() => process.exit(0), 50);
      return { closed: true };
    default:
      throw new Error(`unknown op ${op}`);
  }
}

// The parent went away (finished, crashed or killed): drop every socket and leave.
serveWorker(handle, () => {
  for (const c of clients) c.ws?.terminate();
});
