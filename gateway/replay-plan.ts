/**
 * Which inbox replays to serve from one shared scan of the stream, and which to walk one by one.
 *
 * Walking a user's inbox is one Direct Get `next_by_subj` per entry, and in nats-server 2.9 each
 * of those scans the stream linearly from the cursor to the user's next entry: resuming after N
 * stream entries costs the server ~N message visits whatever the user's own count is. A shared
 * scan (one ordered consumer from the oldest cursor of a group to its newest end) sends every
 * entry in that range to the gateway once. It pays when enough users resume over the same range,
 * as after a reconnect storm.
 */

/**
 * How many entries the server skips in a `next_by_subj` walk for the cost of sending the gateway
 * one entry of a shared scan (transfer, client parsing, dispatch). An estimate: a skipped entry is
 * a cache lookup in the server (~50 ns), a sent one a few µs end to end.
 */
export const SCAN_COST_PER_ENTRY = 32;

export type ReplayRange = { afterSeq: number; untilSeq: number };

export type ReplayPlan<R extends ReplayRange> = {
  /** Served by one scan of (from - 1, until]. */
  scan: R[];
  from: number;
  until: number;
  /** Walked one by one. */
  walk: R[];
};

/**
 * Scan the requests with the newest cursors, down to the cursor where the walks saved (the sum of
 * their ranges) most exceed the scan's cost (its range × SCAN_COST_PER_ENTRY); walk the rest.
 * Requests with an unbounded range (until = Infinity) are always walked.
 */
export function planReplay<R extends ReplayRange>(requests: R[], costPerEntry = SCAN_COST_PER_ENTRY): ReplayPlan<R> {
  const byCursor: R[] = [];
  const walk: R[] = [];
  for (const r of requests) (Number.isFinite(r.untilSeq) && r.untilSeq > r.afterSeq ? byCursor : walk).push(r);
  byCursor.sort((a, b) => b.afterSeq - a.afterSeq);
  let saved = 0;
  let until = 0;
  let best = { gain: 0, count: 0, until: 0 };
  for (let i = 0; i < byCursor.length; i++) {
    const r = byCursor[i]!;
    saved += r.untilSeq - r.afterSeq;
    until = Math.max(until, r.untilSeq);
    const gain = saved - costPerEntry * (until - r.afterSeq);
    if (gain > best.gain) best = { gain, count: i + 1, until };
  }
  if (best.count === 0) return { scan: [], from: 0, until: 0, walk: requests };
  const scan = byCursor.slice(0, best.count);
  for (let i = best.count; i < byCursor.length; i++) walk.push(byCursor[i]!);
  return { scan, from: scan[scan.length - 1]!.afterSeq + 1, until: best.until, walk };
}
