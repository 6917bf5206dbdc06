/**
 * A small HDR-style histogram of non-negative integers (the bench records microseconds): exact
 * below 2048, then 1024 linear sub-buckets per power of two, so every recorded value is known to
 * within 0.1 %. Histograms of different processes merge by adding counts, and travel as sparse
 * [index, count] pairs. No dependency, nothing to warm up, 92 KiB per histogram.
 */

const SUB_BITS = 10;
const SUB = 1 << SUB_BITS; // 1024
const LINEAR = SUB * 2; // values below this are exact
/** Values are clamped to 2^32 - 1 (µs: 71 minutes); the exact max is kept separately. */
const MAX_SHIFT = 32 - (SUB_BITS + 1);
const SIZE = LINEAR + MAX_SHIFT * SUB;

export type SparseHistogram = { n: number; min: number; max: number; sum: number; b: number[] };

export type Summary = {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
};

export function indexOf(value: number): number {
  const v = value <= 0 ? 0 : value >= 0xffffffff ? 0xffffffff : Math.floor(value);
  if (v < LINEAR) return v;
  const shift = 32 - Math.clz32(v) - (SUB_BITS + 1);
  return LINEAR + (shift - 1) * SUB + ((v >>> shift) - SUB);
}

/** The highest value that lands in bucket `index` (what percentiles report, as HdrHistogram does). */
export function highestOf(index: number): number {
  if (index < LINEAR) return index;
  const shift = Math.floor((index - LINEAR) / SUB) + 1;
  const sub = ((index - LINEAR) % SUB) + SUB;
  return (sub + 1) * 2 ** shift - 1;
}

export class Histogram {
  counts = new Uint32Array(SIZE);
  n = 0;
  min = Infinity;
  max = 0;
  sum = 0;

  record(value: number): void {
    const v = value < 0 ? 0 : value;
    this.counts[indexOf(v)]!++;
    this.n++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  add(other: Histogram | SparseHistogram): void {
    if (other instanceof Histogram) {
      for (let i = 0; i < SIZE; i++) if (other.counts[i]) this.counts[i]! += other.counts[i]!;
    } else {
      for (let i = 0; i < other.b.length; i += 2) this.counts[other.b[i]!]! += other.b[i + 1]!;
    }
    if (other.n > 0) {
      this.n += other.n;
      this.sum += other.sum;
      this.min = Math.min(this.min, other.min);
      this.max = Math.max(this.max, other.max);
    }
  }

  /** The value at percentile p (0 < p ≤ 100): the highest equivalent value of its bucket, never above max. */
  percentile(p: number): number {
    if (this.n === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.n));
    let seen = 0;
    for (let i = 0; i < SIZE; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(highestOf(i), this.max);
    }
    return this.max;
  }

  summary(scale = 1): Summary {
    const s = (v: number) => (Number.isFinite(v) ? v / scale : Number.NaN);
    return {
      count: this.n,
      min: s(this.n ? this.min : Number.NaN),
      mean: s(this.n ? this.sum / this.n : Number.NaN),
      p50: s(this.percentile(50)),
      p90: s(this.percentile(90)),
      p99: s(this.percentile(99)),
      p999: s(this.percentile(99.9)),
      max: s(this.n ? this.max : Number.NaN),
    };
  }

  toSparse(): SparseHistogram {
    const b: number[] = [];
    for (let i = 0; i < SIZE; i++) if (this.counts[i]) b.push(i, this.counts[i]!);
    return { n: this.n, min: this.n ? this.min : 0, max: this.max, sum: this.sum, b };
  }

  static fromSparse(s: SparseHistogram): Histogram {
    const h = new Histogram();
    h.add(s);
    return h;
  }

  reset(): void {
    this.counts.fill(0);
    this.n = 0;
    this.min = Infinity;
    this.max = 0;
    this.sum = 0;
  }
}
