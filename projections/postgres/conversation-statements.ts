import { DEFAULT_JOIN_POLICY, type ConversationCreated, type ConversationUpdated, type MemberLeft, type MemberRemoved, type MemberRoleChanged, type MembersAdded } from '../../schemas/index.js';
import type { LoggedEvent, Statement } from './statement.js';

/** Conversations and their members: creation, joins, leaves, removals, settings, roles (see apply.ts for the rules they mirror). */

/** The join_policy column of a created conversation: the group's policy, NULL for a direct one. */
const joinPolicyOf = (e: ConversationCreated): string | null => (e.data.kind === 'group' ? (e.data.joinPolicy ?? DEFAULT_JOIN_POLICY) : null);

/** Members listed twice count once, with the last role given (evolve's Map.set). */
function dedupeMembers(members: { userId: string; role: string }[]): { users: string[]; roles: string[] } {
  const byUser = new Map<string, string>();
  for (const m of members) byUser.set(m.userId, m.role);
  return { users: [...byUser.keys()], roles: [...byUser.values()] };
}

export const bumpLogSeq = (conversationId: string, seq: number): Statement => ({
  text: 'UPDATE conversations SET log_seq = GREATEST(log_seq, $2) WHERE id = $1',
  values: [conversationId, seq],
});

/** The conversation's log_seq moved to `seq`, unless `bump` is false (the batch moves it later). */
export const bumpIf = (bump: boolean, conversationId: string, seq: number): Statement[] => (bump ? [bumpLogSeq(conversationId, seq)] : []);

export function createdStatements({ seq, event: e }: LoggedEvent<ConversationCreated>, bump: boolean): Statement[] {
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
    ...bumpIf(bump, e.conversationId, seq),
  ];
}

export function membersAddedStatements({ seq, event: e }: LoggedEvent<MembersAdded>, bump: boolean): Statement[] {
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
    ...bumpIf(bump, e.conversationId, seq),
  ];
}

/** A leave and a removal alike: the member's row goes. */
export function memberLeftStatements({ seq, event: e }: LoggedEvent<MemberLeft | MemberRemoved>, bump: boolean): Statement[] {
  return [
    {
      text: 'DELETE FROM conversation_members WHERE conversation_id = $1 AND user_id = $2',
      values: [e.conversationId, e.data.userId],
    },
    ...bumpIf(bump, e.conversationId, seq),
  ];
}

/**
 * A group's settings: only the fields the event holds change (one statement whatever they are, a
 * flag per field); `avatar: null` clears it. A direct conversation has none to change.
 */
export function conversationUpdatedStatements({ seq, event: e }: LoggedEvent<ConversationUpdated>, bump: boolean): Statement[] {
  const d = e.data;
  return [
    {
      text: `UPDATE conversations
                SET title = CASE WHEN $2 THEN $3 ELSE title END,
                    avatar = CASE WHEN $4 THEN $5 ELSE avatar END,
                    join_policy = CASE WHEN $6 THEN $7 ELSE join_policy END
              WHERE id = $1 AND kind = 'group'`,
      values: [e.conversationId, d.title !== undefined, d.title ?? null, d.avatar !== undefined, d.avatar ?? null, d.joinPolicy !== undefined, d.joinPolicy ?? null],
    },
    ...bumpIf(bump, e.conversationId, seq),
  ];
}

/**
 * A member's new role. The owner's row changes only in a handover (role owner): the member becomes
 * owner and the previous owner admin, both or neither — only when the one is a member and not the
 * owner and the other is the owner, as evolve folds it.
 */
export function memberRoleChangedStatements({ seq, event: e }: LoggedEvent<MemberRoleChanged>, bump: boolean): Statement[] {
  const d = e.data;
  return [
    {
      text: `UPDATE conversation_members cm SET role = CASE WHEN cm.user_id = $2 THEN $3 ELSE 'admin' END
              WHERE cm.conversation_id = $1
                AND ((cm.user_id = $2 AND cm.role <> 'owner') OR ($3 = 'owner' AND cm.user_id = $4 AND cm.role = 'owner'))
                AND ($3 <> 'owner' OR (
                      EXISTS (SELECT 1 FROM conversation_members t WHERE t.conversation_id = $1 AND t.user_id = $2 AND t.role <> 'owner')
                  AND EXISTS (SELECT 1 FROM conversation_members o WHERE o.conversation_id = $1 AND o.user_id = $4 AND o.role = 'owner')))`,
      values: [e.conversationId, d.userId, d.role, d.previousOwner ?? null],
    },
    ...bumpIf(bump, e.conversationId, seq),
  ];
}

/** Conversations created in a run (none of them has an earlier event in it): two statements. */
export function creationStatements(created: LoggedEvent<ConversationCreated>[]): Statement[] {
  if (created.length === 0) return [];
  if (created.length === 1) return createdStatements(created[0]!, false);
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
