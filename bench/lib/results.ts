/** Run files under bench/results/ (gitignored): one JSON per run plus its Markdown and SVG. */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, hostname, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { loadAverage } from './procstats.js';
import { REPO_ROOT } from './role-process.js';

export const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');

/** `20260122-043512-load-<label>-ab12`: sortable, unique. */
export function runId(scenario: string, label?: string): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
  const safe = label ? `-${label.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 40)}` : '';
  return `${stamp}-${scenario}${safe}-${randomBytes(2).toString('hex')}`;
}

/** Read-only git facts (rev-parse, status): which code was measured. */
export function gitInfo(): { commit?: string; dirty?: boolean } {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const status = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return { commit, dirty: status.trim().length > 0 };
  } catch {
    return {};
  }
}

export function machineInfo() {
  const c = cpus();
  return {
    host: hostname(),
    cpus: c.length,
    cpuModel: c[0]?.model ?? 'unknown',
    memTotalBytes: totalmem(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    loadAverage: loadAverage(),
  };
}

export function writeRun(dir: string, id: string, files: { json: unknown; md?: string; svg?: string }): { json: string; md?: string; svg?: string } {
  mkdirSync(dir, { recursive: true });
  const out: { json: string; md?: string; svg?: string } = { json: join(dir, `${id}.json`) };
  writeFileSync(out.json, `${JSON.stringify(files.json, null, 1)}\n`);
  if (files.md !== undefined) {
    out.md = join(dir, `${id}.md`);
    writeFileSync(out.md, files.md);
  }
  if (files.svg !== undefined) {
    out.svg = join(dir, `${id}.svg`);
    writeFileSync(out.svg, files.svg);
  }
  return out;
}

export const rel = (p: string) => relative(process.cwd(), p) || p;

/** A Markdown table; numbers are right-aligned. */
export function mdTable(head: string[], rows: (string | number)[][]): string {
  const numeric = (v: string | number | undefined) => typeof v === 'number' || v === '-' || v === '' || /^[-+]?[\d.,]+\s*[a-zA-Z%/×∞✓✗ ]*$/.test(String(v ?? ''));
  const align = head.map((_, i) => (i > 0 && rows.every((r) => numeric(r[i])) ? '---:' : '---'));
  return [`| ${head.join(' | ')} |`, `| ${align.join(' | ')} |`, ...rows.map((r) => `| ${r.map((c) => String(c)).join(' | ')} |`)].join('\n');
}

export function fmtMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '-';
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

/** Microseconds, whole: `815 µs`; `-` when there is no figure. */
export function fmtUs(us: number | undefined): string {
  return us === undefined || !Number.isFinite(us) ? '-' : `${Math.round(us).toLocaleString('en-US')} µs`;
}

export function fmtRate(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '-';
  return Math.round(v).toLocaleString('en-US');
}

export function fmtBytes(b: number | undefined): string {
  if (b === undefined || !Number.isFinite(b)) return '-';
  if (b >= 1 << 30) return `${(b / (1 << 30)).toFixed(2)} GiB`;
  if (b >= 1 << 20) return `${(b / (1 << 20)).toFixed(0)} MiB`;
  return `${(b / 1024).toFixed(0)} KiB`;
}

export function median(values: number[]): number {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}
