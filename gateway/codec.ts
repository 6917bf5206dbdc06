import { Packr } from 'msgpackr';

/**
 * Frames: a text frame is JSON, a binary frame is msgpack, whatever the connection negotiated;
 * the server answers in the connection's codec (subprotocol parley.v1.json or parley.v1.msgpack).
 */
export type Codec = 'json' | 'msgpack';

export const subprotocols = { json: 'parley.v1.json', msgpack: 'parley.v1.msgpack' } as const;

// Plain maps, no msgpackr records: any msgpack library must be able to read our frames. Integers
// are numbers whatever their msgpack width: Go, Python and Java write Date.now() as uint64, and a
// BigInt reaching the app cannot be written as JSON.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
const textDecoder = new TextDecoder('utf-8', { fatal: true });

/**
 * `invalidUtf8`: a text frame that is not UTF-8 breaks the WebSocket protocol itself (RFC 6455
 * 8.1), and the socket is closed with 1007; every other undecodable frame is a `bad_frame`.
 */
export type Decoded = { ok: true; value: unknown } | { ok: false; message: string; invalidUtf8?: true };

/** Bytes → a value; what the value may hold is checked by the frame handler (lib/wire-value.ts). */
export function decodeFrame(data: ArrayBuffer, isBinary: boolean): Decoded {
  let value: unknown;
  if (isBinary) {
    try {
      value = packr.unpack(new Uint8Array(data));
    } catch (err) {
      return { ok: false, message: `invalid msgpack: ${(err as Error).message}` };
    }
  } else {
    let text: string;
    try {
      text = textDecoder.decode(data);
    } catch {
      return { ok: false, message: 'a text frame must be UTF-8', invalidUtf8: true };
    }
    try {
      value = JSON.parse(text);
    } catch (err) {
      return { ok: false, message: `invalid JSON: ${(err as Error).message}` };
    }
  }
  return { ok: true, value };
}

/** Throws when `frame` cannot be written in the codec; Connection.send contains that per frame. */
export function encodeFrame(frame: unknown, codec: Codec): string | Uint8Array {
  return codec === 'json' ? JSON.stringify(frame) : packr.pack(frame);
}

/** Pick the codec from the offered subprotocols, and the one subprotocol to answer with. */
export function negotiate(offered: string): { codec: Codec; protocol: string } {
  const list = offered
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (list.includes(subprotocols.msgpack)) return { codec: 'msgpack', protocol: subprotocols.msgpack };
  if (list.includes(subprotocols.json)) return { codec: 'json', protocol: subprotocols.json };
  // Browsers fail a handshake whose answer names no offered protocol, so echo one that is not a token.
  const fallback = list.find((p) => !p.startsWith('bearer.')) ?? '';
  return { codec: 'json', protocol: fallback };
}
