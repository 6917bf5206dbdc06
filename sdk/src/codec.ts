/**
 * How frames travel: the codec names the subprotocol the client offers and encodes what it sends.
 * Decoding goes by the kind of each frame, as the server does (docs/protocol.md, "Codecs"): a text
 * frame is JSON, a binary frame msgpack. msgpack is not built in, so that a browser bundle that
 * speaks JSON carries no msgpack library: pass one (msgpackr's pack/unpack) to msgpackCodec.
 */
export interface FrameCodec {
  readonly subprotocol: 'parley.v1.json' | 'parley.v1.msgpack';
  encode(frame: object): string | Uint8Array;
  /** Decodes a binary frame; undefined when this codec has no msgpack. */
  decodeBinary?(data: Uint8Array): unknown;
}

export const jsonCodec: FrameCodec = {
  subprotocol: 'parley.v1.json',
  encode: (frame) => JSON.stringify(frame),
};

export type Msgpack = { pack(value: unknown): Uint8Array; unpack(data: Uint8Array): unknown };

/** msgpack both ways, with the caller's library (msgpackr: `msgpackCodec({ pack, unpack })`). */
export function msgpackCodec(msgpack: Msgpack): FrameCodec {
  return {
    subprotocol: 'parley.v1.msgpack',
    encode: (frame) => msgpack.pack(frame),
    decodeBinary: (data) => msgpack.unpack(data),
  };
}

/** What a socket delivered, as a frame object; throws on a frame that does not decode. */
export function decodeFrame(codec: FrameCodec, data: unknown): unknown {
  if (typeof data === 'string') return JSON.parse(data);
  const bytes = asBytes(data);
  if (!bytes) throw new TypeError('a frame is text or binary');
  if (!codec.decodeBinary) throw new TypeError('a binary (msgpack) frame, and this client has no msgpack codec');
  return codec.decodeBinary(bytes);
}

function asBytes(data: unknown): Uint8Array | undefined {
  if (data instanceof Uint8Array) return data; // Node's Buffer too
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (Array.isArray(data) && data.every((d) => d instanceof Uint8Array)) {
    // `ws` with binaryType 'fragments'; concatenated here so that nothing else sees the shape.
    const out = new Uint8Array(data.reduce((n, d: Uint8Array) => n + d.length, 0));
    let at = 0;
    for (const d of data as Uint8Array[]) {
      out.set(d, at);
      at += d.length;
    }
    return out;
  }
  return undefined;
}
