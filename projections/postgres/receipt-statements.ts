import type { MessageDelivered, MessageRead } from '../../schemas/index.js';
import { bumpIf } from './conversation-statements.js';
import type { LoggedEvent, Statement } from './statement.js';

/**
 * Receipts: delivered and read watermarks, one at a time or a run's highest per member (see apply.ts
 * for the rules they mirror). A read receipt recounts the member's unread exactly from `messages`.
 */

export function deliveredStatements({ seq, event: e }: LoggedEvent<MessageDelivered>, bump: boolean): Statement[] {
  return [
    {
      text: 'UPDATE conversation_members SET delivered_seq = GREATEST(delivered_seq, $3) WHERE conversation_id = $1 AND user_id = $2',
      values: [e.conversationId, e.data.userId, e.data.upToSeq],
    },
    ...bumpIf(bump, e.conversationId, seq),
  ];
}

export function readStatements({ seq, event: e }: LoggedEvent<MessageRead>, bump: boolean): Statement[] {
  return [
    {
      text: `UPDATE conversation_members m
                SET read_seq = GREATEST(m.read_seq, $3),
                    delivered_seq = GREATEST(m.delivered_seq, $3),
                    unread = (SELECT count(*)::int FROM messages x
                               WHERE x.conversation_id = $1 AND x.seq > GREATEST(m.read_seq, $3) AND x.sender_id <> $2
                                 AND x.deleted_at IS NULL)
              WHERE m.conversation_id = $1 AND m.user_id = $2`,
      values: [e.conversationId, e.data.userId, e.data.upToSeq],
    },
    ...bumpIf(bump, e.conversationId, seq),
  ];
}

/** Receipts of a run, per (conversation, user): the highest watermark. */
export function receiptStatements(marks: Map<string, number>, kind: 'delivered' | 'read'): Statement[] {
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
                                 AND y.sender_id <> m.user_id AND y.deleted_at IS NULL)
               FROM unnest($1::text[], $2::text[], $3::int[]) AS x (conversation_id, user_id, up_to)
              WHERE m.conversation_id = x.conversation_id AND m.user_id = x.user_id`,
      values: [conversations, users, upTo],
    },
  ];
}
