import type { Pool } from 'pg';

/**
 * Queries over the Postgres read models (projections/postgres/migrations) for the REST API. Reads
 * only; every row was written by the postgres projector from the event log.
 */
export type ReadDb = { pool: Pick<Pool, 'query'>; schema: string };

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * Where a member's history starts: the seq of the last message before they joined (0: all of it),
 * or null if they are not a member. Whether the conversation exists is deliberately not asked: a
 * stranger gets the same answer either way (lib/errors.ts `conversationNotFound`).
 */
export async function memberSince(db: ReadDb, conversationId: string, userId: string): Promise<number | null> {
  const s = ident(db.schema);
  const { rows } = await db.pool.query(
    `SELECT joined_after_seq FROM ${s}.conversation_members WHERE conversation_id = $1 AND user_id = $2`,
    [conversationId, userId],
  );
  return rows.length > 0 ? (rows[0].joined_after_seq as number) : null;
}

type MessageRow = {
  id: string;
  conversation_id: string;
  seq: number;
  sender_id: string;
  sender_name: string | null;
  sender_avatar: string | null;
  type: string;
  content: string | null;
  media: unknown;
  reply_to_id: string | null;
  mentions: unknown;
  temp_id: string;
  edited_at: Date | null;
  deleted_at: Date | null;
  created_at: Date;
};

function toMessage(r: MessageRow) {
  return {
    id: r.id,
    conversationId: r.conversation_id,
    seq: r.seq,
    senderId: r.sender_id,
    sender: { id: r.sender_id, ...(r.sender_name ? { name: r.sender_name } : {}), ...(r.sender_avatar ? { avatar: r.sender_avatar } : {}) },
    type: r.type,
    ...(r.content !== null ? { content: r.content } : {}),
    ...(r.media ? { media: r.media } : {}),
    ...(r.reply_to_id ? { replyToId: r.reply_to_id } : {}),
    ...(r.mentions ? { mentions: r.mentions } : {}),
    tempId: r.temp_id,
    ...(r.edited_at ? { editedAt: r.edited_at.toISOString() } : {}),
    ...(r.deleted_at ? { deletedAt: r.deleted_at.toISOString() } : {}),
    createdAt: r.created_at.toISOString(),
  };
}

/**
 * A page of history, newest first by `before`, returned oldest → newest within the page. Only
 * messages after `afterSeq` (where the reader's membership began) exist for this read, so
 * `hasMore` is false on the page that reaches their join.
 */
export async function messagesPage(db: ReadDb, conversationId: string, page: { afterSeq: number; before?: number; limit: number }, reader: string) {
  const s = ident(db.schema);
  const { afterSeq, before, limit } = page;
  const { rows } = await db.pool.query(
    `SELECT * FROM ${s}.messages WHERE conversation_id = $1 AND seq > $2 AND seq < $3 ORDER BY seq DESC LIMIT $4`,
    [conversationId, afterSeq, before ?? 2 ** 31 - 1, limit + 1],
  );
  const hasMore = rows.length > limit;
  const found = (rows as MessageRow[]).slice(0, limit).reverse();
  const reactions = await reactionsOf(db, found.map((r) => r.id), reader);
  const messages = found.map((r) => ({ ...toMessage(r), reactions: reactions.get(r.id) ?? [] }));
  return { messages, hasMore, ...(hasMore && messages.length > 0 ? { nextBefore: messages[0]!.seq } : {}) };
}

/**
 * The reactions on these messages as the reader sees them: per emoji, how many reacted and whether
 * the reader is one of them, in the order each emoji first appeared. A deleted message has none
 * (its rows went with the delete).
 */
async function reactionsOf(db: ReadDb, messageIds: string[], reader: string) {
  const out = new Map<string, { emoji: string; count: number; me: boolean }[]>();
  if (messageIds.length === 0) return out;
  const { rows } = await db.pool.query(
    `SELECT message_id, emoji, count(*)::int AS count, bool_or(user_id = $2) AS me
       FROM ${ident(db.schema)}.reactions WHERE message_id = ANY($1)
      GROUP BY message_id, emoji ORDER BY message_id, min(created_at), emoji`,
    [messageIds, reader],
  );
  for (const r of rows) {
    const list = out.get(r.message_id) ?? [];
    list.push({ emoji: r.emoji as string, count: r.count as number, me: r.me as boolean });
    out.set(r.message_id, list);
  }
  return out;
}

export async function conversationsOf(db: ReadDb, userId: string, limit: number) {
  const s = ident(db.schema);
  // One statement, so one snapshot: with the members read by a second query, a projector batch
  // committed in between gave a conversation's members as they are after it and its title and
  // avatar as they were before (seen in group-admin.test.ts under load).
  const { rows } = await db.pool.query(
    `SELECT c.*, m.role, m.unread, m.read_seq, m.delivered_seq,
            (SELECT json_agg(json_build_object('userId', x.user_id, 'role', x.role) ORDER BY x.joined_at, x.user_id)
               FROM ${s}.conversation_members x WHERE x.conversation_id = c.id) AS members
       FROM ${s}.conversation_members m JOIN ${s}.conversations c ON c.id = m.conversation_id
      WHERE m.user_id = $1
      ORDER BY c.last_activity_at DESC, c.id
      LIMIT $2`,
    [userId, limit],
  );
  return rows.map((r) => ({
    id: r.id,
    kind: r.kind,
    ...(r.title !== null ? { title: r.title } : {}),
    ...(r.avatar !== null ? { avatar: r.avatar } : {}),
    ...(r.join_policy !== null ? { joinPolicy: r.join_policy } : {}),
    createdBy: r.created_by,
    createdAt: (r.created_at as Date).toISOString(),
    members: (r.members as { userId: string; role: string }[] | null) ?? [],
    role: r.role,
    messageCount: r.message_count,
    lastMessage:
      r.last_message_id === null
        ? null
        : {
            id: r.last_message_id,
            seq: r.last_message_seq,
            senderId: r.last_message_sender,
            preview: r.last_message_preview,
            createdAt: (r.last_message_at as Date).toISOString(),
          },
    lastActivityAt: (r.last_activity_at as Date).toISOString(),
    unread: r.unread,
    readSeq: r.read_seq,
    deliveredSeq: r.delivered_seq,
  }));
}

export async function unreadOf(db: ReadDb, userId: string) {
  const s = ident(db.schema);
  const { rows } = await db.pool.query(
    `SELECT conversation_id, unread FROM ${s}.conversation_members WHERE user_id = $1 AND unread > 0 ORDER BY conversation_id`,
    [userId],
  );
  const conversations = rows.map((r) => ({ conversationId: r.conversation_id as string, unread: r.unread as number }));
  return { conversations, totalUnread: conversations.reduce((n, c) => n + c.unread, 0) };
}
