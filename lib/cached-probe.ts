/**
 * A probe of something remote (a `SELECT 1`, a stream's info) for a health endpoint: its answer is
 * kept `ttlMs` so that a storm of scrapes costs the remote one probe a period, at most one probe is
 * in flight (one that hangs is waited on, never piled onto), and a probe slower than `timeoutMs`
 * answers `timedOut` while it goes on.
 */
export function cachedProbe<T>(
  probe: () => Promise<T>,
  opts: { ttlMs: number; timeoutMs: number; timedOut: () => T; failed: (err: unknown) => T; now?: () => number },
): () => Promise<T> {
  const now = opts.now ?? Date.now;
  let last: { at: number; value: T } | undefined;
  let inFlight: Promise<T> | undefined;
  return async () => {
    if (last && now() - last.at < opts.ttlMs) return last.value;
    const current = (inFlight ??= probe()
      .catch(opts.failed)
      .finally(() => {
        inFlight = undefined;
      }));
    let timer: NodeJS.Timeout | undefined;
    const value = await Promise.race([current, new Promise<T>((resolve) => (timer = setTimeout(() => resolve(opts.timedOut()), opts.timeoutMs)))]);
    clearTimeout(timer);
    last = { at: now(), value };
    return value;
  };
}
