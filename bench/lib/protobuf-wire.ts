/**
 * Just enough of the protobuf wire format to read a message without a schema compiler: the fields
 * of one message in order (varints, length-delimited bytes, fixed 32/64-bit), packed repeated
 * varints, and UTF-8 strings. Used to read Go's pprof profiles (bench/lib/pprof.ts) without a
 * dependency.
 */

export class ProtobufError extends Error {
  override name = 'ProtobufError';
}

export type WireField =
  | { field: number; wireType: 0; varint: number }
  /** 1: fixed 64-bit, 2: length-delimited, 5: fixed 32-bit; the raw bytes (a view, not a copy). */
  | { field: number; wireType: 1 | 2 | 5; bytes: Uint8Array };

/**
 * A varint at `pos` and the position after it, as an int64 (two's complement: -1 is ten bytes).
 * Numbers, not bigints: exact up to 2^53, which covers ids, counts and nanosecond durations; a
 * larger value (a timestamp in ns) comes out rounded.
 */
export function readVarint(buf: Uint8Array, pos: number): [value: number, next: number] {
  // up to 7 bytes (49 bits) plain arithmetic is exact; longer ones (large or negative) go through a bigint
  let value = 0;
  let mul = 1;
  for (let i = 0; i < 7; i++) {
    const b = buf[pos + i];
    if (b === undefined) throw new ProtobufError(`truncated varint at byte ${pos}`);
    value += (b & 0x7f) * mul;
    if (b < 0x80) return [value, pos + i + 1];
    mul *= 128;
  }
  let big = 0n;
  for (let i = 0; i < 10; i++) {
    const b = buf[pos + i];
    if (b === undefined) throw new ProtobufError(`truncated varint at byte ${pos}`);
    big |= BigInt(b & 0x7f) << BigInt(7 * i);
    if (b < 0x80) return [Number(BigInt.asIntN(64, big)), pos + i + 1];
  }
  throw new ProtobufError(`varint longer than 10 bytes at byte ${pos}`);
}

/** The fields of one message, in the order they are on the wire (a repeated field comes once per element, or once packed). */
export function* fieldsOf(buf: Uint8Array): Generator<WireField> {
  let pos = 0;
  while (pos < buf.length) {
    const [key, afterKey] = readVarint(buf, pos);
    const field = Math.floor(key / 8);
    const wireType = key % 8;
    if (field === 0) throw new ProtobufError(`field number 0 at byte ${pos}`);
    pos = afterKey;
    if (wireType === 0) {
      const [varint, next] = readVarint(buf, pos);
      pos = next;
      yield { field, wireType, varint };
      continue;
    }
    let length: number;
    if (wireType === 1) length = 8;
    else if (wireType === 5) length = 4;
    else if (wireType === 2) [length, pos] = readVarint(buf, pos);
    else throw new ProtobufError(`unsupported wire type ${wireType} (field ${field}) at byte ${pos}`);
    if (length < 0 || pos + length > buf.length) throw new ProtobufError(`field ${field} runs past the end (${length} bytes at byte ${pos} of ${buf.length})`);
    yield { field, wireType, bytes: buf.subarray(pos, pos + length) };
    pos += length;
  }
}

/** A repeated varint field's values from one occurrence: packed (length-delimited) or a single unpacked value. */
export function repeatedVarints(f: WireField): number[] {
  if (f.wireType === 0) return [f.varint];
  if (f.wireType !== 2) throw new ProtobufError(`field ${f.field}: expected varints, got wire type ${f.wireType}`);
  const out: number[] = [];
  for (let pos = 0; pos < f.bytes.length; ) {
    const [v, next] = readVarint(f.bytes, pos);
    out.push(v);
    pos = next;
  }
  return out;
}

/** A varint field's value; a typed error for anything else (a schema mismatch, not a value to guess). */
export function varintOf(f: WireField): number {
  if (f.wireType !== 0) throw new ProtobufError(`field ${f.field}: expected a varint, got wire type ${f.wireType}`);
  return f.varint;
}

/** A length-delimited field's bytes (a sub-message, a string, packed values). */
export function bytesOf(f: WireField): Uint8Array {
  if (f.wireType !== 2) throw new ProtobufError(`field ${f.field}: expected length-delimited bytes, got wire type ${f.wireType}`);
  return f.bytes;
}

const decoder = new TextDecoder();

export function stringOf(f: WireField): string {
  return decoder.decode(bytesOf(f));
}
