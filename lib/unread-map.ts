import { decodeJson } from './json.js';
import type { Names } from './names.js';

/**
 * A user's unread counts, `{ conversationId: unread }` with conversations at 0 left out: what the delivery projector keeps in the unread
 * bucket (one key per user) and what a gateway reads from it to greet a connecting client.
 */
export type UnreadMap = Record<string, number>;

export function totalOf(map: UnreadMap): number {
  let total = 0;
  for (const n of Object.values(map)) total += n;
  return total;
}

/**
 * The one read both sides need: the last message on a subject. The delivery projector reads it
 * through lib/stream-reader.ts's StreamReader, the gateway through its own Direct Gets
 * (gateway/direct-get.ts); either fits.
 */
export type LastBySubject = { last(subject: string): Promise<{ data: Uint8Array } | null> };

/** The subject of a user's key in the unread bucket. */
export function unreadKey(names: Names, userId: string): string {
  return names.kv.key(names.buckets.unread, userId);
}

/** A stored entry of the unread bucket as a map: none, or an empty one (a deleted key), is no unread at all. */
export function unreadMapOf(entry: { data: Uint8Array } | null): UnreadMap {
  return entry && entry.data.length > 0 ? decodeJson<UnreadMap>(entry.data) : {};
}

/** Read a user's unread map straight from the bucket (the gateway does this on connect). */
export async function readUnread(kv: LastBySubject, names: Names, userId: string): Promise<UnreadMap> {
  return unreadMapOf(await kv.last(unreadKey(names, userId)));
}
