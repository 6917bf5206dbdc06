import { Packr } from 'msgpackr';

/**
 * Frames: a text frame is JSON, a binary frame is msgpack, whatever the connection negotiated;
 * the server answers in the connection's codec (subprotocol parley.v1.json or parley.v1.msgpack).
 */
export type Codec = 'json' | 'msgpack';

export const subprotocols = { json: 'parley.v1.json', msgpack: 'parley.v1.msgpack' } as const;

// Plain maps, no msgpackr records: any msgpack library must be able to read our frames.
const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const textDecoder = new TextDecoder('utf-8', { fatal: true });

export type Decoded = { ok: true; value: unknown } | { ok: false; message: string };

export function decodeFrame(data: ArrayBuffer, isBinary: boolean): Decoded {
  try {
    if (isBinary) return { ok: true, value: packr.unpack(new Uint8Array(data)) };
    return { ok: true, value: JSON.parse(textDecoder.decode(data)) };
  } catch (err) {
    return { ok: false, message: `${isBinary ? 'invalid msgpack' : 'invalid JSON'}: ${(err as Error).message}` };
  }
}

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
