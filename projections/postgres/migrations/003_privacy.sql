-- Invite-only groups and history from the join (issue 12, privacy).
--
-- conversations.join_policy: a group's 'open' or 'invite' (NULL for a direct conversation). Groups
-- already projected were created before the policy existed; their events carry none, which means
-- 'invite' (schemas/common.ts JoinPolicy), so that is what they get here too.
ALTER TABLE conversations ADD COLUMN join_policy text CHECK (join_policy IN ('open', 'invite'));
UPDATE conversations SET join_policy = 'invite' WHERE kind = 'group';

-- conversation_members.joined_after_seq: the conversation's last message seq when the member
-- joined; their history (REST) is the messages after it. 0 for creators and first members. Rows
-- already projected get 0, which shows them what they were shown before; `parley projections
-- rebuild` replays the joins and sets it exactly.
ALTER TABLE conversation_members ADD COLUMN joined_after_seq integer NOT NULL DEFAULT 0;
