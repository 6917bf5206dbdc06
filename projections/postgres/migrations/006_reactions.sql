-- Reactions: one row per (message, user, emoji) a member put on a message (ReactionAdded), gone
-- again on ReactionRemoved and with the message's delete (a tombstone keeps no reactions). History
-- shows them per message as per-emoji counts and whether the reader reacted. No foreign key to
-- messages: the statements insert only for a message that is there and not deleted
-- (reaction-statements.ts), and the deletes take the rows away themselves.
CREATE TABLE reactions (
  message_id      text NOT NULL,
  conversation_id text NOT NULL,
  user_id         text NOT NULL,
  emoji           text NOT NULL,
  created_at      timestamptz NOT NULL,
  PRIMARY KEY (message_id, user_id, emoji)
);
