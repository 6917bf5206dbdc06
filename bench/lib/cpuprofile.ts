/**
 * Where the time goes, from V8 .cpuprofile files (node --cpu-prof): self time per function and per
 * package (node_modules/<pkg>, node internals, our own directories, GC, idle).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

type ProfileNode = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] };
type Profile = { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };

export type ProfileSummary = {
  file: string;
  totalMs: number;
  /** Busy time: everything but (idle) and (program). */
  busyMs: number;
  categories: { name: string; ms: number; pct: number }[];
  functions: { name: string; ms: number; pct: number }[];
};

function category(url: string, fn: string): string {
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(idle)') return '(idle)';
  if (fn === '(program)') return '(program: native, not JS)';
  if (url === '') return fn.startsWith('(') ? fn : 'native / builtins';
  if (url.startsWith('node:')) return 'node internals';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  const own = /\/work\/[^/]+\/([^/]+)\//.exec(url) ?? /file:\/\/.*?\/(lib|gateway|engine|projections|bench|cli|schemas)\//.exec(url);
  return own ? `${own[1]}/` : url.split('/').slice(-2).join('/');
}

export function summarizeProfile(file: string, top = 12): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  const fns = new Map<string, number>();
  const cats = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (!n) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    total += us;
    const cat = category(url, functionName);
    if (cat === '(idle)' || cat.startsWith('(program')) idle += us;
    cats.set(cat, (cats.get(cat) ?? 0) + us);
    const short = url ? `${url.replace(/^file:\/\//, '').replace(/.*\/node_modules\//, '').replace(/^\/work\/[^/]+\//, '')}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'}${short ? ` ${short}` : ''}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
  }
  const busy = total - idle;
  const rank = (m: Map<string, number>, skipIdle: boolean) =>
    [...m.entries()]
      .filter(([k]) => !skipIdle || !(k === '(idle)' || k.startsWith('(idle)') || k.startsWith('(program')))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: us / 1000, pct: busy > 0 ? (us / busy) * 100 : 0 }));
  return { file, totalMs: total / 1000, busyMs: busy / 1000, categories: rank(cats, true), functions: rank(fns, true) };
}

/**
 * One summary per process directory under `dir` (`<dir>/<process>/*.cpuprofile`): node writes one
 * profile per thread, and the busiest one is the process's main thread (the others are loader
 * threads). `name` is the directory's name.
 */
export function summarizeDir(dir: string, top = 12): (ProfileSummary & { name: string })[] {
  let subdirs: string[] = [];
  try {
    subdirs = readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  } catch {
    return [];
  }
  const out: (ProfileSummary & { name: string })[] = [];
  for (const name of subdirs.sort()) {
    const files = readdirSync(join(dir, name)).filter((f) => f.endsWith('.cpuprofile'));
    const summaries = files.map((f) => summarizeProfile(join(dir, name, f), top));
    const main = summaries.sort((a, b) => b.busyMs - a.busyMs)[0];
    if (main) out.push({ ...main, name });
  }
  return out;
}
