import type { InboxEntry } from '../schemas/index.js';
import { encodeJson, utf8Of } from './json.js';

/**
 * How an inbox entry is stored: JSON with `payload` last, so that a gateway writes a JSON socket
 * its frame by splicing `seq` (and `ref`) in front of the stored payload's text instead of
 * encoding the payload once more for every socket (jsonFrameOf). The entry is still plain JSON
 * that anything can read.
 */
export function encodeInboxEntry(entry: InboxEntry, options: { withOrigin: boolean } = { withOrigin: true }): Uint8Array {
  const origin = options.withOrigin && entry.origin ? { origin: entry.origin } : {};
  return encodeJson({ type: entry.type, eventSeq: entry.eventSeq, ...origin, payload: entry.payload });
}

const PAYLOAD_KEY = ',"payload":';
const EVENT_SEQ_KEY = '"eventSeq":';

/**
 * The JSON frame `{type, seq, ref?, payload}` of a stored entry, from the entry's text; undefined
 * when the text is not laid out as encodeInboxEntry writes it (an entry stored by an earlier
 * version puts `payload` before `eventSeq` and `origin`, which must not reach the socket).
 *
 * Why the first `,"payload":` is the key: before it stand only `type`, `eventSeq` and `origin`,
 * whose strings are JSON-escaped, so a quote inside them is `\"` and cannot open that sequence.
 */
export function jsonFrameOf(text: string, type: string, seq: number, ref?: string): string | undefined {
  const payloadAt = text.indexOf(PAYLOAD_KEY);
  if (payloadAt < 0) return undefined;
  const eventSeqAt = text.indexOf(EVENT_SEQ_KEY);
  if (eventSeqAt < 0 || eventSeqAt > payloadAt) return undefined;
  const refField = ref !== undefined ? `,"ref":${JSON.stringify(ref)}` : '';
  // The slice ends with the entry's closing brace, which closes the frame.
  return `{"type":${JSON.stringify(type)},"seq":${seq}${refField},"payload":${text.slice(payloadAt + PAYLOAD_KEY.length)}`;
}

/** An entry's bytes as text (the gateway keeps it to splice from) and the entry. */
export function decodeInboxEntry(bytes: Uint8Array): { text: string; entry: InboxEntry } {
  const text = utf8Of(bytes);
  return { text, entry: JSON.parse(text) as InboxEntry };
}
