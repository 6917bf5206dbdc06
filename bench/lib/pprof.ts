/**
 * Where a Go process's CPU goes, from a pprof CPU profile (net/http/pprof's /debug/pprof/profile:
 * gzip-compressed protobuf, github.com/google/pprof proto/profile.proto): self time per function
 * (where the samples landed), cumulative time per function (the function and everything it
 * called: what shows a whole operation such as a JetStream store write), and self time per package.
 * Read here with a small wire-format reader, as there is no Go toolchain to run `go tool pprof`.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { bytesOf, fieldsOf, repeatedVarints, stringOf, varintOf } from './protobuf-wire.js';

export class PprofError extends Error {
  override name = 'PprofError';
}

/** The parts of a profile the summary needs, string indexes resolved. */
export type PprofProfile = {
  sampleTypes: { type: string; unit: string }[];
  samples: { locationIds: number[]; values: number[] }[];
  /** Per location id: its frames' function names, innermost first (more than one when calls were inlined). */
  locations: Map<number, string[]>;
  durationNanos: number;
};

export type PprofRow = { name: string; ms: number; pct: number };

export type PprofSummary = {
  /** Wall-clock time the profile covers. */
  durationMs: number;
  /** CPU time sampled, all threads together (can exceed durationMs on more than one core). */
  busyMs: number;
  /** Samples taken (the "samples" count; each record of the profile aggregates all samples of one stack). */
  samples: number;
  /** Self time per Go package, % of busy time. */
  categories: PprofRow[];
  /** Self time per function (the innermost frame of each sample). */
  self: PprofRow[];
  /** Time per function with everything it called (each sample counted once per function, recursion or not). */
  cumulative: PprofRow[];
};

type RawFunction = { name: number };
type RawLocation = { address: number; functionIds: number[] };

function decodeValueType(buf: Uint8Array): { type: number; unit: number } {
  const vt = { type: 0, unit: 0 };
  for (const f of fieldsOf(buf)) {
    if (f.field === 1) vt.type = varintOf(f);
    else if (f.field === 2) vt.unit = varintOf(f);
  }
  return vt;
}

function decodeSample(buf: Uint8Array): { locationIds: number[]; values: number[] } {
  const s = { locationIds: [] as number[], values: [] as number[] };
  for (const f of fieldsOf(buf)) {
    if (f.field === 1) s.locationIds.push(...repeatedVarints(f));
    else if (f.field === 2) s.values.push(...repeatedVarints(f));
  }
  return s;
}

function decodeLocation(buf: Uint8Array): RawLocation & { id: number } {
  const loc = { id: 0, address: 0, functionIds: [] as number[] };
  for (const f of fieldsOf(buf)) {
    if (f.field === 1) loc.id = varintOf(f);
    else if (f.field === 3) loc.address = varintOf(f);
    else if (f.field === 4) {
      for (const lf of fieldsOf(bytesOf(f))) if (lf.field === 1) loc.functionIds.push(varintOf(lf));
    }
  }
  return loc;
}

function decodeFunction(buf: Uint8Array): RawFunction & { id: number } {
  const fn = { id: 0, name: 0 };
  for (const f of fieldsOf(buf)) {
    if (f.field === 1) fn.id = varintOf(f);
    else if (f.field === 2) fn.name = varintOf(f);
  }
  return fn;
}

/** Decode a profile, gzip-compressed (as served and saved) or not. */
export function decodePprof(data: Uint8Array): PprofProfile {
  const buf = data[0] === 0x1f && data[1] === 0x8b ? gunzipSync(data) : data;
  const strings: string[] = [];
  const sampleTypes: { type: number; unit: number }[] = [];
  const samples: PprofProfile['samples'] = [];
  const rawLocations: (RawLocation & { id: number })[] = [];
  const functions = new Map<number, RawFunction>();
  let durationNanos = 0;
  for (const f of fieldsOf(buf)) {
    switch (f.field) {
      case 1:
        sampleTypes.push(decodeValueType(bytesOf(f)));
        break;
      case 2:
        samples.push(decodeSample(bytesOf(f)));
        break;
      case 4:
        rawLocations.push(decodeLocation(bytesOf(f)));
        break;
      case 5: {
        const fn = decodeFunction(bytesOf(f));
        functions.set(fn.id, fn);
        break;
      }
      case 6:
        strings.push(stringOf(f));
        break;
      case 10:
        durationNanos = varintOf(f);
        break;
    }
  }
  // the string table may come after what refers to it: resolve at the end
  const str = (i: number) => {
    const s = strings[i];
    if (s === undefined) throw new PprofError(`string index ${i} outside the string table (${strings.length} strings)`);
    return s;
  };
  const locations = new Map<number, string[]>();
  for (const loc of rawLocations) {
    const names = loc.functionIds.map((id) => {
      const fn = functions.get(id);
      return fn ? str(fn.name) || '(unnamed)' : `(function ${id})`;
    });
    locations.set(loc.id, names.length ? names : [`0x${loc.address.toString(16)}`]);
  }
  return { sampleTypes: sampleTypes.map((t) => ({ type: str(t.type), unit: str(t.unit) })), samples, locations, durationNanos };
}

/**
 * A Go symbol's package path: up to the first "." after the last "/" ("runtime.mallocgc" →
 * "runtime"). A symbol with no package is the runtime's assembly (aeshashbody, memeqbody).
 */
export function goPackage(symbol: string): string {
  const slash = symbol.lastIndexOf('/');
  const dot = symbol.indexOf('.', slash + 1);
  return dot > 0 ? symbol.slice(0, dot) : '(assembly)';
}

/**
 * A symbol as a table shows it: a module's package by its last path element
 * ("github.com/nats-io/nats-server/v2/server.(*client).flush" → "server.(*client).flush"), the
 * standard library's in full ("internal/poll.(*FD).Write": "poll." alone could be anything).
 */
export function shortSymbol(symbol: string): string {
  const pkg = goPackage(symbol);
  const slash = pkg.lastIndexOf('/');
  const isModule = pkg.split('/')[0]!.includes('.');
  return isModule && slash >= 0 ? symbol.slice(slash + 1) : symbol;
}

/** The CPU time value of each sample: the sample type "cpu" in nanoseconds (Go writes samples/count first). */
function cpuValueIndex(p: PprofProfile): number {
  const cpu = p.sampleTypes.findIndex((t) => t.type === 'cpu' && t.unit === 'nanoseconds');
  const i = cpu >= 0 ? cpu : p.sampleTypes.findIndex((t) => t.unit === 'nanoseconds');
  if (i < 0) throw new PprofError(`not a CPU profile: sample types ${p.sampleTypes.map((t) => `${t.type}/${t.unit}`).join(', ') || 'none'}`);
  return i;
}

export function summarizePprof(p: PprofProfile, top = 15): PprofSummary {
  const vi = cpuValueIndex(p);
  const ci = p.sampleTypes.findIndex((t) => t.type === 'samples' && t.unit === 'count');
  let samples = 0;
  const self = new Map<string, number>();
  const cumulative = new Map<string, number>();
  const packages = new Map<string, number>();
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  let busy = 0;
  for (const s of p.samples) {
    const ns = s.values[vi] ?? 0;
    if (ns <= 0) continue;
    busy += ns;
    samples += ci >= 0 ? (s.values[ci] ?? 0) : 1;
    const frames = s.locationIds.flatMap((id) => p.locations.get(id) ?? [`(location ${id})`]);
    const leaf = frames[0] ?? '(no stack)';
    add(self, leaf, ns);
    add(packages, goPackage(leaf), ns);
    for (const fn of new Set(frames)) add(cumulative, fn, ns);
  }
  const rank = (m: Map<string, number>, name: (k: string) => string) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)) // ties by name: the same profile, the same table
      .slice(0, top)
      .map(([k, ns]) => ({ name: name(k), ms: ns / 1e6, pct: busy > 0 ? (ns / busy) * 100 : 0 }));
  const shortPackage = (k: string) => k.replace(/^github\.com\//, '');
  return {
    durationMs: p.durationNanos / 1e6,
    busyMs: busy / 1e6,
    samples,
    categories: rank(packages, shortPackage),
    self: rank(self, shortSymbol),
    cumulative: rank(cumulative, shortSymbol),
  };
}

export function summarizePprofFile(file: string, top = 15): PprofSummary {
  return summarizePprof(decodePprof(readFileSync(file)), top);
}
