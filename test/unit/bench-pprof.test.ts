// nats-server's CPU profile in the load bench's report (bench/lib/pprof.ts, bench/lib/protobuf-wire.ts):
// a pprof profile built here byte by byte (the protobuf wire format by hand), decoded and summarised
// into self and cumulative time per function.
import t from 'tap';
import { gzipSync } from 'node:zlib';
import { decodePprof, goPackage, PprofError, shortSymbol, summarizePprof } from '../../bench/lib/pprof.js';
import { fieldsOf, ProtobufError, readVarint } from '../../bench/lib/protobuf-wire.js';

// ---------------------------------------------------------------- a minimal protobuf encoder
function varint(v: number | bigint): number[] {
  let x = BigInt.asUintN(64, BigInt(v));
  const out: number[] = [];
  do {
    const b = Number(x & 0x7fn);
    x >>= 7n;
    out.push(x > 0n ? b | 0x80 : b);
  } while (x > 0n);
  return out;
}
const key = (field: number, wireType: number) => varint(field * 8 + wireType);
const vf = (field: number, v: number | bigint) => [...key(field, 0), ...varint(v)];
const lf = (field: number, bytes: number[]) => [...key(field, 2), ...varint(bytes.length), ...bytes];
const packed = (field: number, vs: number[]) => lf(field, vs.flatMap((v) => varint(v)));
const str = (field: number, s: string) => lf(field, [...new TextEncoder().encode(s)]);

const SERVER = 'github.com/nats-io/nats-server/v2/server';
const strings = ['', 'samples', 'count', 'cpu', 'nanoseconds', 'main.main', `${SERVER}.(*fileStore).writeMsgRecord`, 'runtime.mallocgc', 'syscall.Syscall', `${SERVER}.(*stream).processJetStreamMsg`];
const S = (s: string) => strings.indexOf(s);
const fn = (id: number, name: string) => lf(5, [...vf(1, id), ...vf(2, S(name))]);
/** A location with its frames innermost first (more than one: inlined calls). */
const loc = (id: number, fnIds: number[]) => lf(4, [...vf(1, id), ...fnIds.flatMap((f) => lf(4, [...vf(1, f), ...vf(2, 10 + f)]))]);
const TEN_MS = 10_000_000;
const sample = (locs: number[], n: number) => lf(2, [...packed(1, locs), ...packed(2, [n, n * TEN_MS])]);

/**
 * main.main → processJetStreamMsg → writeMsgRecord, with: a syscall under writeMsgRecord (30 ms),
 * mallocgc inlined into writeMsgRecord (20 ms, one location of two frames), main.main itself
 * (10 ms), and writeMsgRecord calling itself (40 ms: self for it, cumulative counted once).
 */
function profileBytes(): Uint8Array {
  return Uint8Array.from([
    ...lf(1, [...vf(1, S('samples')), ...vf(2, S('count'))]),
    ...lf(1, [...vf(1, S('cpu')), ...vf(2, S('nanoseconds'))]),
    ...sample([4, 5, 2, 1], 3),
    ...sample([3, 2, 1], 2),
    // location ids unpacked, one varint per element: readers must take both forms
    ...lf(2, [...vf(1, 1), ...packed(2, [1, TEN_MS])]),
    ...sample([5, 5, 2, 1], 4),
    ...loc(1, [1]),
    ...loc(2, [5]),
    ...loc(3, [3, 2]),
    ...loc(4, [4]),
    ...loc(5, [2]),
    ...fn(1, 'main.main'),
    ...fn(2, `${SERVER}.(*fileStore).writeMsgRecord`),
    ...fn(3, 'runtime.mallocgc'),
    ...fn(4, 'syscall.Syscall'),
    ...fn(5, `${SERVER}.(*stream).processJetStreamMsg`),
    // the string table after what refers to it, as a writer may put it
    ...strings.flatMap((s) => str(6, s)),
    ...vf(9, 1_765_000_000_000_000_000n), // time_nanos: more than 2^53
    ...vf(10, 1_000_000_000), // duration_nanos
  ]);
}

t.test('the wire format: varints of every length, negative int64, truncation', async (t) => {
  t.same(readVarint(Uint8Array.from([0x96, 0x01]), 0), [150, 2]);
  t.same(readVarint(Uint8Array.from(varint(2 ** 50 + 3)), 0), [2 ** 50 + 3, 8], 'an 8-byte varint, exact');
  t.same(readVarint(Uint8Array.from(varint(-1)), 0), [-1, 10], '-1 is ten bytes');
  t.throws(() => readVarint(Uint8Array.from([0x80, 0x80]), 0), ProtobufError);
  t.throws(() => [...fieldsOf(Uint8Array.from([...key(3, 2), 5, 1, 2]))], ProtobufError, 'a length past the end');
  t.throws(() => [...fieldsOf(Uint8Array.from(key(3, 3)))], ProtobufError, 'groups (wire type 3) are not read');
});

t.test('decode: string indexes resolved, inlined frames innermost first, both sample encodings', async (t) => {
  const p = decodePprof(profileBytes());
  t.same(p.sampleTypes, [{ type: 'samples', unit: 'count' }, { type: 'cpu', unit: 'nanoseconds' }]);
  t.equal(p.samples.length, 4);
  t.same(p.samples[2], { locationIds: [1], values: [1, TEN_MS] });
  t.same(p.locations.get(3), ['runtime.mallocgc', `${SERVER}.(*fileStore).writeMsgRecord`]);
  t.equal(p.durationNanos, 1e9);
  t.same(decodePprof(gzipSync(profileBytes())), p, 'gzip-compressed (as served) reads the same');
});

t.test('summary: self time where samples landed, cumulative once per function per sample, packages', async (t) => {
  const s = summarizePprof(decodePprof(gzipSync(profileBytes())));
  t.equal(s.busyMs, 100);
  t.equal(s.durationMs, 1000);
  t.equal(s.samples, 10, 'samples taken (the count values), not stack records');
  t.same(
    s.self.map((r) => [r.name, r.ms, r.pct]),
    [
      ['server.(*fileStore).writeMsgRecord', 40, 40],
      ['syscall.Syscall', 30, 30],
      ['runtime.mallocgc', 20, 20],
      ['main.main', 10, 10],
    ],
  );
  t.same(
    s.cumulative.map((r) => [r.name, r.ms]),
    [
      ['main.main', 100],
      ['server.(*fileStore).writeMsgRecord', 90], // 30 + 20 (inlined mallocgc) + 40 (recursive, once)
      ['server.(*stream).processJetStreamMsg', 90], // a tie: by name
      ['syscall.Syscall', 30],
      ['runtime.mallocgc', 20],
    ],
  );
  t.same(
    s.categories.map((r) => [r.name, r.pct]),
    [
      ['nats-io/nats-server/v2/server', 40],
      ['syscall', 30],
      ['runtime', 20],
      ['main', 10],
    ],
  );
  const top2 = summarizePprof(decodePprof(profileBytes()), 2);
  t.same(top2.self.map((r) => r.name), ['server.(*fileStore).writeMsgRecord', 'syscall.Syscall'], 'top N');
  t.same(top2.cumulative.map((r) => r.ms), [100, 90]);
  t.equal(top2.busyMs, 100, 'busy time counts every sample, not just the top N');
});

t.test('not a CPU profile: a typed error, not a summary of counts', async (t) => {
  const heap = Uint8Array.from([...lf(1, [...vf(1, 1), ...vf(2, 2)]), ...str(6, ''), ...str(6, 'inuse_space'), ...str(6, 'bytes')]);
  t.throws(() => summarizePprof(decodePprof(heap)), PprofError);
  t.throws(() => decodePprof(Uint8Array.from(lf(1, [...vf(1, 7)]))), PprofError, 'a string index outside the table');
});

t.test('symbols: package paths and the names the tables show', async (t) => {
  t.equal(goPackage(`${SERVER}.(*client).flushOutbound`), SERVER);
  t.equal(goPackage('runtime.mallocgc'), 'runtime');
  t.equal(goPackage('internal/poll.(*FD).Write'), 'internal/poll');
  t.equal(goPackage('aeshashbody'), '(assembly)', 'no package: the runtime\'s assembly');
  t.equal(shortSymbol(`${SERVER}.(*client).flushOutbound`), 'server.(*client).flushOutbound');
  t.equal(shortSymbol('github.com/klauspost/compress/s2.encodeBlock'), 's2.encodeBlock');
  t.equal(shortSymbol('runtime/internal/syscall.Syscall6'), 'runtime/internal/syscall.Syscall6', 'the standard library in full');
});
