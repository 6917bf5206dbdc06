import type { ServerPayload } from '../../schemas/index.js';

export type UnreadCount = ServerPayload<'unread.update'>;

/**
 * A recipient's new unread count, carried in a header of the inbox entry that changed it
 * (`Parley-Unread: <conversationId> <unread> <totalUnread>`), so the gateway sends `unread.update`
 * right behind the `message.new` in one socket write, instead of the projector publishing it
 * separately on the user's ephemeral subject (one more NATS message each way, and one more
 * WebSocket write per recipient). Conversation ids are subject tokens: they hold no space.
 */
export function encodeUnreadHeader(count: UnreadCount): string {
  return `${count.conversationId} ${count.unread} ${count.totalUnread}`;
}

/** The count in a `Parley-Unread` header, or undefined when it is absent or malformed. */
export function parseUnreadHeader(value: string | undefined): UnreadCount | undefined {
  if (!value) return undefined;
  const [conversationId, unread, total, extra] = value.split(' ');
  if (!conversationId || extra !== undefined) return undefined;
  const n = Number(unread);
  const t = Number(total);
  if (!Number.isSafeInteger(n) || !Number.isSafeInteger(t) || n < 0 || t < n || unread === '' || total === '') return undefined;
  return { conversationId, unread: n, totalUnread: t };
}
