import { DEFAULT_JOIN_POLICY, type ConversationCreated, type ConversationEvent, type MessageSent, type UserEvent } from '../../schemas/index.js';

/**
 * The read models' evolve: event → SQL. Pure functions, no I/O; the projector runs what they return
 * inside one transaction per batch, after it has filtered out every event at or below the stored
 * checkpoint. That filter is what makes the effect exactly-once; the statements are also written
 * to be harmless if that ever failed (inserts do nothing on conflict, watermarks only go up, rows
 * of a missing conversation are not inserted), so a bad event cannot wedge the projector on a
 * constraint error.
 *
 * It mirrors engine/decider.ts `evolve`:
 * - unread = messages from others after the member's read watermark: a message adds 1 for every
 *   member but its sender; a read receipt recounts it exactly from `messages`;
 * - read implies delivered; watermarks never go backwards;
 * - a joiner's watermarks start at the conversation's last message seq (their history starts when
 *   they join), unread 0; a re-added member keeps their row, with the same reset;
 * - a joiner's `joined_after_seq` is that same last message seq: REST shows them only the messages
 *   after it. It is read from `conversations.last_message_seq` inside the statement, which the
 *   batch plan makes current first (a membership change ends the run of messages before it). A
 *   re-added current member keeps theirs: they never stopped seeing the conversation;
 * - a leaver's member row is deleted (so a rejoin is a new row, history from the rejoin);
 * - a group's `join_policy` is its event's, absent meaning invite; a direct conversation has none.
 *
 * `conversations.log_seq` is the stream sequence of the last event of that conversation applied;
 * `last_activity_at` moves on creation, joins and messages (not receipts, not leaves).
 */

export type Statement = {
  text: string;
  values: unknown[];
  /**
   * 'messages': an INSERT of a run of messages whose values are its 14 column arrays, which
   * copy-insert.ts can write with COPY instead (the rebuild does, with the same effect).
   */
  copyable?: 'messages';
};
export type ProjectedEvent = ConversationEvent | UserEvent;
/** An event with its stream sequence in the log. */
export type LoggedEvent<E extends ProjectedEvent = ProjectedEvent> = { seq: number; event: E };

export const PREVIEW_LENGTH = 200;

/** The conversation list's one-line preview: the first 200 characters (code points), or `[image]` etc. */
export function preview(content: string | undefined, type: string): string {
  if (content !== undefined && content.length > 0) {
    return content.length <= PREVIEW_LENGTH ? content : Array.from(content).slice(0, PREVIEW_LENGTH).join('');
  }
  return `[${type}]`;
}

const json = (value: unknown) => (value === undefined ? null : JSON.stringify(value));

/** The join_policy column of a created conversation: the group's policy, NULL for a direct one. */
const joinPolicyOf = (e: ConversationCreated): string | null => (e.data.kind === 'group' ? (e.data.joinPolicy ?? DEFAULT_JOIN_POLICY) : null);

/** Members listed twice count once, with the last role given (evolve's Map.set). */
function dedupeMembers(members: { userId: string; role: string }[]): { users: string[]; roles: string[] } {
  const byUser = new Map<string, string>();
  for (const m of members) byUser.set(m.userId, m.role);
  return { users: [...byUser.keys()], roles: [...byUser.values()] };
}

const bumpLogSeq = (conversationId: string, seq: number): Statement => ({
  text: 'UPDATE conversations SET log_seq = GREATEST(log_seq, $2) WHERE id = $1',
  values: [conversationId, seq],
});

function messageSentStatements({ seq, event: e }: LoggedEvent<MessageSent>): Statement[] {
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

/** The statements of one event; `bump: false` leaves out the conversation's log_seq (batched later). */
function eventStatements(logged: LoggedEvent, bump: boolean): Statement[] {
  const { seq, event: e } = logged;
  switch (e.type) {
    case 'ConversationCreated': {
      const { users, roles } = dedupeMembers(e.data.members);
      return [
        {
          text: `INSERT INTO conversations (id, kind, title, join_policy, created_by, created_at, last_activity_at, log_seq)
                 VALUES ($1, $2, $3, $7, $4, $5::timestamptz, $5::timestamptz, $6)
                 ON CONFLICT (id) DO NOTHING`,
          values: [e.conversationId, e.data.kind, e.data.title ?? null, e.actor.id, e.at, seq, joinPolicyOf(e)],
        },
        {
          text: `INSERT INTO conversation_members (conversation_id, user_id, role, joined_at)
                 SELECT c.id, m.user_id, m.role, $4::timestamptz
                   FROM conversations c, unnest($2::text[], $3::text[]) AS m (user_id, role)
                  WHERE c.id = $1
                 ON CONFLICT (conversation_id, user_id) DO NOTHING`,
          values: [e.conversationId, users, roles, e.at],
        },
        ...(bump ? [bumpLogSeq(e.conversationId, seq)] : []),
      ];
    }
    case 'MembersAdded': {
      const { users, roles } = dedupeMembers(e.data.members);
      return [
        {
          text: `INSERT INTO conversation_members AS cm (conversation_id, user_id, role, joined_at, delivered_seq, read_seq, unread,
                                                         joined_after_seq)
                 SELECT c.id, m.user_id, m.role, $4::timestamptz, c.last_message_seq, c.last_message_seq, 0, c.last_message_seq
                   FROM conversations c, unnest($2::text[], $3::text[]) AS m (user_id, role)
                  WHERE c.id = $1
                 ON CONFLICT (conversation_id, user_id) DO UPDATE
                    SET role = excluded.role,
                        unread = 0,
                        delivered_seq = CASE WHEN excluded.delivered_seq > 0 THEN excluded.delivered_seq ELSE cm.delivered_seq END,
                        read_seq = CASE WHEN excluded.read_seq > 0 THEN excluded.read_seq ELSE cm.read_seq END`,
          values: [e.conversationId, users, roles, e.at],
        },
        {
          text: 'UPDATE conversations SET last_activity_at = GREATEST(last_activity_at, $2::timestamptz) WHERE id = $1',
          values: [e.conversationId, e.at],
        },
        ...(bump ? [bumpLogSeq(e.conversationId, seq)] : []),
      ];
    }
    case 'MemberLeft':
      return [
        {
          text: 'DELETE FROM conversation_members WHERE conversation_id = $1 AND user_id = $2',
          values: [e.conversationId, e.data.userId],
        },
        ...(bump ? [bumpLogSeq(e.conversationId, seq)] : []),
      ];
    case 'MessageSent': {
      const statements = messageSentStatements({ seq, event: e });
      return statements; // its conversation UPDATE moves log_seq itself
    }
    case 'MessageDelivered':
      return [
        {
          text: 'UPDATE conversation_members SET delivered_seq = GREATEST(delivered_seq, $3) WHERE conversation_id = $1 AND user_id = $2',
          values: [e.conversationId, e.data.userId, e.data.upToSeq],
        },
        ...(bump ? [bumpLogSeq(e.conversationId, seq)] : []),
      ];
    case 'MessageRead':
      return [
        {
          text: `UPDATE conversation_members m
                    SET read_seq = GREATEST(m.read_seq, $3),
                        delivered_seq = GREATEST(m.delivered_seq, $3),
                        unread = (SELECT count(*)::int FROM messages x
                                   WHERE x.conversation_id = $1 AND x.seq > GREATEST(m.read_seq, $3) AND x.sender_id <> $2)
                  WHERE m.conversation_id = $1 AND m.user_id = $2`,
          values: [e.conversationId, e.data.userId, e.data.upToSeq],
        },
        ...(bump ? [bumpLogSeq(e.conversationId, seq)] : []),
      ];
    case 'UserBlocked':
      return [
        {
          text: `INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES ($1, $2, $3::timestamptz)
                 ON CONFLICT (blocker_id, blocked_id) DO NOTHING`,
          values: [e.userId, e.data.blockedUserId, e.at],
        },
      ];
    case 'UserUnblocked':
      return [{ text: 'DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2', values: [e.userId, e.data.blockedUserId] }];
    default: {
      const exhaustive: never = e;
      throw new Error(`apply: unknown event ${(exhaustive as { type: string }).type}`);
    }
  }
}

/** One event → the statements that fold it into the read models (the reference form). */
export function apply(logged: LoggedEvent): Statement[] {
  return eventStatements(logged, true);
}

const conversationOf = (e: ProjectedEvent): string | undefined => ('conversationId' in e ? e.conversationId : undefined);

/**
 * A run of MessageSent events (no other event of their conversations between them) as three
 * set-based statements: all messages in one INSERT, one UPDATE of each conversation's counters and
 * last message, one UPDATE of the unread counts. Membership cannot change inside the run, so each
 * member of a conversation gains (messages in the run) − (messages they sent in it).
 */
function messageRunStatements(run: LoggedEvent<MessageSent>[]): Statement[] {
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

/** Conversations created in a run (none of them has an earlier event in it): two statements. */
function creationStatements(created: LoggedEvent<ConversationCreated>[]): Statement[] {
  if (created.length === 0) return [];
  if (created.length === 1) return eventStatements(created[0]!, false);
  const members = { conversation: [] as string[], user: [] as string[], role: [] as string[], at: [] as string[] };
  for (const { event: e } of created) {
    const { users, roles } = dedupeMembers(e.data.members);
    users.forEach((u, i) => {
      members.conversation.push(e.conversationId);
      members.user.push(u);
      members.role.push(roles[i]!);
      members.at.push(e.at);
    });
  }
  return [
    {
      text: `INSERT INTO conversations (id, kind, title, join_policy, created_by, created_at, last_activity_at, log_seq)
             SELECT x.id, x.kind, x.title, x.join_policy, x.created_by, x.at, x.at, x.log_seq
               FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::bigint[], $7::text[])
                    AS x (id, kind, title, created_by, at, log_seq, join_policy)
             ON CONFLICT (id) DO NOTHING`,
      values: [
        created.map((c) => c.event.conversationId),
        created.map((c) => c.event.data.kind),
        created.map((c) => c.event.data.title ?? null),
        created.map((c) => c.event.actor.id),
        created.map((c) => c.event.at),
        created.map((c) => c.seq),
        created.map((c) => joinPolicyOf(c.event)),
      ],
    },
    {
      text: `INSERT INTO conversation_members (conversation_id, user_id, role, joined_at)
             SELECT c.id, x.user_id, x.role, x.at
               FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS x (conversation_id, user_id, role, at)
               JOIN conversations c ON c.id = x.conversation_id
             ON CONFLICT (conversation_id, user_id) DO NOTHING`,
      values: [members.conversation, members.user, members.role, members.at],
    },
  ];
}

/** Receipts of a run, per (conversation, user): the highest watermark. */
function receiptStatements(marks: Map<string, number>, kind: 'delivered' | 'read'): Statement[] {
  if (marks.size === 0) return [];
  const conversations: string[] = [];
  const users: string[] = [];
  const upTo: number[] = [];
  for (const [key, seq] of marks) {
    const [c, u] = key.split('\u0000') as [string, string];
    conversations.push(c);
    users.push(u);
    upTo.push(seq);
  }
  if (kind === 'delivered') {
    return [
      {
        text: `UPDATE conversation_members m SET delivered_seq = GREATEST(m.delivered_seq, x.up_to)
                 FROM unnest($1::text[], $2::text[], $3::int[]) AS x (conversation_id, user_id, up_to)
                WHERE m.conversation_id = x.conversation_id AND m.user_id = x.user_id`,
        values: [conversations, users, upTo],
      },
    ];
  }
  return [
    {
      text: `UPDATE conversation_members m
                SET read_seq = GREATEST(m.read_seq, x.up_to),
                    delivered_seq = GREATEST(m.delivered_seq, x.up_to),
                    unread = (SELECT count(*)::int FROM messages y
                               WHERE y.conversation_id = m.conversation_id AND y.seq > GREATEST(m.read_seq, x.up_to)
                                 AND y.sender_id <> m.user_id)
               FROM unnest($1::text[], $2::text[], $3::int[]) AS x (conversation_id, user_id, up_to)
              WHERE m.conversation_id = x.conversation_id AND m.user_id = x.user_id`,
      values: [conversations, users, upTo],
    },
  ];
}

/**
 * A batch of events (in log order) → statements with the same effect as `apply` on each in turn,
 * with far fewer round trips. Messages and receipts are gathered into a run and written set-based
 * when the run ends:
 * - the run's messages as three statements (see messageRunStatements);
 * - delivered receipts: per member the highest watermark (GREATEST commutes with everything in the
 *   run);
 * - read receipts: per member the highest watermark, and unread recounted after the run's messages
 *   are in. A recount is always right: unread = messages from others above the read watermark holds
 *   after every event (a joiner's watermark is the last message, each message from another adds one
 *   above it), so recounting after later messages gives what recount-then-increment gives.
 * - conversations created: all in two statements, before the run's other statements (a creation
 *   joins the run only if its conversation has no earlier event in it).
 * An event that changes membership (or a second creation) of a conversation in the run ends the run
 * first; events of other conversations and user events touch other rows and need not wait. The
 * conversations' log_seq moves once, at the end.
 */
export function planBatch(events: LoggedEvent[]): Statement[] {
  const out: Statement[] = [];
  let created: LoggedEvent<ConversationCreated>[] = [];
  let messages: LoggedEvent<MessageSent>[] = [];
  const delivered = new Map<string, number>();
  const read = new Map<string, number>();
  const inRun = new Set<string>();
  const bumps = new Map<string, number>();
  /** Per conversation, the highest MessageSent of the batch: its conversation UPDATE moves log_seq that far already. */
  const messageLogSeq = new Map<string, number>();
  const flush = () => {
    out.push(...creationStatements(created));
    if (messages.length === 1) out.push(...messageSentStatements(messages[0]!));
    else if (messages.length > 1) out.push(...messageRunStatements(messages));
    out.push(...receiptStatements(delivered, 'delivered'), ...receiptStatements(read, 'read'));
    created = [];
    messages = [];
    delivered.clear();
    read.clear();
    inRun.clear();
  };
  const mark = (marks: Map<string, number>, conversationId: string, userId: string, upToSeq: number) => {
    const key = `${conversationId}\u0000${userId}`;
    marks.set(key, Math.max(marks.get(key) ?? 0, upToSeq));
  };
  for (const logged of events) {
    const e = logged.event;
    const conversationId = conversationOf(e);
    if (conversationId !== undefined) bumps.set(conversationId, Math.max(bumps.get(conversationId) ?? 0, logged.seq));
    switch (e.type) {
      case 'MessageSent':
        messages.push(logged as LoggedEvent<MessageSent>);
        messageLogSeq.set(e.conversationId, logged.seq);
        inRun.add(e.conversationId);
        continue;
      case 'MessageDelivered':
        mark(delivered, e.conversationId, e.data.userId, e.data.upToSeq);
        inRun.add(e.conversationId);
        continue;
      case 'MessageRead':
        mark(read, e.conversationId, e.data.userId, e.data.upToSeq);
        inRun.add(e.conversationId);
        continue;
      case 'ConversationCreated':
        if (inRun.has(e.conversationId)) flush();
        created.push(logged as LoggedEvent<ConversationCreated>);
        inRun.add(e.conversationId);
        continue;
      default:
        if (conversationId !== undefined && inRun.has(conversationId)) flush();
        out.push(...eventStatements(logged, false));
    }
  }
  flush();
  // A conversation whose last event in the batch is a message has its log_seq moved already (by
  // the message's UPDATE, which runs whenever the row exists, as this one would): left out.
  for (const [conversationId, seq] of messageLogSeq) if (bumps.get(conversationId) === seq) bumps.delete(conversationId);
  if (bumps.size > 0) {
    out.push({
      text: `UPDATE conversations c SET log_seq = GREATEST(c.log_seq, x.log_seq)
               FROM unnest($1::text[], $2::bigint[]) AS x (id, log_seq) WHERE c.id = x.id`,
      values: [[...bumps.keys()], [...bumps.values()]],
    });
  }
  return out;
}
