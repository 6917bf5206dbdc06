/**
 * A child process holding many WebSocket clients (the `ws` package) for the connection and storm
 * scenarios, driven over IPC by `ClientPool`. Each client is one user; it keeps only what the
 * scenarios measure: timings, its inbox cursor, and per message seq how often it arrived.
 *
 * Requests are `{ id, op, ...args }` (the types are in client-protocol.ts); every answer is
 * `{ id, ok, result | error }`. The process exits when its parent goes away.
 *
 * Why raw `ws` sockets and not the SDK's ParleyClient (whose codec and frame types this uses):
 * - the scenarios VERIFY the server's delivery: every message seq once, in order, per client. The
 *   SDK drops replayed and duplicate durable frames (its dedupe) before the app sees them, so it
 *   would hide exactly the duplicates and disorder that verify() counts;
 * - the reconnect policy is the scenario's (100–500 ms, bounded by count and the op's deadline,
 *   counted per close code), and a drop is a TCP reset (no close frame, no TIME_WAIT) of thousands
 *   of sockets at once, bound to chosen source addresses; the SDK's backoff, its acks and pings
 *   would change the load the storm puts on the gateway and what it measures;
 * - 10,000+ clients per run: the per-client state here is a few counters.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { decodeFrame, type AnyServerFrame } from '../../sdk/src/index.js';
import { nodeMsgpackCodec } from '../../cli/sdk-node.js';
import { serveWorker } from './common.js';
import { emptyConnectResult, type ConnectArgs, type ConnectResult, type Stats, type VerifyResult, type WorkerInit } from './client-protocol.js';

class Client {
  ws?: WebSocket;
  token = '';
  /** Highest inbox seq seen (the cursor). */
  cursor = 0;
  /** Per message seq (index), how often it arrived over all connections. */
  counts: number[] = [];
  distinct = 0;
  /** Messages wanted for "caught up": seqs 1..expectUpTo. */
  expectUpTo = 0;
  success = false;
  resumed = false;
  reset = false;
  conversations = 0;
  unreadSummaries = 0;
  outOfOrder = 0;
  connSeq = 0;
  tStart = 0;
  tSuccess = 0;
  tCaughtUp = 0;
  error?: string;
  open = false;
  reconnecting = false;
  reconnects = 0;
  constructor(
    readonly user: string,
    readonly index: number,
  ) {}
  get caughtUp(): boolean {
    return this.distinct >= this.expectUpTo && this.hasAll(this.expectUpTo);
  }
  hasAll(n: number): boolean {
    if (this.distinct < n) return false;
    for (let s = 1; s <= n; s++) if (!this.counts[s]) return false;
    return true;
  }
}

let init: WorkerInit | undefined;
let clients: Client[] = [];
let opStart = 0;
/** While a connect op with reconnects runs: its deadline and attempt bound. */
let reconnectPolicy: { deadline: number; max: number; resume: boolean; expecting: boolean } | undefined;
/** Every failed attempt of the current op (also those retried), by error. */
let attemptErrors: Record<string, number> = {};
let closedBy: Record<string, number> = {};
let dropping = false;
let wake: (() => void) | undefined;
const decoder = new TextDecoder();

/** The SDK's decoding (text: JSON, binary: msgpack, as the server does), on the frame as `ws` gives it. */
function decode(data: WebSocket.RawData, isBinary: boolean): AnyServerFrame {
  const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
  return decodeFrame(nodeMsgpackCodec, isBinary ? buf : decoder.decode(buf)) as AnyServerFrame;
}

function onFrame(c: Client, f: AnyServerFrame): void {
  const seq = f.type === 'error' ? undefined : f.seq;
  if (typeof seq === 'number') {
    if (seq <= c.connSeq) c.outOfOrder++;
    c.connSeq = seq;
    if (seq > c.cursor) c.cursor = seq;
  }
  switch (f.type) {
    case 'connection.success':
      c.success = true;
      c.resumed = f.payload?.resumed === true;
      if (c.tSuccess === 0) c.tSuccess = performance.now();
      if (typeof f.payload?.cursor === 'number' && c.connSeq === 0) c.connSeq = f.payload.cursor;
      if (typeof f.payload?.cursor === 'number' && f.payload.cursor > c.cursor) c.cursor = f.payload.cursor;
      break;
    case 'resume.reset':
      c.reset = true;
      break;
    case 'unread.summary':
      c.unreadSummaries++;
      break;
    case 'conversation.created':
      c.conversations++;
      break;
    case 'message.new': {
      const s = f.payload?.message?.seq;
      if (typeof s === 'number') {
        const n = c.counts[s] ?? 0;
        c.counts[s] = n + 1;
        if (n === 0) c.distinct++;
        if (c.expectUpTo > 0 && c.tCaughtUp === 0 && c.caughtUp) c.tCaughtUp = performance.now();
      }
      break;
    }
    default:
      break;
  }
  if (wake && (f.type === 'connection.success' || f.type === 'message.new')) wake();
}

async function sign(user: string, secret: Uint8Array, ttl: number): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(user).setIssuedAt(now).setExpirationTime(now + ttl).sign(secret);
}

/** Open the client's socket; resolves at connection.success or when the socket fails or closes. `again`: a reconnect (keeps the first attempt's timings). */
function openOne(c: Client, index: number, resume: boolean, again = false): Promise<void> {
  const cfg = init!;
  c.success = false;
  c.resumed = false;
  c.reset = false;
  c.connSeq = 0;
  c.reconnecting = false;
  delete c.error;
  if (!again) {
    c.tSuccess = 0;
    c.tStart = performance.now();
  }
  const url = resume ? `${cfg.url}?cursor=${c.cursor}` : cfg.url;
  const localAddress = cfg.localAddresses[index % cfg.localAddresses.length];
  return new Promise<void>((resolve) => {
    let settled = false;
    const settle = () => {
      if (!settled) {
        settled = true;
        resolve();
      }
    };
    let ws: WebSocket;
    try {
      ws = new WebSocket(url, [cfg.codec === 'json' ? 'parley.v1.json' : 'parley.v1.msgpack'], {
        headers: { authorization: `Bearer ${c.token}` },
        perMessageDeflate: false,
        handshakeTimeout: 60_000,
        ...(localAddress ? { localAddress } : {}),
      });
    } catch (err) {
      c.error = (err as Error).message;
      settle();
      return;
    }
    c.ws = ws;
    ws.on('open', () => {
      c.open = true;
    });
    ws.on('message', (data, isBinary) => {
      const f = decode(data, isBinary);
      onFrame(c, f);
      if (f.type === 'connection.success') settle();
    });
    ws.on('error', (err: NodeJS.ErrnoException) => {
      c.error = err.code ?? err.message.slice(0, 60);
    });
    ws.on('close', (code) => {
      const wasOpen = c.open;
      c.open = false;
      if (!c.success && c.error === undefined) {
        c.error = `closed ${code}${wasOpen ? ' after the upgrade' : ''}`;
        if (process.env.PARLEY_BENCH_DEBUG) process.stderr.write(`${c.user}: ${c.error} ${(performance.now() - c.tStart).toFixed(0)} ms after the attempt, at ${new Date().toISOString()}\n`);
      }
      if (c.ws === ws) delete c.ws;
      if (!dropping && c.success) closedBy[`closed ${code}`] = (closedBy[`closed ${code}`] ?? 0) + 1;
      if (!dropping && !c.success) attemptErrors[c.error ?? `closed ${code}`] = (attemptErrors[c.error ?? `closed ${code}`] ?? 0) + 1;
      const p = reconnectPolicy;
      if (p && !dropping && (!p.expecting || c.tCaughtUp === 0) && c.reconnects < p.max && performance.now() < p.deadline) {
        c.reconnecting = true;
        c.reconnects++;
        setTimeout(() => {
          if (reconnectPolicy === p && c.reconnecting) void openOne(c, c.index, p.resume || c.cursor > 0, true);
          else c.reconnecting = false;
        }, 100 + Math.random() * 400).unref();
      }
      settle();
      wake?.();
    });
  });
}

async function connect(a: ConnectArgs): Promise<ConnectResult> {
  opStart = performance.now();
  const upTo = Math.min(a.upTo ?? clients.length, clients.length);
  const todo: number[] = [];
  for (let i = 0; i < upTo; i++) if (!clients[i]!.ws) todo.push(i);
  if (a.expectUpTo !== undefined) {
    for (const i of todo) {
      const c = clients[i]!;
      c.expectUpTo = a.expectUpTo;
      c.tCaughtUp = c.caughtUp ? opStart : 0;
    }
  }
  const deadline = opStart + a.timeoutMs;
  closedBy = {};
  for (const i of todo) clients[i]!.reconnects = 0;
  attemptErrors = {};
  reconnectPolicy = a.reconnects ? { deadline, max: a.reconnects, resume: a.resume, expecting: a.expectUpTo !== undefined } : undefined;
  const limit = a.concurrency > 0 ? a.concurrency : todo.length;
  let next = 0;
  const lane = async () => {
    while (next < todo.length && performance.now() < deadline) {
      const i = todo[next++]!;
      await Promise.race([openOne(clients[i]!, i, a.resume), sleepUntil(deadline)]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, todo.length) }, lane));
  if (a.expectUpTo !== undefined) {
    await until(() => todo.every((i) => clients[i]!.tCaughtUp > 0 || (!clients[i]!.ws && !clients[i]!.reconnecting)), deadline);
  } else if (a.reconnects) {
    await until(() => todo.every((i) => !clients[i]!.reconnecting && (clients[i]!.success || !clients[i]!.ws)), deadline);
  }
  reconnectPolicy = undefined;
  const result: ConnectResult = {
    ...emptyConnectResult(),
    attempted: todo.length,
    closedBy,
    attemptErrors,
    reconnects: todo.reduce((n, i) => n + clients[i]!.reconnects, 0),
    wallMs: performance.now() - opStart,
    rss: process.memoryUsage.rss(),
  };
  for (const i of todo) {
    const c = clients[i]!;
    if (c.success) {
      result.success++;
      result.successMs.push(c.tSuccess - (a.resume ? opStart : c.tStart));
    } else {
      result.failed++;
      if (result.failedUsers.length < 5) result.failedUsers.push(c.user);
      const e = c.error ?? 'timeout';
      result.errors[e] = (result.errors[e] ?? 0) + 1;
    }
    if (c.resumed) result.resumedFlags++;
    if (c.reset) result.resets++;
    if (a.expectUpTo !== undefined) {
      if (c.tCaughtUp > 0) result.caughtUpMs.push(c.tCaughtUp - opStart);
      else result.notCaughtUp++;
    }
  }
  return result;
}

function sleepUntil(deadline: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, deadline - performance.now())).unref());
}

/** Wait (woken by frames, rechecked at least every 50 ms) until `check` holds or the deadline passes. */
async function until(check: () => boolean, deadline: number): Promise<boolean> {
  while (!check()) {
    const left = deadline - performance.now();
    if (left <= 0) return false;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, Math.min(50, left));
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
    wake = undefined;
  }
  return true;
}

/** Wait until every open client holds message seqs 1..n; per client the ms from this call. */
async function expect(n: number, timeoutMs: number): Promise<{ complete: number; incomplete: number; ms: number[] }> {
  const t0 = performance.now();
  for (const c of clients) {
    c.expectUpTo = n;
    c.tCaughtUp = c.caughtUp ? t0 : 0;
  }
  await until(() => clients.every((c) => c.tCaughtUp > 0), t0 + timeoutMs);
  const ms = clients.filter((c) => c.tCaughtUp > 0).map((c) => c.tCaughtUp - t0);
  return { complete: ms.length, incomplete: clients.length - ms.length, ms };
}

/**
 * Drop a socket at once with a TCP reset (SO_LINGER 0): no close frame, and no TIME_WAIT left on
 * this side, which would hold the ephemeral port for a minute (and, for a socket bound to a source
 * address, keep that port from every other process's outgoing connections meanwhile).
 */
function reset(ws: WebSocket): void {
  const socket = (ws as unknown as { _socket?: Socket })._socket;
  if (socket && typeof socket.resetAndDestroy === 'function' && !socket.destroyed) socket.resetAndDestroy();
  else ws.terminate();
}

async function drop(timeoutMs: number): Promise<{ dropped: number; stillOpen: number }> {
  let dropped = 0;
  dropping = true;
  reconnectPolicy = undefined;
  for (const c of clients) c.reconnecting = false;
  for (const c of clients) {
    if (c.ws) {
      reset(c.ws);
      dropped++;
    }
  }
  await until(() => clients.every((c) => !c.ws), performance.now() + timeoutMs);
  dropping = false;
  return { dropped, stillOpen: clients.filter((c) => c.ws).length };
}

function verify(n: number): VerifyResult {
  const r: VerifyResult = { clients: clients.length, missing: 0, duplicates: 0, outOfOrder: 0, unexpected: 0 };
  for (const c of clients) {
    for (let s = 1; s <= n; s++) {
      const k = c.counts[s] ?? 0;
      if (k === 0) r.missing++;
      if (k > 1) r.duplicates += k - 1;
    }
    for (let s = n + 1; s < c.counts.length; s++) if (c.counts[s]) r.unexpected += c.counts[s]!;
    r.outOfOrder += c.outOfOrder;
    if (!r.example && (!c.hasAll(n) || c.outOfOrder > 0)) {
      const missing: number[] = [];
      for (let s = 1; s <= n && missing.length < 5; s++) if (!c.counts[s]) missing.push(s);
      r.example = `${c.user}: missing ${JSON.stringify(missing)}, cursor ${c.cursor}, outOfOrder ${c.outOfOrder}, reconnects ${c.reconnects}, open ${c.open}, error ${c.error ?? '-'}`;
    }
  }
  return r;
}

function stats(n: number): Stats {
  const m = process.memoryUsage();
  return {
    open: clients.filter((c) => c.ws && c.open).length,
    success: clients.filter((c) => c.success && c.ws).length,
    unreadSummaries: clients.reduce((a, c) => a + c.unreadSummaries, 0),
    conversations: clients.reduce((a, c) => a + c.conversations, 0),
    complete: clients.filter((c) => c.hasAll(n)).length,
    rss: m.rss,
    heapUsed: m.heapUsed,
  };
}

async function handle(op: string, args: Record<string, unknown>): Promise<unknown> {
  switch (op) {
    case 'init': {
      init = args as unknown as WorkerInit;
      const secret = new TextEncoder().encode(init.secret);
      clients = init.users.map((u, i) => new Client(u, i));
      const t0 = performance.now();
      for (const c of clients) c.token = await sign(c.user, secret, init.tokenTtlSec);
      return { clients: clients.length, signMs: performance.now() - t0 };
    }
    case 'connect':
      return connect(args as unknown as ConnectArgs);
    case 'expect':
      return expect(args.n as number, args.timeoutMs as number);
    case 'drop':
      return drop(args.timeoutMs as number);
    case 'verify':
      return verify(args.n as number);
    case 'stats':
      return stats((args.n as number | undefined) ?? 0);
    case 'close': {
      await drop(5_000);
      setTimeout(() => process.exit(0), 50);
      return { closed: true };
    }
    default:
      throw new Error(`unknown op ${op}`);
  }
}

// The parent went away (finished, crashed or killed): drop every socket and leave.
serveWorker(handle, () => {
  for (const c of clients) if (c.ws) reset(c.ws);
});
