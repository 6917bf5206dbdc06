/**
 * A load generator process: owns a share of the connections and the conversations among them,
 * sends on an open-loop schedule (message i at t0 + i / rate, whatever the replies do), and
 * measures, from each message's SCHEDULED time, when its message.sent and every message.new
 * arrive. Started by bench/load.ts with an IPC channel; see load-protocol.ts.
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { signDevToken } from '../../lib/dev-token.js';
import { decode, encode, FrameTemplate, MessageIds, scanFrame, tempIdOf, type Scanned } from './frames.js';
import { Histogram } from './histogram.js';
import type { Counts, FromWorker, SecondStats, ToWorker, WorkerInit, WorkerResult } from './load-protocol.js';

const NOT_SENT = 0;
const SENT = 1;
const REJECTED = 2;
const SKIPPED = 3;

type Conn = {
  index: number;
  user: string;
  token: string;
  address?: string;
  ws?: WebSocket;
  open: boolean;
  closing: boolean;
  maxSeq: number;
  ackedSeq: number;
  /** conversation index → this user's member slot in it */
  slots: Map<number, number>;
  /** conversation ids this connection got conversation.created for (set-up) */
  created: Set<string>;
  onSuccess?: () => void;
  onFail?: (err: Error) => void;
};

const send = (m: FromWorker) => process.send?.(m);
const noMask = () => undefined;

let init: WorkerInit;
let conns: Conn[] = [];
let ids: MessageIds;
/** Ids of the priming messages (before the clock starts); never part of the measurement. */
let primeIds: MessageIds;
let primeReceived = 0;
let size = 2;
let M = 0;
let convIds: string[] = [];
let templates: FrameTemplate[] = [];
let state: Uint8Array;
let sentSeen: Uint8Array;
let bitmap: Uint8Array;
let bytesPerMsg = 1;
let interval = 1;
let total = 0;
let warmCount = 0;
let t0 = 0;
let next = 0;
let phase: 'idle' | 'setup' | 'running' | 'draining' | 'done' = 'idle';
let scheduleDone = false;
const createdWaiters = new Map<string, (frame: any) => void>();

const hSent = new Histogram();
const hNew = new Histogram();
const hLag = new Histogram();
const series: (SecondStats & { _hs?: Histogram; _hn?: Histogram })[] = [];
const frames = new Map<string, number>();
const counts: Counts = {
  scheduled: 0,
  sent: 0,
  notSent: 0,
  rejected: {},
  otherErrors: {},
  confirmed: 0,
  deliveries: 0,
  expectedDeliveries: 0,
  missingSent: 0,
  missingNew: 0,
  lostMessages: 0,
  duplicateSent: 0,
  duplicateNew: 0,
  foreign: 0,
  rejectedButStored: 0,
  acksSent: 0,
  frames: {},
  closes: {},
  reconnects: 0,
};
const windowCounts = { sends: 0, confirmed: 0, deliveries: 0 };
/** Events still owed: one message.sent plus (size - 1) message.new per sent message. */
let owed = 0;
let maxBuffered = 0;
let sendOpts: { binary: boolean; compress: boolean } = { binary: false, compress: false };

const bump = (rec: Record<string, number>, key: string, by = 1) => {
  rec[key] = (rec[key] ?? 0) + by;
};

function second(sec: number): SecondStats & { _hs?: Histogram; _hn?: Histogram } {
  let s = series[sec];
  if (!s) {
    for (let k = series.length; k <= sec; k++) {
      series[k] ??= { sec: k, sends: 0, acks: 0, deliveries: 0, frames: 0, lagMaxMs: 0, elu: 0, hSent: { n: 0, min: 0, max: 0, sum: 0, b: [] }, hNew: { n: 0, min: 0, max: 0, sum: 0, b: [] } };
    }
    s = series[sec]!;
  }
  return s;
}

const nowSec = (now: number) => Math.floor((now - t0) / 1000);
const inWindow = (now: number) => now - t0 >= init.warmupS * 1000 && now - t0 < (init.warmupS + init.durationS) * 1000;

// ---------------------------------------------------------------- connections

function openConn(c: Conn, cursor?: number): Promise<void> {
  const subprotocol = init.codec === 'json' ? 'parley.v1.json' : 'parley.v1.msgpack';
  const url = cursor !== undefined && cursor > 0 ? `${init.url}?cursor=${cursor}` : init.url;
  const ws = new WebSocket(url, [subprotocol], {
    headers: { authorization: `Bearer ${c.token}` },
    perMessageDeflate: false,
    skipUTF8Validation: true,
    // a zero mask: the frame bytes go out as they are (no per-frame masking pass)
    generateMask: noMask,
    handshakeTimeout: init.connectTimeoutMs,
    ...(c.address ? { localAddress: c.address } : {}),
  });
  c.ws = ws;
  const began = performance.now();
  let upgraded = false;
  ws.once('open', () => (upgraded = true));
  // how the TCP connection ended, for the failure message: FIN from the server, or a reset
  let tcpEnd = '';
  ws.once('upgrade', (res) => {
    res.socket.once('end', () => (tcpEnd ||= 'the server closed the TCP connection (FIN)'));
    res.socket.once('error', (e: Error) => (tcpEnd ||= `socket error ${(e as NodeJS.ErrnoException).code ?? e.message}`));
  });
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`no connection.success within ${init.connectTimeoutMs} ms`)), init.connectTimeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      c.onSuccess = c.onFail = undefined;
      ws.terminate();
      reject(err);
    };
    c.onSuccess = () => {
      clearTimeout(timer);
      c.onSuccess = c.onFail = undefined;
      c.open = true;
      resolve();
    };
    c.onFail = fail;
    ws.on('message', (data) => onFrame(c, data as Buffer));
    ws.on('error', (err) => c.onFail?.(err));
    ws.once('close', (code, reason) => {
      const wasOpen = c.open;
      c.open = false;
      c.onFail?.(
        new Error(
          `closed with ${code}${reason.length ? ` ${reason.toString()}` : ''} before connection.success ` +
            `(${upgraded ? 'after the upgrade' : 'during the handshake'}, ${Math.round(performance.now() - began)} ms after connecting${tcpEnd ? `; ${tcpEnd}` : ''})`,
        ),
      );
      // a connection that never opened is a failed connect, not an unexpected close
      if (c.closing || c.ws !== ws || !wasOpen) return;
      bump(counts.closes, String(code));
      if (init.reconnect && phase !== 'done') {
        counts.reconnects++;
        const retry = (attempt: number) =>
          setTimeout(() => {
            if (phase === 'done' || c.closing) return;
            openConn(c, c.maxSeq).catch(() => {
              if (attempt < 20) retry(attempt + 1);
            });
          }, 200 * attempt);
        retry(1);
      }
    });
  });
}

async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (i < items.length) await fn(items[i++]!);
    }),
  );
}

// ---------------------------------------------------------------- frames

const popcount = new Uint8Array(256).map((_, i) => {
  let n = 0;
  for (let v = i; v; v >>= 1) n += v & 1;
  return n;
});

function messageIndex(s: Scanned, buf: Buffer): number {
  if (s.tempIdAt) return ids.parse(buf, s.tempIdAt[0], s.tempIdAt[1]);
  const t = tempIdOf(s.frame ?? decodeSafe(buf));
  return t === undefined ? -1 : ids.parseString(t);
}

function isPrime(s: Scanned, buf: Buffer): boolean {
  if (s.tempIdAt) return primeIds.parse(buf, s.tempIdAt[0], s.tempIdAt[1]) >= 0;
  const t = tempIdOf(s.frame ?? decodeSafe(buf));
  return t !== undefined && primeIds.parseString(t) >= 0;
}

function decodeSafe(buf: Buffer): any {
  try {
    return decode(buf, init.codec);
  } catch {
    return undefined;
  }
}

function onFrame(c: Conn, buf: Buffer): void {
  const now = performance.now();
  const s = scanFrame(buf, init.codec);
  frames.set(s.type, (frames.get(s.type) ?? 0) + 1);
  if (s.seq !== undefined && s.seq > c.maxSeq) c.maxSeq = s.seq;
  const running = phase === 'running' || phase === 'draining';
  if (running && now >= t0) second(nowSec(now)).frames++;
  switch (s.type) {
    case 'message.new': {
      const i = messageIndex(s, buf);
      if (i < 0 || i >= total || state[i] === NOT_SENT) {
        if (isPrime(s, buf)) primeReceived++;
        else counts.foreign++;
        return;
      }
      const conv = i % M;
      const slot = c.slots.get(conv);
      if (slot === undefined) {
        counts.foreign++;
        return;
      }
      // The sender's own message on another connection than the one that sent it (after a
      // reconnect) comes as message.new: that is its confirmation.
      if (slot === Math.floor(i / M) % size) {
        confirm(i, now);
        return;
      }
      const bit = i * bytesPerMsg * 8 + slot;
      const byte = bit >>> 3;
      const mask = 1 << (bit & 7);
      if (bitmap[byte]! & mask) {
        counts.duplicateNew++;
        return;
      }
      bitmap[byte]! |= mask;
      counts.deliveries++;
      if (state[i] === SENT) owed--;
      const sched = t0 + i * interval;
      const lat = (now - sched) * 1000;
      if (i >= warmCount) hNew.record(lat);
      const ssn = second(Math.floor((i * interval) / 1000));
      (ssn._hn ??= new Histogram()).record(lat);
      second(nowSec(now)).deliveries++;
      if (inWindow(now)) windowCounts.deliveries++;
      return;
    }
    case 'message.sent': {
      const i = messageIndex(s, buf);
      if (i < 0 || i >= total || state[i] === NOT_SENT) {
        if (isPrime(s, buf)) primeReceived++;
        else counts.foreign++;
        return;
      }
      confirm(i, now);
      return;
    }
    case 'unread.update':
    case 'message.status':
      return;
    default:
      slowFrame(c, s.frame ?? decodeSafe(buf));
  }
}

/** The sender learned that message i is stored (message.sent, or its own message.new after a reconnect). */
function confirm(i: number, now: number): void {
  if (sentSeen[i]) {
    counts.duplicateSent++;
    return;
  }
  sentSeen[i] = 1;
  counts.confirmed++;
  if (state[i] === SENT) owed--;
  const lat = (now - (t0 + i * interval)) * 1000;
  if (i >= warmCount) hSent.record(lat);
  const sss = second(Math.floor((i * interval) / 1000));
  (sss._hs ??= new Histogram()).record(lat);
  second(nowSec(now)).acks++;
  if (inWindow(now)) windowCounts.confirmed++;
}

function slowFrame(c: Conn, frame: any): void {
  if (!frame || typeof frame !== 'object') return;
  switch (frame.type) {
    case 'connection.success':
      c.onSuccess?.();
      return;
    case 'conversation.created': {
      const id = frame.payload?.conversation?.id;
      if (typeof id === 'string') c.created.add(id);
      if (typeof frame.ref === 'string') createdWaiters.get(`${c.index}/${frame.ref}`)?.(frame);
      return;
    }
    case 'error': {
      const code = String(frame.error?.code ?? 'unknown');
      const key = frame.error?.tempId ?? frame.ref;
      const i = typeof key === 'string' ? ids.parseString(key) : -1;
      if (i >= 0 && i < total && state[i] === SENT) {
        state[i] = REJECTED;
        bump(counts.rejected, code);
        owed -= size;
      } else {
        bump(counts.otherErrors, code);
        if (!c.open) c.onFail?.(new Error(`${code}: ${frame.error?.message}`));
      }
      return;
    }
    default:
      return;
  }
}

// ---------------------------------------------------------------- set-up

async function setUp(): Promise<{ failed: number; firstError?: string }> {
  let failed = 0;
  let firstError: string | undefined;
  convIds = new Array(M);
  await pool(
    init.conversations.map((members, j) => ({ members, j })),
    init.setupConcurrency,
    async ({ members, j }) => {
      const creator = conns[members[0]!]!;
      const ref = `c${j}`;
      const others = members.slice(1).map((k) => conns[k]!.user);
      const payload = size === 2 ? { kind: 'direct', userId: others[0] } : { kind: 'group', title: `bench ${init.runTag} ${j}`, members: others };
      try {
        const frame = await new Promise<any>((resolve, reject) => {
          const key = `${creator.index}/${ref}`;
          const timer = setTimeout(() => {
            createdWaiters.delete(key);
            reject(new Error(`no conversation.created for ${ref} within 30 s`));
          }, 30_000);
          createdWaiters.set(key, (f) => {
            clearTimeout(timer);
            createdWaiters.delete(key);
            resolve(f);
          });
          if (!creator.open) reject(new Error(`creator ${creator.user} is not connected`));
          else creator.ws!.send(encode({ type: 'conversation.create', ref, payload }, init.codec), sendOpts);
        });
        convIds[j] = frame.payload.conversation.id as string;
      } catch (err) {
        failed++;
        firstError ??= (err as Error).message;
      }
    },
  );
  // Every member should know the conversation before the clock starts (the projector caught up).
  const deadline = performance.now() + 30_000;
  const missing = () =>
    init.conversations.reduce((n, members, j) => n + members.filter((k) => convIds[j] !== undefined && !conns[k]!.created.has(convIds[j]!)).length, 0);
  while (missing() > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const late = missing();
  if (late > 0) firstError ??= `${late} member(s) had no conversation.created after 30 s`;

  const content = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore. '
    .repeat(Math.ceil(init.contentSize / 100) + 1)
    .slice(0, Math.max(1, init.contentSize));
  const placeholder = '~'.repeat(ids.length);
  templates = convIds.map((id) =>
    new FrameTemplate(init.codec, { type: 'message.send', ref: placeholder, payload: { conversationId: id ?? 'missing', tempId: placeholder, content } }, placeholder),
  );
  if (init.prime) {
    const primed = await prime();
    if (primed) firstError ??= primed;
  }
  return { failed, ...(firstError ? { firstError } : {}) };
}

/**
 * Warm the server before the clock starts: members 0 and 1 of every conversation send one message
 * each, so every user has received a message (engine and projector state, unread counts loaded),
 * at a bounded pace, and we wait until every copy has arrived. Returns a complaint, if any.
 */
async function prime(): Promise<string | undefined> {
  let expected = 0;
  let n = 0;
  const sends: { c: Conn; conv: number }[] = [];
  init.conversations.forEach((members, j) => {
    if (convIds[j] === undefined) return;
    for (const k of members.slice(0, 2)) sends.push({ c: conns[k]!, conv: j });
  });
  const perTick = Math.max(1, Math.round(init.primeRate / 100));
  for (let i = 0; i < sends.length; i++) {
    const { c, conv } = sends[i]!;
    if (!c.open) continue;
    c.ws!.send(templates[conv]!.make(primeIds.id(n++)), sendOpts);
    expected += size; // one message.sent, size - 1 message.new
    if (i % perTick === perTick - 1) await new Promise((r) => setTimeout(r, 10));
  }
  const deadline = performance.now() + init.primeTimeoutMs;
  while (primeReceived < expected && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return primeReceived < expected ? `priming: ${primeReceived} of ${expected} copies arrived within ${init.primeTimeoutMs / 1000} s` : undefined;
}

// ---------------------------------------------------------------- the schedule

function sendMessage(i: number): void {
  counts.scheduled++;
  const conv = i % M;
  const c = conns[init.conversations[conv]![Math.floor(i / M) % size]!]!;
  if (!c.open || convIds[conv] === undefined) {
    state[i] = SKIPPED;
    counts.notSent++;
    return;
  }
  c.ws!.send(templates[conv]!.make(ids.id(i)), sendOpts);
  state[i] = SENT;
  counts.sent++;
  owed += size;
}

let timer: NodeJS.Timeout | undefined;
let lastLagSec = -1;
function tick(): void {
  let now = performance.now();
  const due = Math.min(total, Math.floor((now - t0) / interval) + 1);
  let k = 0;
  while (next < due) {
    if ((k++ & 15) === 0) now = performance.now();
    const sched = t0 + next * interval;
    const lagMs = Math.max(0, now - sched);
    if (next >= warmCount) hLag.record(lagMs * 1000);
    const ss = second(Math.floor((next * interval) / 1000));
    if (lagMs > ss.lagMaxMs) ss.lagMaxMs = lagMs;
    lastLagSec = ss.sec;
    sendMessage(next);
    ss.sends++;
    if (next >= warmCount) windowCounts.sends++;
    next++;
  }
  if (next < total) timer = setTimeout(tick, Math.max(0, t0 + next * interval - performance.now()));
  else scheduleDone = true;
}

async function run(startAtEpochMs: number): Promise<void> {
  t0 = startAtEpochMs - performance.timeOrigin;
  phase = 'running';
  const ackTimer =
    init.ackIntervalMs > 0
      ? setInterval(() => {
          for (const c of conns) {
            if (c.open && c.maxSeq > c.ackedSeq) {
              c.ws!.send(encode({ type: 'ack', payload: { seq: c.maxSeq } }, init.codec), sendOpts);
              c.ackedSeq = c.maxSeq;
              counts.acksSent++;
            }
          }
        }, init.ackIntervalMs)
      : undefined;
  // progress, event-loop utilisation and socket buffers, once a second
  let elu = performance.eventLoopUtilization();
  let eluWindowStart: ReturnType<typeof performance.eventLoopUtilization> | undefined;
  let eluWindow = 0;
  let lastSent = 0;
  let lastDeliveries = 0;
  let lastConfirmed = 0;
  const progressTimer = setInterval(() => {
    const now = performance.now();
    const sec = nowSec(now) - 1;
    const e = performance.eventLoopUtilization(elu);
    elu = performance.eventLoopUtilization();
    if (sec >= 0) second(sec).elu = e.utilization;
    if (!eluWindowStart && now - t0 >= init.warmupS * 1000) eluWindowStart = performance.eventLoopUtilization();
    if (eluWindowStart && now - t0 <= (init.warmupS + init.durationS) * 1000 + 1000) eluWindow = performance.eventLoopUtilization(eluWindowStart).utilization;
    for (const c of conns) if (c.ws && c.ws.bufferedAmount > maxBuffered) maxBuffered = c.ws.bufferedAmount;
    const ss = sec >= 0 ? series[sec] : undefined;
    send({
      kind: 'progress',
      worker: init.worker,
      sec,
      sends: counts.sent - lastSent,
      deliveries: counts.deliveries - lastDeliveries,
      confirmed: counts.confirmed - lastConfirmed,
      lagMaxMs: ss?.lagMaxMs ?? 0,
      errors: Object.values(counts.rejected).reduce((a, b) => a + b, 0) + Object.values(counts.otherErrors).reduce((a, b) => a + b, 0),
      p99NewMs: ss?._hn ? ss._hn.percentile(99) / 1000 : Number.NaN,
      elu: e.utilization,
    });
    lastSent = counts.sent;
    lastDeliveries = counts.deliveries;
    lastConfirmed = counts.confirmed;
  }, 1000);

  const wait = Math.max(0, t0 - performance.now());
  await new Promise((r) => setTimeout(r, wait));
  tick();
  while (!scheduleDone) await new Promise((r) => setTimeout(r, 20));
  phase = 'draining';
  const drainStart = performance.now();
  const drainDeadline = drainStart + init.drainS * 1000;
  while (owed > 0 && performance.now() < drainDeadline) await new Promise((r) => setTimeout(r, 20));
  const drainedMs = performance.now() - drainStart;
  const complete = owed <= 0;
  // late duplicates would show up now
  await new Promise((r) => setTimeout(r, init.graceMs));
  phase = 'done';
  clearInterval(progressTimer);
  clearInterval(ackTimer);
  clearTimeout(timer);
  void lastLagSec;

  // what is missing
  for (let i = 0; i < total; i++) {
    if (state[i] === REJECTED) {
      let any = sentSeen[i]!;
      for (let b = 0; b < bytesPerMsg; b++) any |= bitmap[i * bytesPerMsg + b]!;
      if (any) counts.rejectedButStored++;
      continue;
    }
    if (state[i] !== SENT) continue;
    counts.expectedDeliveries += size - 1;
    let got = 0;
    for (let b = 0; b < bytesPerMsg; b++) got += popcount[bitmap[i * bytesPerMsg + b]!]!;
    const missNew = size - 1 - got;
    const missSent = sentSeen[i] ? 0 : 1;
    counts.missingNew += missNew;
    counts.missingSent += missSent;
    if (missNew > 0 || missSent > 0) counts.lostMessages++;
  }
  counts.frames = Object.fromEntries(frames);
  const result: WorkerResult = {
    kind: 'result',
    worker: init.worker,
    pid: process.pid,
    connections: conns.length,
    conversations: M,
    rate: init.rate,
    connect: connectInfo,
    setupMs,
    counts,
    window: windowCounts,
    hist: { sent: hSent.toSparse(), new: hNew.toSparse(), lag: hLag.toSparse() },
    series: series.map((s) => {
      const { _hs, _hn, ...rest } = s;
      return { ...rest, hSent: _hs ? _hs.toSparse() : rest.hSent, hNew: _hn ? _hn.toSparse() : rest.hNew };
    }),
    elu: eluWindow,
    maxBufferedBytes: maxBuffered,
    drainedMs,
    complete,
  };
  send(result);
}

// ---------------------------------------------------------------- wiring

let connectInfo: WorkerResult['connect'] = { ms: 0, failed: 0, retries: 0 };
let setupMs = 0;

async function onInit(m: WorkerInit): Promise<void> {
  init = m;
  size = m.conversations[0]?.length ?? 2;
  M = m.conversations.length;
  sendOpts = { binary: m.codec === 'msgpack', compress: false };
  ids = new MessageIds(`${m.runTag}${m.worker.toString(36)}.`);
  primeIds = new MessageIds(`${m.runTag}${m.worker.toString(36)}p`);
  interval = m.rate > 0 ? 1000 / m.rate : Infinity;
  total = m.rate > 0 ? Math.round(m.rate * (m.warmupS + m.durationS)) : 0;
  warmCount = Math.round(m.rate * m.warmupS);
  state = new Uint8Array(total);
  sentSeen = new Uint8Array(total);
  bytesPerMsg = Math.ceil(size / 8);
  bitmap = new Uint8Array(total * bytesPerMsg);
  const signing = m.signing;
  conns = await Promise.all(
    m.users.map(async (user, index) => ({
      index,
      user,
      token: await signDevToken(signing, { sub: user, name: user }, 24 * 3600),
      ...(m.addresses.length ? { address: m.addresses[index % m.addresses.length]! } : {}),
      open: false,
      closing: false,
      maxSeq: 0,
      ackedSeq: 0,
      slots: new Map<number, number>(),
      created: new Set<string>(),
    })),
  );
  m.conversations.forEach((members, j) => members.forEach((k, slot) => conns[k]!.slots.set(j, slot)));
  const started = performance.now();
  let failed = 0;
  let firstError: string | undefined;
  let retries = 0;
  let firstRetried: string | undefined;
  await pool(conns, m.connectConcurrency, async (c) => {
    // like a client: a failed connect is retried (3 attempts); retries are reported
    for (let attempt = 1; ; attempt++) {
      try {
        await openConn(c);
        return;
      } catch (err) {
        const message = `${c.user} via ${c.address ?? 'any address'}: ${(err as Error).message}`;
        if (attempt >= 3) {
          failed++;
          firstError ??= message;
          return;
        }
        retries++;
        firstRetried ??= message;
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
  });
  connectInfo = { ms: performance.now() - started, failed, retries, ...(firstError ? { firstError } : {}), ...(firstRetried ? { firstRetried } : {}) };
  send({ kind: 'connected', worker: m.worker, ...connectInfo });
}

async function closeAll(): Promise<void> {
  phase = 'done';
  await Promise.all(
    conns.map(
      (c) =>
        new Promise<void>((resolve) => {
          c.closing = true;
          const ws = c.ws;
          if (!ws || ws.readyState === WebSocket.CLOSED) return resolve();
          const t = setTimeout(() => {
            ws.terminate();
            resolve();
          }, 3_000);
          ws.once('close', () => {
            clearTimeout(t);
            resolve();
          });
          ws.close(1000, 'bench done');
        }),
    ),
  );
}

process.on('message', (m: ToWorker) => {
  const fail = (err: unknown) => {
    send({ kind: 'fatal', worker: init?.worker ?? -1, message: (err as Error)?.stack ?? String(err) });
  };
  switch (m.kind) {
    case 'init':
      onInit(m).catch(fail);
      break;
    case 'setup': {
      phase = 'setup';
      const started = performance.now();
      setUp()
        .then((r) => {
          setupMs = performance.now() - started;
          send({ kind: 'ready', worker: init.worker, ms: setupMs, conversations: M, ...r });
        })
        .catch(fail);
      break;
    }
    case 'start':
      run(m.startAtEpochMs).catch(fail);
      break;
    case 'close':
      closeAll()
        .catch(() => undefined)
        .finally(() => process.exit(0));
      break;
  }
});
// the coordinator went away: do not linger
process.on('disconnect', () => {
  for (const c of conns) c.ws?.terminate();
  process.exit(0);
});
