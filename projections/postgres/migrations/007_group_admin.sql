-- Group administration (issue 15): a group's avatar (ConversationUpdated) and the admin role
-- (MemberRoleChanged). Existing rows need nothing: no group had an avatar or an admin before.
ALTER TABLE conversations ADD COLUMN avatar text;

-- The role check of 001 named by Postgres' default (<table>_<column>_check): replaced, not added to.
ALTER TABLE conversation_members DROP CONSTRAINT IF EXISTS conversation_members_role_check;
ALTER TABLE conversation_members ADD CONSTRAINT conversation_members_role_check CHECK (role IN ('owner', 'admin', 'member'));
