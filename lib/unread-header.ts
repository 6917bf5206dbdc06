/**
 * The unread count an inbox entry carries to the gateway (header `Parley-Unread`, names.ts):
 * `<conversationId>:<unread>:<totalUnread>`, the recipient's counts right after the event that
 * wrote the entry. The gateway turns it into an `unread.update` frame written with the entry, in
 * the same socket write; a separate ephemeral publish per change cost two NATS messages and a
 * socket write per message.
 *
 * Conversation ids are subject tokens ([A-Za-z0-9_-]), so ':' cannot occur in one.
 */
export type UnreadCount = { conversationId: string; unread: number; totalUnread: number };

export function formatUnreadHeader(c: UnreadCount): string {
  return `${c.conversationId}:${c.unread}:${c.totalUnread}`;
}

const HEADER = /^([A-Za-z0-9_-]{1,128}):(\d{1,15}):(\d{1,15})$/;

/** The count in a header value, or undefined for none or anything malformed (a header is input like any other). */
export function parseUnreadHeader(value: string | undefined): UnreadCount | undefined {
  if (!value) return undefined;
  const m = HEADER.exec(value);
  if (!m) return undefined;
  const unread = Number(m[2]);
  const totalUnread = Number(m[3]);
  if (unread > totalUnread) return undefined;
  return { conversationId: m[1]!, unread, totalUnread };
}
