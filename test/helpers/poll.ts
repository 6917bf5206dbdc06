/**
 * Poll until `check` passes (or the time is up), and return the last value: read models trail the
 * log by the projector's batch delay, so a test asks again rather than sleeping a fixed time.
 */
export async function pollUntil<T>(probe: () => Promise<T>, check: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (check(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}
