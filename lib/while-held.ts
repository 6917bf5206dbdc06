import type { Logger } from './log.js';

/** Back-off between attempts at a leased partition's consumer: from the first to the last, doubling. */
const RETRY_MS = { first: 250, last: 5_000 };

/**
 * Run a leased partition's work (make its consumer, consume) until the partition is let go, and
 * start it again when it fails or ends while the lease is still ours.
 *
 * Why: on a NATS cluster, a node going down moves stream and consumer leaders, and the JetStream
 * API calls that make a consumer time out meanwhile. A partition taken then, whose start failed
 * once, stayed held (the lease renews on its own) with nothing consuming it: its commands were
 * never decided (test/e2e/cluster.test.ts). Each attempt first confirms the lease from the bucket,
 * so a holder whose lease was taken without its knowing yet does not make the consumer again from
 * under the new owner.
 */
export async function runWhileHeld(opts: {
  run: () => Promise<void>;
  /** True once the partition is being let go (its lease lost or given back, or the process stopping). */
  stopping: () => boolean;
  /** Whether the lease is still ours (PartitionLeases.confirm). */
  confirm: () => Promise<boolean>;
  log: Logger;
}): Promise<void> {
  const { run, stopping, confirm, log } = opts;
  let delay = RETRY_MS.first;
  for (let attempt = 1; !stopping(); attempt++) {
    if (attempt > 1 && !(await confirm())) {
      log.warn({ attempt }, 'partition not started again: its lease is no longer ours');
      return;
    }
    try {
      await run();
      if (stopping()) return;
      log.warn({ attempt, retryInMs: delay }, 'partition consumer ended while its lease is held; starting it again');
    } catch (err) {
      if (stopping()) return;
      log.warn({ err, attempt, retryInMs: delay }, 'partition consumer failed; starting it again');
    }
    await sleepUnless(delay, stopping);
    delay = Math.min(delay * 2, RETRY_MS.last);
  }
}

/** Sleep `ms`, waking early once `stop()` turns true (checked every 50 ms). */
async function sleepUnless(ms: number, stop: () => boolean): Promise<void> {
  const until = Date.now() + ms;
  while (!stop() && Date.now() < until) await new Promise((r) => setTimeout(r, Math.min(50, until - Date.now())));
}
