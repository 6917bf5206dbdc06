/** Latency summaries for the demo: nearest-rank percentiles over a list of millisecond samples. */

export type LatencySummary = { count: number; min: number; p50: number; p90: number; p99: number; max: number; mean: number };

/** The nearest-rank percentile (0 < p ≤ 100) of ascending `sorted`; NaN when there is nothing. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function summarize(samples: readonly number[]): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    count: sorted.length,
    min: sorted[0] ?? Number.NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? Number.NaN,
    mean: sorted.length ? sum / sorted.length : Number.NaN,
  };
}

/** `12.3 ms`, `1.24 s`; `-` for no value. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  return `${ms.toFixed(1)} ms`;
}

/** One line: `p50 3.1 ms  p90 5.0 ms  p99 9.8 ms  max 12 ms`. */
export function formatSummary(s: LatencySummary): string {
  return (['p50', 'p90', 'p99', 'max'] as const).map((k) => `${k} ${formatMs(s[k]).padStart(8)}`).join('   ');
}
