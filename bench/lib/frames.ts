/**
 * Cheap frames for load generators. Sends: a frame is encoded once per conversation with a
 * placeholder id, and each send copies the bytes and writes its id over the placeholder (the same
 * length, so JSON and msgpack stay valid). Receives: the few fields the generator needs (type,
 * inbox seq, tempId) are read straight from the bytes when the frame has the server's usual layout
 * (`{"type":…,"seq":…` in JSON; a map starting with type and seq in msgpack), and from a full decode
 * otherwise.
 */
import { Packr } from 'msgpackr';

export type Codec = 'json' | 'msgpack';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export class FrameTemplate {
  readonly bytes: Buffer;
  readonly offsets: number[];
  readonly idLength: number;

  constructor(
    readonly codec: Codec,
    frame: unknown,
    placeholder: string,
  ) {
    if (!/^[\x21-\x7e]+$/.test(placeholder)) throw new Error('placeholder must be visible ASCII');
    this.bytes = codec === 'json' ? Buffer.from(JSON.stringify(frame), 'utf8') : Buffer.from(packr.pack(frame));
    this.idLength = placeholder.length;
    const needle = Buffer.from(placeholder, 'latin1');
    this.offsets = [];
    for (let i = this.bytes.indexOf(needle); i >= 0; i = this.bytes.indexOf(needle, i + needle.length)) this.offsets.push(i);
    if (this.offsets.length === 0) throw new Error('the placeholder does not occur in the frame');
  }

  /** A new buffer: the template with `id` (exactly as long as the placeholder) at every placeholder. */
  make(id: string): Buffer {
    if (id.length !== this.idLength) throw new Error(`id ${JSON.stringify(id)} must be ${this.idLength} characters`);
    const out = Buffer.allocUnsafe(this.bytes.length);
    this.bytes.copy(out);
    for (const o of this.offsets) out.write(id, o, 'latin1');
    return out;
  }
}

export type Scanned = {
  type: string;
  /** Inbox seq, when the frame has one. */
  seq?: number;
  /** payload.tempId (message.sent) or payload.message.tempId (message.new), as [start, end) in the buffer. */
  tempIdAt?: [number, number];
  /** The decoded frame, when the fast path did not apply or the type needs it (errors). */
  frame?: any;
};

// The types the hot path recognises without decoding anything else.
const HOT = ['message.new', 'message.sent', 'unread.update', 'message.status'] as const;

const JSON_HEAD = Buffer.from('{"type":"');
const JSON_SEQ = Buffer.from(',"seq":');
const JSON_TEMPID = Buffer.from('"tempId":"');
const jsonTypes = HOT.map((t) => ({ type: t, bytes: Buffer.from(`${t}"`) }));

const MP_TYPE_KEY = Buffer.from([0xa4, ...Buffer.from('type')]);
const MP_SEQ_KEY = Buffer.from([0xa3, ...Buffer.from('seq')]);
const MP_TEMPID_KEY = Buffer.from([0xa6, ...Buffer.from('tempId')]);
const mpTypes = HOT.map((t) => ({ type: t, bytes: Buffer.from([0xa0 | t.length, ...Buffer.from(t)]) }));

function startsWithAt(buf: Buffer, needle: Buffer, at: number): boolean {
  if (at + needle.length > buf.length) return false;
  for (let i = 0; i < needle.length; i++) if (buf[at + i] !== needle[i]) return false;
  return true;
}

/** Read the frame's type, seq and the span of its tempId; full decode as the fallback. */
export function scanFrame(buf: Buffer, codec: Codec): Scanned {
  const fast = codec === 'json' ? scanJson(buf) : scanMsgpack(buf);
  if (fast) return fast;
  return scanDecoded(buf, codec);
}

function scanJson(buf: Buffer): Scanned | undefined {
  if (!startsWithAt(buf, JSON_HEAD, 0)) return undefined;
  const at = JSON_HEAD.length;
  const hot = jsonTypes.find((t) => startsWithAt(buf, t.bytes, at));
  if (!hot) return undefined;
  const out: Scanned = { type: hot.type };
  let p = at + hot.bytes.length;
  if (startsWithAt(buf, JSON_SEQ, p)) {
    p += JSON_SEQ.length;
    let seq = 0;
    let digits = 0;
    for (; p < buf.length && buf[p]! >= 0x30 && buf[p]! <= 0x39; p++, digits++) seq = seq * 10 + (buf[p]! - 0x30);
    if (digits === 0) return undefined;
    out.seq = seq;
  }
  if (hot.type === 'message.new' || hot.type === 'message.sent') {
    const k = buf.indexOf(JSON_TEMPID, p);
    if (k < 0) return out;
    const start = k + JSON_TEMPID.length;
    const end = buf.indexOf(0x22, start); // the closing quote; a tempId never holds one unescaped
    if (end < 0) return undefined;
    // an escaped character inside would make the raw bytes differ from the value: decode instead
    if (buf.indexOf(0x5c, start) >= 0 && buf.indexOf(0x5c, start) < end) return undefined;
    out.tempIdAt = [start, end];
  }
  return out;
}

/** A msgpack str at `p`: [start, end) of its bytes, or undefined. */
function mpStr(buf: Buffer, p: number): [number, number] | undefined {
  const h = buf[p];
  if (h === undefined) return undefined;
  if ((h & 0xe0) === 0xa0) return [p + 1, p + 1 + (h & 0x1f)];
  if (h === 0xd9 && p + 1 < buf.length) return [p + 2, p + 2 + buf[p + 1]!];
  if (h === 0xda && p + 2 < buf.length) return [p + 3, p + 3 + buf.readUInt16BE(p + 1)];
  return undefined;
}

function scanMsgpack(buf: Buffer): Scanned | undefined {
  const h = buf[0];
  // a map: fixmap, or map16 / map32 (msgpackr's default for objects)
  const head = h === undefined ? 0 : (h & 0xf0) === 0x80 ? 1 : h === 0xde ? 3 : h === 0xdf ? 5 : 0;
  if (head === 0 || !startsWithAt(buf, MP_TYPE_KEY, head)) return undefined;
  const at = head + MP_TYPE_KEY.length;
  const hot = mpTypes.find((t) => startsWithAt(buf, t.bytes, at));
  if (!hot) return undefined;
  const out: Scanned = { type: hot.type };
  let p = at + hot.bytes.length;
  if (startsWithAt(buf, MP_SEQ_KEY, p)) {
    p += MP_SEQ_KEY.length;
    const t = buf[p]!;
    if (t < 0x80) {
      out.seq = t;
      p += 1;
    } else if (t === 0xcc) {
      out.seq = buf[p + 1]!;
      p += 2;
    } else if (t === 0xcd) {
      out.seq = buf.readUInt16BE(p + 1);
      p += 3;
    } else if (t === 0xce) {
      out.seq = buf.readUInt32BE(p + 1);
      p += 5;
    } else if (t === 0xcf) {
      out.seq = Number(buf.readBigUInt64BE(p + 1));
      p += 9;
    } else if (t === 0xcb) {
      out.seq = buf.readDoubleBE(p + 1);
      p += 9;
    } else return undefined;
  }
  if (hot.type === 'message.new' || hot.type === 'message.sent') {
    const k = buf.indexOf(MP_TEMPID_KEY, p);
    if (k < 0) return out;
    const span = mpStr(buf, k + MP_TEMPID_KEY.length);
    if (!span || span[1] > buf.length) return undefined;
    out.tempIdAt = span;
  }
  return out;
}

function scanDecoded(buf: Buffer, codec: Codec): Scanned {
  let frame: any;
  try {
    frame = codec === 'json' ? JSON.parse(buf.toString('utf8')) : packr.unpack(buf);
  } catch {
    return { type: '$undecodable' };
  }
  if (frame === null || typeof frame !== 'object') return { type: '$undecodable' };
  const out: Scanned = { type: typeof frame.type === 'string' ? frame.type : '$untyped', frame };
  if (typeof frame.seq === 'number') out.seq = frame.seq;
  return out;
}

/** The tempId of a decoded message.sent / message.new frame. */
export function tempIdOf(frame: any): string | undefined {
  const t = frame?.payload?.tempId ?? frame?.payload?.message?.tempId;
  return typeof t === 'string' ? t : undefined;
}

/** Full decode of a frame (for the slow paths: set-up, errors). */
export function decode(buf: Buffer, codec: Codec): any {
  return codec === 'json' ? JSON.parse(buf.toString('utf8')) : packr.unpack(buf);
}

export function encode(frame: unknown, codec: Codec): Buffer {
  return codec === 'json' ? Buffer.from(JSON.stringify(frame), 'utf8') : Buffer.from(packr.pack(frame));
}

const B36 = '0123456789abcdefghijklmnopqrstuvwxyz';

/** `n` in base 36, left-padded with zeros to `width`. */
export function base36(n: number, width: number): string {
  let s = '';
  for (let i = 0; i < width; i++) {
    s = B36[n % 36]! + s;
    n = Math.floor(n / 36);
  }
  if (n > 0) throw new Error('number too large for the width');
  return s;
}

/**
 * Message ids of one generator: `<tag><index in base 36, fixed width>`. `parse` reads the index
 * from bytes of a frame without making a string; -1 when the id is not one of ours.
 */
export class MessageIds {
  readonly tagBytes: Buffer;
  readonly length: number;

  constructor(
    readonly tag: string,
    readonly width = 7,
  ) {
    this.tagBytes = Buffer.from(tag, 'latin1');
    this.length = tag.length + width;
  }

  id(index: number): string {
    return this.tag + base36(index, this.width);
  }

  parse(buf: Buffer, start: number, end: number): number {
    if (end - start !== this.length || !startsWithAt(buf, this.tagBytes, start)) return -1;
    let n = 0;
    for (let p = start + this.tagBytes.length; p < end; p++) {
      const c = buf[p]!;
      const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x7a ? c - 0x61 + 10 : -1;
      if (d < 0) return -1;
      n = n * 36 + d;
    }
    return n;
  }

  parseString(s: string): number {
    const b = Buffer.from(s, 'latin1');
    return this.parse(b, 0, b.length);
  }
}
