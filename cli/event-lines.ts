import { isUtf8 } from 'node:buffer';
import { isoFromNanos } from './iso-time.js';
import type { LogEntry } from './read-log.js';

/** A stored event as written out by `parley export` and `parley replay`: one line of JSON, in its envelope. */

/**
 * A stored event as one line's worth of JSON: its own bytes whenever they are one line of valid
 * UTF-8 JSON (always, for what Parley writes); otherwise re-serialized (`exact: false`), or the raw
 * text as a JSON string when it is not JSON at all.
 */
export function eventJson(data: Uint8Array): { bytes: Uint8Array; exact: boolean; event: unknown } {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const text = buf.toString('utf8');
  let event: unknown;
  try {
    event = JSON.parse(text);
  } catch {
    return { bytes: Buffer.from(JSON.stringify(text)), exact: false, event: text };
  }
  return looksLikeOneJsonLine(buf) ? { bytes: buf, exact: true, event } : { bytes: Buffer.from(JSON.stringify(event)), exact: false, event };
}

/**
 * The cheap check `parley export` makes instead of parsing every event (parsing was most of its
 * CPU time): valid UTF-8, an object's braces at both ends, no line break. Everything the engine
 * stores passes (JSON.stringify output); anything else is parsed and re-serialized.
 */
export function exportJson(data: Uint8Array): { bytes: Uint8Array; exact: boolean } {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (looksLikeOneJsonLine(buf) && buf[0] === 0x7b && buf[buf.byteLength - 1] === 0x7d) return { bytes: buf, exact: true };
  const { bytes } = eventJson(data);
  return { bytes, exact: false };
}

function looksLikeOneJsonLine(buf: Buffer): boolean {
  return buf.byteLength > 0 && buf.indexOf(0x0a) === -1 && buf.indexOf(0x0d) === -1 && isUtf8(buf);
}

/** `{"logSeq":N,"subject":"…","time":"…","event":` + event + `}`, as pieces to write. */
export function envelopePieces(entry: LogEntry, eventBytes: Uint8Array): Uint8Array[] {
  return [
    Buffer.from(`{"logSeq":${entry.seq},"subject":${JSON.stringify(entry.subject)},"time":"${isoFromNanos(entry.timeNs)}","event":`),
    eventBytes,
    Buffer.from('}'),
  ];
}
