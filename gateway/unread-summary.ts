import type { Logger } from '../lib/log.js';
import type { Names } from '../lib/names.js';
import { readUnread, totalOf, type LastBySubject } from '../lib/unread-map.js';
import type { Connection } from './connection.js';

/**
 * Unread counts are live updates (ephemeral); a connecting client first gets where they stand,
 * read from the delivery projector's unread bucket through the gateway's Direct Gets.
 */
export function unreadSummarySender(unreadKv: LastBySubject, names: Names, log: Logger): (conn: Connection, userId: string) => Promise<void> {
  return async (conn, userId) => {
    try {
      const map = await readUnread(unreadKv, names, userId);
      const conversations = Object.entries(map).map(([conversationId, unread]) => ({ conversationId, unread }));
      if (!conn.closed) conn.ws.cork(() => conn.send({ type: 'unread.summary', payload: { conversations, totalUnread: totalOf(map) } }));
    } catch (err) {
      log.warn({ err, userId }, 'could not read unread counts');
    }
  };
}
