/**
 * A one-line progress bar for long CLI jobs (`parley export`), drawn on stderr only when stderr is
 * a terminal: `[#########.........]  45,000/100,000  45%  12,345 ev/s  ETA 0:04`. It redraws on a
 * timer (not per item), so counting an item costs one addition.
 */

type ProgressStream = { write(chunk: string): unknown; isTTY?: boolean; columns?: number };

export type ProgressOptions = {
  /** Items expected; 0 or undefined draws a counter without bar or ETA. */
  total?: number;
  stream: ProgressStream;
  /** Default: the stream is a TTY. */
  enabled?: boolean;
  /** Redraw period, default 100 ms. */
  intervalMs?: number;
  unit?: string;
  now?: () => number;
};

export class Progress {
  readonly #stream: ProgressStream;
  readonly #enabled: boolean;
  readonly #unit: string;
  readonly #now: () => number;
  readonly #started: number;
  #timer: NodeJS.Timeout | undefined;
  #total: number;
  #done = 0;
  #drawn = false;

  constructor(options: ProgressOptions) {
    this.#stream = options.stream;
    this.#enabled = options.enabled ?? options.stream.isTTY === true;
    this.#unit = options.unit ?? 'ev';
    this.#now = options.now ?? (() => performance.now());
    this.#started = this.#now();
    this.#total = options.total ?? 0;
    if (this.#enabled) {
      this.#timer = setInterval(() => this.draw(), options.intervalMs ?? 100);
      this.#timer.unref();
    }
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  get done(): number {
    return this.#done;
  }

  get total(): number {
    return this.#total;
  }

  set total(value: number) {
    this.#total = value;
  }

  /** Count `n` more items done. */
  add(n = 1): void {
    this.#done += n;
  }

  /** Seconds since the start. */
  elapsedSec(): number {
    return (this.#now() - this.#started) / 1000;
  }

  /** The current line, without control characters (exposed for tests). */
  line(width = 80): string {
    const elapsed = this.elapsedSec();
    const rate = elapsed > 0 ? this.#done / elapsed : 0;
    const total = Math.max(this.#total, this.#done);
    const counts = total > 0 ? `${formatCount(this.#done)}/${formatCount(total)}` : formatCount(this.#done);
    const parts = [counts];
    if (total > 0) parts.push(`${Math.floor((this.#done / total) * 100)}%`);
    parts.push(`${formatCount(Math.round(rate))} ${this.#unit}/s`);
    if (total > 0) parts.push(`ETA ${rate > 0 ? formatDuration((total - this.#done) / rate) : '--:--'}`);
    const text = parts.join('  ');
    const barWidth = Math.min(30, width - text.length - 4);
    if (total <= 0 || barWidth < 10) return text.slice(0, Math.max(0, width - 1));
    const filled = Math.min(barWidth, Math.floor((this.#done / total) * barWidth));
    return `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}] ${text}`;
  }

  draw(): void {
    if (!this.#enabled) return;
    this.#stream.write(`\r\x1b[K${this.line(this.#stream.columns || 80)}`);
    this.#drawn = true;
  }

  /** Stop redrawing and erase the bar, leaving the line free for a summary. */
  finish(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#drawn) this.#stream.write('\r\x1b[K');
    this.#drawn = false;
  }
}

/** 1234567 → "1,234,567". */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Seconds → "0:07", "12:34", "1:02:03". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.ceil(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** Bytes → "812 B", "1.4 MiB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}
