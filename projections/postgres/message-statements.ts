import type { MessageSent } from '../../schemas/index.js';
import type { LoggedEvent, Statement } from './statement.js';

/** Messages: one at a time, or a run of them set-based (see apply.ts for the rules they mirror). */

export const PREVIEW_LENGTH = 200;

/** The conversation list's one-line preview: the first 200 characters (code points), or `[image]` etc. */
export function preview(content: string | undefined, type: string): string {
  if (content !== undefined && content.length > 0) {
    return content.length <= PREVIEW_LENGTH ? content : Array.from(content).slice(0, PREVIEW_LENGTH).join('');
  }
  return `[${type}]`;
}

const json = (value: unknown) => (value === undefined ? null : JSON.stringify(value));

export function messageSentStatements({ seq, event: e }: LoggedEvent<MessageSent>): Statement[] {
  const d = e.data;
  return [
    {
      text: `INSERT INTO messages (id, conversation_id, seq, sender_id, sender_name, sender_avatar, type, content, media,
                                   reply_to_id, mentions, temp_id, created_at, log_seq)
             SELECT $1, c.id, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11::jsonb, $12, $13::timestamptz, $14
               FROM conversations c WHERE c.id = $2
             ON CONFLICT DO NOTHING`,
      values: [
        d.messageId,
        e.conversationId,
        d.seq,
        d.sender.id,
        d.sender.name ?? null,
        d.sender.avatar ?? null,
        d.type,
        d.content ?? null,
        json(d.media),
        d.replyToId ?? null,
        json(d.mentions),
        d.tempId,
        e.at,
        seq,
      ],
    },
    {
      text: `UPDATE conversations
                SET message_count = message_count + 1, last_message_id = $2, last_message_seq = $3, last_message_sender = $4,
                    last_message_preview = $5, last_message_at = $6, last_activity_at = GREATEST(last_activity_at, $6),
                    log_seq = GREATEST(log_seq, $7)
              WHERE id = $1`,
      values: [e.conversationId, d.messageId, d.seq, d.sender.id, preview(d.content, d.type), e.at, seq],
    },
    {
      text: 'UPDATE conversation_members SET unread = unread + 1 WHERE conversation_id = $1 AND user_id <> $2',
      values: [e.conversationId, d.sender.id],
    },
  ];
}

/**
 * A run of MessageSent events (no other event of their conversations between them) as three
 * set-based statements: all messages in one INSERT, one UPDATE of each conversation's counters and
 * last message, one UPDATE of the unread counts. Membership cannot change inside the run, so each
 * member of a conversation gains (messages in the run) − (messages they sent in it).
 */
export function messageRunStatements(run: LoggedEvent<MessageSent>[]): Statement[] {
  const cols = {
    id: [] as string[],
    conversation: [] as string[],
    seq: [] as number[],
    sender: [] as string[],
    senderName: [] as (string | null)[],
    senderAvatar: [] as (string | null)[],
    type: [] as string[],
    content: [] as (string | null)[],
    media: [] as (string | null)[],
    replyTo: [] as (string | null)[],
    mentions: [] as (string | null)[],
    tempId: [] as string[],
    at: [] as string[],
    logSeq: [] as number[],
  };
  type Last = { n: number; last: LoggedEvent<MessageSent>; maxAt: string; maxAtMs: number; logSeq: number };
  const perConversation = new Map<string, Last>();
  const bySender = new Map<string, number>(); // `${conversation}\u0000${sender}` → messages
  for (const logged of run) {
    const { seq, event: e } = logged;
    const d = e.data;
    cols.id.push(d.messageId);
    cols.conversation.push(e.conversationId);
    cols.seq.push(d.seq);
    cols.sender.push(d.sender.id);
    cols.senderName.push(d.sender.name ?? null);
    cols.senderAvatar.push(d.sender.avatar ?? null);
    cols.type.push(d.type);
    cols.content.push(d.content ?? null);
    cols.media.push(json(d.media));
    cols.replyTo.push(d.replyToId ?? null);
    cols.mentions.push(json(d.mentions));
    cols.tempId.push(d.tempId);
    cols.at.push(e.at);
    cols.logSeq.push(seq);
    const atMs = Date.parse(e.at);
    const c = perConversation.get(e.conversationId);
    if (!c) perConversation.set(e.conversationId, { n: 1, last: logged, maxAt: e.at, maxAtMs: atMs, logSeq: seq });
    else {
      c.n++;
      c.last = logged;
      if (atMs > c.maxAtMs) {
        c.maxAt = e.at;
        c.maxAtMs = atMs;
      }
      c.logSeq = Math.max(c.logSeq, seq);
    }
    const key = `${e.conversationId}\u0000${d.sender.id}`;
    bySender.set(key, (bySender.get(key) ?? 0) + 1);
  }
  const conversations = [...perConversation.entries()];
  const senders = [...bySender.entries()].map(([key, n]) => [...key.split('\u0000'), n] as [string, string, number]);
  return [
    {
      text: `INSERT INTO messages (id, conversation_id, seq, sender_id, sender_name, sender_avatar, type, content, media,
                                   reply_to_id, mentions, temp_id, created_at, log_seq)
             SELECT x.id, x.conversation_id, x.seq, x.sender_id, x.sender_name, x.sender_avatar, x.type, x.content, x.media::jsonb,
                    x.reply_to_id, x.mentions::jsonb, x.temp_id, x.created_at, x.log_seq
               FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                           $9::text[], $10::text[], $11::text[], $12::text[], $13::timestamptz[], $14::bigint[])
                    AS x (id, conversation_id, seq, sender_id, sender_name, sender_avatar, type, content, media,
                          reply_to_id, mentions, temp_id, created_at, log_seq)
               JOIN conversations c ON c.id = x.conversation_id
             ON CONFLICT DO NOTHING`,
      copyable: 'messages',
      values: [
        cols.id,
        cols.conversation,
        cols.seq,
        cols.sender,
        cols.senderName,
        cols.senderAvatar,
        cols.type,
        cols.content,
        cols.media,
        cols.replyTo,
        cols.mentions,
        cols.tempId,
        cols.at,
        cols.logSeq,
      ],
    },
    {
      text: `UPDATE conversations c
                SET message_count = c.message_count + x.n, last_message_id = x.id, last_message_seq = x.seq,
                    last_message_sender = x.sender, last_message_preview = x.preview, last_message_at = x.at,
                    last_activity_at = GREATEST(c.last_activity_at, x.max_at), log_seq = GREATEST(c.log_seq, x.log_seq)
               FROM unnest($1::text[], $2::int[], $3::text[], $4::int[], $5::text[], $6::text[], $7::timestamptz[],
                           $8::timestamptz[], $9::bigint[])
                    AS x (conversation_id, n, id, seq, sender, preview, at, max_at, log_seq)
              WHERE c.id = x.conversation_id`,
      values: [
        conversations.map(([id]) => id),
        conversations.map(([, c]) => c.n),
        conversations.map(([, c]) => c.last.event.data.messageId),
        conversations.map(([, c]) => c.last.event.data.seq),
        conversations.map(([, c]) => c.last.event.data.sender.id),
        conversations.map(([, c]) => preview(c.last.event.data.content, c.last.event.data.type)),
        conversations.map(([, c]) => c.last.event.at),
        conversations.map(([, c]) => c.maxAt),
        conversations.map(([, c]) => c.logSeq),
      ],
    },
    {
      text: `UPDATE conversation_members m
                SET unread = m.unread + d.delta
               FROM (SELECT cm.conversation_id, cm.user_id, t.total - COALESCE(s.n, 0) AS delta
                       FROM unnest($1::text[], $2::int[]) AS t (conversation_id, total)
                       JOIN conversation_members cm ON cm.conversation_id = t.conversation_id
                       LEFT JOIN unnest($3::text[], $4::text[], $5::int[]) AS s (conversation_id, sender_id, n)
                              ON s.conversation_id = cm.conversation_id AND s.sender_id = cm.user_id) d
              WHERE m.conversation_id = d.conversation_id AND m.user_id = d.user_id AND d.delta > 0`,
      values: [
        conversations.map(([id]) => id),
        conversations.map(([, c]) => c.n),
        senders.map(([c]) => c),
        senders.map(([, s]) => s),
        senders.map(([, , n]) => n),
      ],
    },
  ];
}
