/** The open loop: message i leaves at t0 + i / rate whatever the server does; then the drain, and what is missing. */
import { performance } from 'node:perf_hooks';
import { encode } from '../lib/frames.js';
import type { WorkerResult } from './protocol.js';
import { REJECTED, send, SENT, SKIPPED, type GeneratorState } from './worker-state.js';

const popcount = new Uint8Array(256).map((_, i) => {
  let n = 0;
  for (let v = i; v; v >>= 1) n += v & 1;
  return n;
});

function sendMessage(g: GeneratorState, i: number): void {
  g.counts.scheduled++;
  const conv = i % g.M;
  const c = g.conns[g.init.conversations[conv]![Math.floor(i / g.M) % g.size]!]!;
  if (!c.open || g.convIds[conv] === undefined) {
    g.state[i] = SKIPPED;
    g.counts.notSent++;
    return;
  }
  c.ws!.send(g.templates[conv]!.make(g.ids.id(i)), g.sendOpts);
  g.state[i] = SENT;
  g.counts.sent++;
  g.owed += g.size;
}

function tick(g: GeneratorState): void {
  let now = performance.now();
  const due = Math.min(g.total, Math.floor((now - g.t0) / g.interval) + 1);
  let k = 0;
  while (g.next < due) {
    if ((k++ & 15) === 0) now = performance.now();
    const sched = g.t0 + g.next * g.interval;
    const lagMs = Math.max(0, now - sched);
    if (g.next >= g.warmCount) g.hLag.record(lagMs * 1000);
    const ss = g.second(Math.floor((g.next * g.interval) / 1000));
    if (lagMs > ss.lagMaxMs) ss.lagMaxMs = lagMs;
    sendMessage(g, g.next);
    ss.sends++;
    if (g.next >= g.warmCount) g.windowCounts.sends++;
    g.next++;
  }
  if (g.next < g.total) g.sendTimer = setTimeout(() => tick(g), Math.max(0, g.t0 + g.next * g.interval - performance.now()));
  else g.scheduleDone = true;
}

/** Every connection acks its highest inbox seq every --ack-interval (none when 0). */
function startAcks(g: GeneratorState): NodeJS.Timeout | undefined {
  if (g.init.ackIntervalMs <= 0) return undefined;
  return setInterval(() => {
    for (const c of g.conns) {
      if (c.open && c.maxSeq > c.ackedSeq) {
        c.ws!.send(encode({ type: 'ack', payload: { seq: c.maxSeq } }, g.init.codec), g.sendOpts);
        c.ackedSeq = c.maxSeq;
        g.counts.acksSent++;
      }
    }
  }, g.init.ackIntervalMs);
}

/** Progress, event-loop utilisation and socket buffers, once a second; `eluWindow()` is the utilisation over the measured window. */
function startProgress(g: GeneratorState): { stop(): void; eluWindow(): number } {
  let elu = performance.eventLoopUtilization();
  let eluWindowStart: ReturnType<typeof performance.eventLoopUtilization> | undefined;
  let eluWindow = 0;
  let lastSent = 0;
  let lastDeliveries = 0;
  let lastConfirmed = 0;
  const progressTimer = setInterval(() => {
    const now = performance.now();
    const sec = g.nowSec(now) - 1;
    const e = performance.eventLoopUtilization(elu);
    elu = performance.eventLoopUtilization();
    if (sec >= 0) g.second(sec).elu = e.utilization;
    if (!eluWindowStart && now - g.t0 >= g.init.warmupS * 1000) eluWindowStart = performance.eventLoopUtilization();
    if (eluWindowStart && now - g.t0 <= (g.init.warmupS + g.init.durationS) * 1000 + 1000) eluWindow = performance.eventLoopUtilization(eluWindowStart).utilization;
    for (const c of g.conns) if (c.ws && c.ws.bufferedAmount > g.maxBuffered) g.maxBuffered = c.ws.bufferedAmount;
    const ss = sec >= 0 ? g.series[sec] : undefined;
    send({
      kind: 'progress',
      worker: g.init.worker,
      sec,
      sends: g.counts.sent - lastSent,
      deliveries: g.counts.deliveries - lastDeliveries,
      confirmed: g.counts.confirmed - lastConfirmed,
      lagMaxMs: ss?.lagMaxMs ?? 0,
      errors: Object.values(g.counts.rejected).reduce((a, b) => a + b, 0) + Object.values(g.counts.otherErrors).reduce((a, b) => a + b, 0),
      p99NewMs: ss?._hn ? ss._hn.percentile(99) / 1000 : Number.NaN,
      elu: e.utilization,
    });
    lastSent = g.counts.sent;
    lastDeliveries = g.counts.deliveries;
    lastConfirmed = g.counts.confirmed;
  }, 1000);
  return { stop: () => clearInterval(progressTimer), eluWindow: () => eluWindow };
}

/** After the schedule: wait (at most --drain) until nothing is owed. */
async function drain(g: GeneratorState): Promise<{ drainedMs: number; complete: boolean }> {
  g.phase = 'draining';
  const drainStart = performance.now();
  const drainDeadline = drainStart + g.init.drainS * 1000;
  while (g.owed > 0 && performance.now() < drainDeadline) await new Promise((r) => setTimeout(r, 20));
  return { drainedMs: performance.now() - drainStart, complete: g.owed <= 0 };
}

/** What is missing, per message: counted into `g.counts`. */
function countMissing(g: GeneratorState): void {
  for (let i = 0; i < g.total; i++) {
    if (g.state[i] === REJECTED) {
      let any = g.sentSeen[i]!;
      for (let b = 0; b < g.bytesPerMsg; b++) any |= g.bitmap[i * g.bytesPerMsg + b]!;
      if (any) g.counts.rejectedButStored++;
      continue;
    }
    if (g.state[i] !== SENT) continue;
    g.counts.expectedDeliveries += g.size - 1;
    let got = 0;
    for (let b = 0; b < g.bytesPerMsg; b++) got += popcount[g.bitmap[i * g.bytesPerMsg + b]!]!;
    const missNew = g.size - 1 - got;
    const missSent = g.sentSeen[i] ? 0 : 1;
    g.counts.missingNew += missNew;
    g.counts.missingSent += missSent;
    if (missNew > 0 || missSent > 0) g.counts.lostMessages++;
  }
  g.counts.frames = Object.fromEntries(g.frames);
}

/** The clock from `startAtEpochMs`, the drain, a grace period for late duplicates, then the result to the coordinator. */
export async function run(g: GeneratorState, startAtEpochMs: number): Promise<void> {
  g.t0 = startAtEpochMs - performance.timeOrigin;
  g.phase = 'running';
  const ackTimer = startAcks(g);
  const progress = startProgress(g);
  const wait = Math.max(0, g.t0 - performance.now());
  await new Promise((r) => setTimeout(r, wait));
  tick(g);
  while (!g.scheduleDone) await new Promise((r) => setTimeout(r, 20));
  const { drainedMs, complete } = await drain(g);
  // late duplicates would show up now
  await new Promise((r) => setTimeout(r, g.init.graceMs));
  g.phase = 'done';
  progress.stop();
  clearInterval(ackTimer);
  clearTimeout(g.sendTimer);
  countMissing(g);
  const result: WorkerResult = {
    kind: 'result',
    worker: g.init.worker,
    pid: process.pid,
    connections: g.conns.length,
    conversations: g.M,
    rate: g.init.rate,
    connect: g.connectInfo,
    setupMs: g.setupMs,
    counts: g.counts,
    window: g.windowCounts,
    hist: { sent: g.hSent.toSparse(), new: g.hNew.toSparse(), lag: g.hLag.toSparse() },
    series: g.series.map((s) => {
      const { _hs, _hn, ...rest } = s;
      return { ...rest, hSent: _hs ? _hs.toSparse() : rest.hSent, hNew: _hn ? _hn.toSparse() : rest.hNew };
    }),
    elu: progress.eluWindow(),
    maxBufferedBytes: g.maxBuffered,
    drainedMs,
    complete,
  };
  send(result);
}
