import type { Pool } from 'pg';

/**
 * Queries over the Postgres read models (projections/postgres/migrations) for the REST API. Reads
 * only; every row was written by the postgres projector from the event log.
 */
export type ReadDb = { pool: Pick<Pool, 'query'>; schema: string };

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

export type Membership = 'member' | 'not_a_member' | 'not_found';

export async function membership(db: ReadDb, conversationId: string, userId: string): Promise<Membership> {
  const s = ident(db.schema);
  const { rows } = await db.pool.query(
    `SELECT EXISTS (SELECT 1 FROM ${s}.conversations WHERE id = $1) AS found,
            EXISTS (SELECT 1 FROM ${s}.conversation_members WHERE conversation_id = $1 AND user_id = $2) AS member`,
    [conversationId, userId],
  );
  const row = rows[0] as { found: boolean; member: boolean };
  return row.member ? 'member' : row.found ? 'not_a_member' : 'not_found';
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

/** A page of history, newest first by `before`, returned oldest → newest within the page. */
export async function messagesPage(db: ReadDb, conversationId: string, before: number | undefined, limit: number) {
  const s = ident(db.schema);
  const { rows } = await db.pool.query(
    `SELECT * FROM ${s}.messages WHERE conversation_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3`,
    [conversationId, before ?? 2 ** 31 - 1, limit + 1],
  );
  const hasMore = rows.length > limit;
  const page = (rows as MessageRow[]).slice(0, limit).reverse().map(toMessage);
  return { messages: page, hasMore, ...(hasMore && page.length > 0 ? { nextBefore: page[0]!.seq } : {}) };
}

export async function conversationsOf(db: ReadDb, userId: string, limit: number) {
  const s = ident(db.schema);
  const { rows } = await db.pool.query(
    `SELECT c.*, m.role, m.unread, m.read_seq, m.delivered_seq
       FROM ${s}.conversation_members m JOIN ${s}.conversations c ON c.id = m.conversation_id
      WHERE m.user_id = $1
      ORDER BY c.last_activity_at DESC, c.id
      LIMIT $2`,
    [userId, limit],
  );
  const ids = rows.map((r) => r.id as string);
  const members = new Map<string, { userId: string; role: string }[]>();
  if (ids.length > 0) {
    const m = await db.pool.query(
      `SELECT conversation_id, user_id, role FROM ${s}.conversation_members WHERE conversation_id = ANY($1) ORDER BY joined_at, user_id`,
      [ids],
    );
    for (const r of m.rows) {
      const list = members.get(r.conversation_id) ?? [];
      list.push({ userId: r.user_id, role: r.role });
      members.set(r.conversation_id, list);
    }
  }
  return rows.map((r) => ({
    id: r.id,
    kind: r.kind,
    ...(r.title !== null ? { title: r.title } : {}),
    createdBy: r.created_by,
    createdAt: (r.created_at as Date).toISOString(),
    members: members.get(r.id) ?? [],
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
