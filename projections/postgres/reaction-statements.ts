import type { ReactionAdded, ReactionRemoved } from '../../schemas/index.js';
import { bumpIf } from './conversation-statements.js';
import type { LoggedEvent, Statement } from './statement.js';

/**
 * Reactions in the read models, as the decider keeps them (engine/decider.ts): one row per
 * (message, user, emoji). An add is written only while its message is there and not deleted (a
 * tombstone keeps no reactions, whatever the log holds) and is harmless twice; a remove deletes the
 * row if it is there. A message's delete drops its rows (message-change-statements.ts).
 */

export function reactionAddedStatements({ seq, event: e }: LoggedEvent<ReactionAdded>, bump: boolean): Statement[] {
  const d = e.data;
  return [
    {
      text: `INSERT INTO reactions (message_id, conversation_id, user_id, emoji, created_at)
             SELECT $1, $2, $3, $4, $5::timestamptz
              WHERE EXISTS (SELECT 1 FROM messages m WHERE m.id = $1 AND m.conversation_id = $2 AND m.deleted_at IS NULL)
             ON CONFLICT (message_id, user_id, emoji) DO NOTHING`,
      values: [d.messageId, e.conversationId, e.actor.id, d.emoji, e.at],
    },
    ...bumpIf(bump, e.conversationId, seq),
  ];
}

export function reactionRemovedStatements({ seq, event: e }: LoggedEvent<ReactionRemoved>, bump: boolean): Statement[] {
  const d = e.data;
  return [
    {
      text: `DELETE FROM reactions WHERE message_id = $1 AND conversation_id = $2 AND user_id = $3 AND emoji = $4`,
      values: [d.messageId, e.conversationId, e.actor.id, d.emoji],
    },
    ...bumpIf(bump, e.conversationId, seq),
  ];
}
