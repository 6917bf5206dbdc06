import { performance } from 'node:perf_hooks';
import { out } from './demo-output.js';
import type { Peer } from './demo-peer.js';
import { formatMs, formatSummary, summarize } from './percentiles.js';

const WINDOW = 100;
const GIVE_UP_MS = 30_000;

export type Result = { ok: boolean };

/**
 * alice → bob, N messages, as frames (Peer.send, the SDK's sendFrame) rather than through the SDK's
 * outbox: the round trip measures the pipeline, so it paces the sends itself and counts every
 * refusal and resend, which the outbox would absorb out of sight.
 *
 * alice → bob, N messages: open-loop at `rate` per second, but never more than WINDOW without both
 * message.sent and message.new. A temporary error (rate_limited, send_failed) resends the same
 * tempId later: the server deduplicates sends by tempId.
 */
export async function roundTrip(
  alice: Peer,
  bob: Peer,
  opts: { runId: string; messages: number; rate: number; signal: AbortSignal },
): Promise<Result> {
  const { messages: n, rate } = opts;
  const prefix = `rt-${opts.runId}-`;
  const indexOf = (tempId: unknown): number | undefined => {
    if (typeof tempId !== 'string' || !tempId.startsWith(prefix)) return undefined;
    const i = Number(tempId.slice(prefix.length));
    return Number.isInteger(i) && i >= 0 && i < n ? i : undefined;
  };
  const sentAt = new Float64Array(n).fill(Number.NaN);
  const ackMs = new Float64Array(n).fill(Number.NaN);
  const newMs = new Float64Array(n).fill(Number.NaN);
  const acks = new Uint32Array(n);
  const news = new Uint32Array(n);
  let completed = 0;
  let inFlight = 0;
  let next = 0;
  let rateLimited = 0;
  let retried = 0;
  let lastDone = 0;
  const failures: string[] = [];
  const retryQueue: number[] = [];
  /** The message id of each tempId's first message.sent; a different id later is a duplicate message. */
  const sentIds: (string | undefined)[] = new Array(n);
  const secondIds = new Uint8Array(n);

  out(`Round trip: alice sends ${n} messages to bob (target ${rate}/s, at most ${WINDOW} in flight) …`);

  // Pacing: one send (new or resent) every 1000/currentRate ms, catching up at most CATCH_UP_MS
  // after a stall. A temporary error halves currentRate (at most every BACKOFF_MS) and pauses
  // briefly; every completed message raises it again, back up to the target.
  const CATCH_UP_MS = 20;
  const BACKOFF_MS = 200;
  let currentRate = rate;
  let lastBackoff = -Infinity;
  let t0 = 0;
  let nextAt = 0;
  let timer: NodeJS.Timeout | undefined;
  function backoff(): void {
    const now = performance.now();
    if (now - lastBackoff < BACKOFF_MS) return;
    lastBackoff = now;
    currentRate = Math.max(5, currentRate / 2);
    nextAt = Math.max(nextAt, now + BACKOFF_MS / 2);
  }
  function speedUp(): void {
    currentRate = Math.min(rate, currentRate + 0.5);
  }

  let finish!: () => void;
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const done = new Uint8Array(n);
  const complete = (i: number) => {
    if (!done[i] && acks[i]! > 0 && news[i]! > 0) {
      done[i] = 1;
      completed++;
      inFlight--;
      lastDone = performance.now();
      speedUp();
      if (completed === n) finish();
      else pump();
    }
  };

  const offAlice = alice.listen((f) => {
    if (f.type === 'message.sent') {
      const i = indexOf(f.payload?.tempId);
      if (i === undefined) return;
      acks[i]!++;
      // A repeated message.sent for a resent tempId is the server's idempotent answer; a different
      // message id would mean the message was stored twice.
      const id = f.payload?.message?.id as string | undefined;
      if (sentIds[i] === undefined) sentIds[i] = id;
      else if (id !== sentIds[i]) secondIds[i] = 1;
      if (acks[i] === 1) {
        ackMs[i] = performance.now() - sentAt[i]!;
        complete(i);
      }
    } else if (f.type === 'error') {
      const i = indexOf(f.error?.tempId) ?? indexOf(f.ref);
      if (i === undefined) return;
      if (f.error?.code === 'rate_limited' || f.error?.temporary) {
        // Temporary: resend the same tempId (the server deduplicates by it) a little later.
        if (f.error?.code === 'rate_limited') rateLimited++;
        else retried++;
        retryQueue.push(i);
        backoff();
        pump();
      } else {
        failures.push(`message ${i}: ${f.error?.code}: ${f.error?.message}`);
      }
    } else if (f.type === '$closed') {
      finish();
    }
  });
  const offBob = bob.listen((f) => {
    if (f.type === 'message.new') {
      const i = indexOf(f.payload?.message?.tempId);
      if (i === undefined) return;
      news[i]!++;
      if (news[i] === 1) {
        newMs[i] = performance.now() - sentAt[i]!;
        complete(i);
      }
    } else if (f.type === '$closed') {
      finish();
    }
  });

  const send = (i: number) => {
    const tempId = `${prefix}${i}`;
    alice.send('message.send', { toUserId: 'bob', tempId, content: `message ${i + 1} of ${n}` }, tempId);
  };

  function pump(): void {
    clearTimeout(timer);
    timer = undefined;
    if (opts.signal.aborted) return;
    for (;;) {
      // Resends first: they are already in flight and keep their first send time.
      const retry = retryQueue.length > 0;
      if (!retry && !(next < n && inFlight < WINDOW)) return; // a completion or an error calls pump
      const now = performance.now();
      if (nextAt > now) {
        timer = setTimeout(pump, nextAt - now);
        return;
      }
      nextAt = Math.max(nextAt, now - CATCH_UP_MS) + 1000 / currentRate;
      if (retry) {
        send(retryQueue.shift()!);
      } else {
        sentAt[next] = performance.now();
        inFlight++;
        send(next++);
      }
    }
  }

  const budgetMs = (n / rate) * 1000 + GIVE_UP_MS;
  let deadline: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<'timeout'>((resolve) => {
    deadline = setTimeout(() => resolve('timeout'), budgetMs);
  });
  const aborted = new Promise<'aborted'>((resolve) => opts.signal.addEventListener('abort', () => resolve('aborted'), { once: true }));
  t0 = nextAt = performance.now();
  pump();
  const how = await Promise.race([finished.then(() => 'done' as const), gaveUp, aborted]);
  clearTimeout(deadline);
  clearTimeout(timer);
  // Late duplicates would show up now: give them a moment before counting.
  if (how === 'done') await new Promise((r) => setTimeout(r, 250));
  offAlice();
  offBob();

  const elapsedMs = (completed ? lastDone : performance.now()) - t0;
  const unconfirmed = [...acks].filter((c) => c === 0).length;
  const undelivered = [...news].filter((c) => c === 0).length;
  const lost = [...acks].filter((_, i) => acks[i] === 0 || news[i] === 0).length;
  const duplicated = [...news].filter((c, i) => c > 1 || secondIds[i] === 1).length;
  const sentSummary = summarize([...ackMs].filter((v) => !Number.isNaN(v)));
  const newSummary = summarize([...newMs].filter((v) => !Number.isNaN(v)));

  out(`  messages     ${completed} of ${n} confirmed and delivered`);
  out(`  elapsed      ${formatMs(elapsedMs)}`);
  out(`  throughput   ${elapsedMs > 0 ? Math.round((completed / elapsedMs) * 1000) : 0} messages/s`);
  out(`  send → message.sent (alice)   ${formatSummary(sentSummary)}`);
  out(`  send → message.new  (bob)     ${formatSummary(newSummary)}`);
  if (retried) out(`  resent after a temporary error ${retried} times`);
  if (rateLimited) out(`  rate-limited by the server ${rateLimited} times (resent; the server's PARLEY_FRAMES_PER_SECOND caps this run)`);
  out(`  lost ${lost} (no message.sent ${unconfirmed}, no message.new ${undelivered}), duplicated ${duplicated}`);
  for (const f of failures.slice(0, 5)) out(`  error: ${f}`);
  if (failures.length > 5) out(`  … and ${failures.length - 5} more errors`);

  const ok = how === 'done' && lost === 0 && duplicated === 0;
  if (how === 'timeout') out(`FAILED: gave up after ${formatMs(budgetMs)} with ${n - completed} messages outstanding.`);
  else if (how === 'aborted') out('FAILED: interrupted.');
  else if (alice.closedUnexpectedly || bob.closedUnexpectedly) out(`FAILED: ${alice.closedUnexpectedly ?? bob.closedUnexpectedly}.`);
  else if (!ok) out('FAILED: messages were lost or duplicated.');
  else out('OK: every message confirmed to alice and delivered to bob exactly once.');
  return { ok: ok && !alice.closedUnexpectedly && !bob.closedUnexpectedly };
}
