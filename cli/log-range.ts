import type { JetStreamManager } from '@nats-io/jetstream';
import { nanosFromIso } from './iso-time.js';

/**
 * --since/--until (export) and --from-seq/--to-seq (replay): a log sequence or an ISO time, turned
 * into an inclusive range of log sequences. Time bounds are found by a binary search over Direct Get
 * (works on nats-server 2.9+).
 */

/** A --since/--until value: a log sequence (digits) or an ISO time. */
export type Bound = { seq: number } | { timeNs: bigint };

export function parseBound(value: string): Bound | undefined {
  if (/^\d+$/.test(value)) {
    const seq = Number(value);
    return Number.isSafeInteger(seq) && seq >= 1 ? { seq } : undefined;
  }
  const timeNs = nanosFromIso(value);
  return timeNs === undefined ? undefined : { timeNs };
}

/** Checks --since/--until; returns the parsed bounds or a usage message. */
export function parseRange(
  since: string | undefined,
  until: string | undefined,
  names: [string, string] = ['--since', '--until'],
): { since?: Bound; until?: Bound } | string {
  const result: { since?: Bound; until?: Bound } = {};
  for (const [name, value, key] of [
    [names[0], since, 'since'],
    [names[1], until, 'until'],
  ] as const) {
    if (value === undefined) continue;
    const bound = parseBound(value);
    if (!bound) return `${name} must be a log sequence (a whole number ≥ 1) or an ISO 8601 time with Z or an offset, got ${JSON.stringify(value)}`;
    result[key] = bound;
  }
  const s = result.since;
  const u = result.until;
  if (s && u && 'seq' in s && 'seq' in u && s.seq > u.seq) return `${names[0]} ${s.seq} is after ${names[1]} ${u.seq}`;
  if (s && u && 'timeNs' in s && 'timeNs' in u && s.timeNs > u.timeNs) return `${names[0]} is later than ${names[1]}`;
  return result;
}

/**
 * The smallest log sequence s in [lo, hi + 1] such that the first message on `filter` at or after
 * s (and at or before hi) was stored at or after `timeNs`; hi + 1 when there is none. A binary
 * search with Direct Get: about log2(hi - lo) requests. Assumes the log's times do not go
 * backwards (JetStream stamps messages as it stores them).
 */
export async function seqAtTime(jsm: JetStreamManager, stream: string, filter: string, timeNs: bigint, lo: number, hi: number): Promise<number> {
  let a = Math.max(1, lo);
  let b = hi + 1;
  while (a < b) {
    const mid = a + Math.floor((b - a) / 2);
    const m = await jsm.direct.getMessage(stream, { seq: mid, next_by_subj: filter });
    if (!m || m.seq > hi) {
      b = mid;
      continue;
    }
    const t = nanosFromIso(m.timestamp);
    if (t === undefined) throw new Error(`message ${m.seq} of ${stream} has no readable time (${JSON.stringify(m.timestamp)})`);
    if (t >= timeNs) b = mid;
    else a = m.seq + 1;
  }
  return a;
}

/** Resolve --since/--until into an inclusive log sequence range within [firstSeq, lastSeq]. */
export async function resolveRange(
  jsm: JetStreamManager,
  stream: string,
  filter: string,
  state: { firstSeq: number; lastSeq: number },
  since: Bound | undefined,
  until: Bound | undefined,
): Promise<{ startSeq: number; endSeq: number }> {
  const lo = Math.max(1, state.firstSeq);
  const hi = state.lastSeq;
  let startSeq = lo;
  if (since && 'seq' in since) startSeq = Math.max(lo, since.seq);
  else if (since) startSeq = await seqAtTime(jsm, stream, filter, since.timeNs, lo, hi);
  let endSeq = hi;
  if (until && 'seq' in until) endSeq = Math.min(hi, until.seq);
  else if (until) endSeq = (await seqAtTime(jsm, stream, filter, until.timeNs + 1n, lo, hi)) - 1;
  return { startSeq, endSeq };
}
