import type { MessageDeleted, MessageEdited } from '../../schemas/index.js';
import { bumpIf } from './conversation-statements.js';
import { preview } from './message-statements.js';
import type { LoggedEvent, Statement } from './statement.js';

/**
 * Edits and deletes in the read models (see apply.ts for the rules they mirror):
 * - an edit replaces the content and sets `edited_at`; a deleted message is not edited (the decider
 *   refuses that, and a tombstone must stay one whatever the log holds);
 * - a delete makes the row a tombstone: content, media and mentions gone, `deleted_at` set. The
 *   members who had it unread (after their read watermark, not its sender) lose one unread, only
 *   when the row turned into a tombstone here, so the statement is harmless if it ever ran twice;
 * - a delete drops the message's reactions;
 * - the conversation's preview follows its last message: edited text, or empty when deleted.
 */

export function messageEditedStatements({ seq, event: e }: LoggedEvent<MessageEdited>, bump: boolean): Statement[] {
  const d = e.data;
  return [
    {
      text: `UPDATE messages SET content = $3, edited_at = $4::timestamptz
              WHERE conversation_id = $1 AND id = $2 AND deleted_at IS NULL`,
      values: [e.conversationId, d.messageId, d.content, e.at],
    },
    {
      text: `UPDATE conversations c SET last_message_preview = $3
              WHERE c.id = $1 AND c.last_message_id = $2
                AND EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = $1 AND m.id = $2 AND m.deleted_at IS NULL)`,
      values: [e.conversationId, d.messageId, preview(d.content, 'text')],
    },
    ...bumpIf(bump, e.conversationId, seq),
  ];
}

export function messageDeletedStatements({ seq, event: e }: LoggedEvent<MessageDeleted>, bump: boolean): Statement[] {
  const d = e.data;
  return [
    {
      text: `WITH tombstone AS (
               UPDATE messages SET content = NULL, media = NULL, mentions = NULL, deleted_at = $4::timestamptz
                WHERE conversation_id = $1 AND id = $2 AND deleted_at IS NULL
               RETURNING seq)
             UPDATE conversation_members m SET unread = GREATEST(m.unread - 1, 0)
               FROM tombstone t
              WHERE m.conversation_id = $1 AND m.user_id <> $3 AND m.read_seq < t.seq`,
      values: [e.conversationId, d.messageId, d.sender, e.at],
    },
    // A tombstone keeps no reactions.
    { text: `DELETE FROM reactions WHERE message_id = $1 AND conversation_id = $2`, values: [d.messageId, e.conversationId] },
    {
      text: `UPDATE conversations SET last_message_preview = NULL WHERE id = $1 AND last_message_id = $2`,
      values: [e.conversationId, d.messageId],
    },
    ...bumpIf(bump, e.conversationId, seq),
  ];
}
