import t from 'tap';
import type { Test } from 'tap';
import { evolve, initialState, type ConversationState } from '../../lib/conversation-state.js';
import { ident } from '../../lib/pg.js';
import type { ConversationCommand, ConversationEvent } from '../../schemas/index.js';
import { decide } from '../../engine/decider.js';
import {
  DIRECT_AB,
  GROUP,
  conversationUpdated,
  directCreated,
  groupCreated,
  memberRemoved,
  memberRoleChanged,
  membersAddedBy,
  messageRead,
  messageSent,
} from '../helpers/decider-spec.js';
import { generateEvents, projectedBothWays } from '../helpers/pg.js';

/**
 * Group administration in the read models: batched = event by event, and the group's settings,
 * members and roles as the engine's evolve folds them.
 */


/** `asEvolve: false` for an event the decider never writes, where only the read model holds the rule. */
async function given(t: Test, events: ConversationEvent[], asEvolve = true) {
  const db = await projectedBothWays(t, events);
  const states = new Map<string, ConversationState>();
  events.forEach((e, i) => {
    const state = states.get(e.conversationId) ?? initialState(e.conversationId);
    states.set(e.conversationId, evolve(state, e, i + 1));
  });
  const s = ident(db.schema);
  const q = async (sql: string, values: unknown[] = []) => (await db.pool.query(sql.replaceAll('§', `${s}.`), values)).rows;
  for (const state of asEvolve ? states.values() : []) {
    const members = await q('SELECT user_id, role, read_seq, delivered_seq, unread FROM §conversation_members WHERE conversation_id = $1 ORDER BY user_id', [state.id]);
    t.strictSame(
      members,
      [...state.members.keys()].sort().map((userId) => ({
        user_id: userId,
        role: state.members.get(userId),
        read_seq: state.read.get(userId) ?? 0,
        delivered_seq: state.delivered.get(userId) ?? 0,
        unread: state.unread.get(userId) ?? 0,
      })),
      `members of ${state.id} as evolve folds them`,
    );
    const [c] = await q('SELECT title, avatar, join_policy FROM §conversations WHERE id = $1', [state.id]);
    t.strictSame(c, { title: state.title ?? null, avatar: state.avatar ?? null, join_policy: state.joinPolicy ?? null }, `settings of ${state.id} as evolve folds them`);
  }
  return q;
}

/** alice owns the group, bob and carol are members. */
const team = () => groupCreated('alice', { members: ['alice', 'bob', 'carol'] });
const AVATAR = 'https://img.test/team.png';
const conversation = (q: Awaited<ReturnType<typeof given>>, id = GROUP) =>
  q('SELECT title, avatar, join_policy, log_seq FROM §conversations WHERE id = $1', [id]).then((r) => r[0]);

t.test('ConversationUpdated sets only the fields it has', async (t) => {
  const q = await given(t, [team(), conversationUpdated('alice', { avatar: AVATAR })]);
  t.strictSame(await conversation(q), { title: 'Team', avatar: AVATAR, join_policy: 'invite', log_seq: '2' });

  const q2 = await given(t, [
    team(),
    conversationUpdated('alice', { avatar: AVATAR }, GROUP, { commandId: 'u1' }),
    conversationUpdated('alice', { title: 'Crew' }, GROUP, { commandId: 'u2' }),
    conversationUpdated('alice', { joinPolicy: 'open' }, GROUP, { commandId: 'u3' }),
  ]);
  t.strictSame(await conversation(q2), { title: 'Crew', avatar: AVATAR, join_policy: 'open', log_seq: '4' }, 'each update kept the others');
});

t.test('ConversationUpdated with avatar null clears it', async (t) => {
  const q = await given(t, [
    team(),
    conversationUpdated('alice', { avatar: AVATAR, title: 'Crew' }, GROUP, { commandId: 'u1' }),
    conversationUpdated('alice', { avatar: null }, GROUP, { commandId: 'u2' }),
  ]);
  t.strictSame(await conversation(q), { title: 'Crew', avatar: null, join_policy: 'invite', log_seq: '3' });
});

t.test('ConversationUpdated of a direct conversation changes nothing (and does not fail)', async (t) => {
  // The decider never writes one; the statement holds the rule too (evolve would take the fields).
  const q = await given(t, [directCreated('alice', 'bob'), conversationUpdated('alice', { title: 'Us', avatar: AVATAR, joinPolicy: 'open' }, DIRECT_AB)], false);
  t.match(await conversation(q, DIRECT_AB), { title: null, avatar: null, join_policy: null });
});

t.test('MemberRoleChanged sets admin and back to member; the owner’s row never changes', async (t) => {
  const q = await given(t, [team(), memberRoleChanged('alice', 'bob', 'admin'), memberRoleChanged('alice', 'carol', 'admin')]);
  t.strictSame(await q('SELECT user_id, role FROM §conversation_members ORDER BY user_id'), [
    { user_id: 'alice', role: 'owner' },
    { user_id: 'bob', role: 'admin' },
    { user_id: 'carol', role: 'admin' },
  ]);
  const back = await given(t, [
    team(),
    memberRoleChanged('alice', 'bob', 'admin'),
    memberRoleChanged('alice', 'bob', 'member', GROUP, { commandId: 'demote' }),
  ]);
  t.strictSame(await back('SELECT role FROM §conversation_members WHERE user_id = $1', ['bob']), [{ role: 'member' }]);

  // Not an event the decider writes: the read model holds the owner's row all the same, as evolve does.
  const owner = await given(t, [team(), memberRoleChanged('alice', 'alice', 'member')]);
  t.strictSame(await owner("SELECT role FROM §conversation_members WHERE user_id = 'alice'"), [{ role: 'owner' }]);
});

t.test('a handover (role owner): the member becomes owner and the previous owner admin, together or not at all', async (t) => {
  const q = await given(t, [team(), memberRoleChanged('alice', 'bob', 'owner')]);
  t.strictSame(await q('SELECT user_id, role FROM §conversation_members ORDER BY user_id'), [
    { user_id: 'alice', role: 'admin' },
    { user_id: 'bob', role: 'owner' },
    { user_id: 'carol', role: 'member' },
  ]);
  // Handovers the decider never writes change nothing, in the read model as in evolve: from someone
  // not the owner, to someone no longer a member.
  const bogus = await given(t, [team(), memberRoleChanged('bob', 'carol', 'owner', GROUP, { commandId: 'bogus' })]);
  t.strictSame(await bogus("SELECT user_id FROM §conversation_members WHERE role = 'owner'"), [{ user_id: 'alice' }]);
  const gone = await given(t, [team(), memberRemoved('alice', 'carol'), memberRoleChanged('alice', 'carol', 'owner')]);
  t.strictSame(await gone('SELECT user_id, role FROM §conversation_members ORDER BY user_id'), [
    { user_id: 'alice', role: 'owner' },
    { user_id: 'bob', role: 'member' },
  ]);
});

t.test('MemberRoleChanged for someone no longer a member adds no row', async (t) => {
  const q = await given(t, [team(), memberRemoved('alice', 'bob'), memberRoleChanged('alice', 'bob', 'admin')]);
  t.strictSame(await q("SELECT user_id FROM §conversation_members WHERE user_id = 'bob'"), []);
});

t.test('MemberRemoved deletes the member row; a re-add starts their history there (joined_after_seq)', async (t) => {
  const q = await given(t, [
    team(),
    messageSent('alice', GROUP, 1, { tempId: 'a1' }),
    messageSent('alice', GROUP, 2, { tempId: 'a2' }),
    memberRemoved('alice', 'bob'),
  ]);
  t.strictSame(await q("SELECT user_id FROM §conversation_members WHERE user_id = 'bob'"), [], 'no row for bob');

  const back = await given(t, [
    team(),
    messageSent('alice', GROUP, 1, { tempId: 'a1' }),
    memberRoleChanged('alice', 'bob', 'admin'),
    memberRemoved('alice', 'bob'),
    messageSent('alice', GROUP, 2, { tempId: 'a2' }),
    membersAddedBy('alice', ['bob']),
    messageSent('alice', GROUP, 3, { tempId: 'a3' }),
  ]);
  t.strictSame(await back("SELECT role, joined_after_seq, read_seq, delivered_seq, unread FROM §conversation_members WHERE user_id = 'bob'"), [
    { role: 'member', joined_after_seq: 2, read_seq: 2, delivered_seq: 2, unread: 1 },
  ], 'a new row: a plain member, history from seq 2 on');
});

t.test('MembersAdded by an admin: several rows at once, history from the last message', async (t) => {
  const q = await given(t, [team(), messageSent('bob', GROUP, 1), memberRoleChanged('alice', 'bob', 'admin'), membersAddedBy('bob', ['dave', 'erin'])]);
  t.strictSame(await q("SELECT user_id, role, joined_after_seq FROM §conversation_members WHERE user_id IN ('dave', 'erin') ORDER BY user_id"), [
    { user_id: 'dave', role: 'member', joined_after_seq: 1 },
    { user_id: 'erin', role: 'member', joined_after_seq: 1 },
  ]);
});

t.test('a log mixing administration with messages and receipts: batched (one batch) = event by event = evolve', async (t) => {
  const q = await given(t, [
    team(),
    messageSent('bob', GROUP, 1, { tempId: 'b1' }),
    memberRoleChanged('alice', 'bob', 'admin'),
    messageSent('carol', GROUP, 2, { tempId: 'c1' }),
    membersAddedBy('bob', ['dave', 'erin']),
    messageSent('dave', GROUP, 3, { tempId: 'd1' }),
    messageRead('erin', 3),
    conversationUpdated('bob', { title: 'Crew', avatar: AVATAR }, GROUP, { commandId: 'u1' }),
    messageSent('erin', GROUP, 4, { tempId: 'e1' }),
    memberRemoved('bob', 'carol'),
    messageSent('alice', GROUP, 5, { tempId: 'a1' }),
    memberRoleChanged('alice', 'bob', 'member', GROUP, { commandId: 'demote' }),
    membersAddedBy('alice', ['carol'], GROUP, { commandId: 'readd' }),
    messageRead('dave', 5),
    messageSent('bob', GROUP, 6, { tempId: 'b2' }),
    conversationUpdated('alice', { avatar: null, joinPolicy: 'open' }, GROUP, { commandId: 'u2' }),
    messageSent('carol', GROUP, 7, { tempId: 'c2' }),
  ]);
  t.strictSame(await conversation(q), { title: 'Crew', avatar: null, join_policy: 'open', log_seq: '17' });
  t.match(await q('SELECT message_count, last_message_seq FROM §conversations'), [{ message_count: 7, last_message_seq: 7 }]);
});

t.test('the generated log (with administration) is one the decider accepts, event for event', async (t) => {
  // The generator models the rules itself; this holds it to the decider's: every administration
  // event (and every delete) is what deciding its command on the folded state appends.
  const events = generateEvents({ count: 4000, conversations: 12, users: 15, seed: 41, changes: true, admin: true });
  const states = new Map<string, ConversationState>();
  const checked = new Map<string, number>();
  events.forEach((e, i) => {
    if (!('conversationId' in e)) return;
    const state = states.get(e.conversationId) ?? initialState(e.conversationId);
    states.set(e.conversationId, state);
    const command = commandOf(e);
    if (command) {
      const decision = decide(command, state);
      const data = decision.kind === 'append' && decision.events.length === 1 ? decision.events[0]!.data : decision;
      if (JSON.stringify(data) !== JSON.stringify(e.data)) t.fail(`event ${i + 1} (${e.type}) is not what the decider decides`, { event: e, decision });
      checked.set(e.type, (checked.get(e.type) ?? 0) + 1);
    }
    evolve(state, e, i + 1);
  });
  t.strictSame([...checked.keys()].sort(), ['ConversationUpdated', 'MemberRemoved', 'MemberRoleChanged', 'MembersAdded', 'MessageDeleted'], 'every kind was checked');
  t.ok([...checked.values()].every((n) => n >= 3), `several of each (${[...checked].map(([k, n]) => `${k} ${n}`).join(', ')})`);
});

/** The command that decided an administration event or a delete (undefined for any other event, or a self-join). */
function commandOf(e: ConversationEvent): ConversationCommand | undefined {
  const meta = { id: e.commandId, actor: e.actor, at: Date.parse(e.at), conversationId: e.conversationId };
  switch (e.type) {
    case 'ConversationUpdated':
      return { type: 'conversation.update', ...meta, data: e.data };
    case 'MembersAdded': {
      const joined = e.data.members.length === 1 && e.data.members[0]!.userId === e.actor.id;
      return joined ? undefined : { type: 'conversation.add_members', ...meta, data: { userIds: e.data.members.map((m) => m.userId) } };
    }
    case 'MemberRemoved':
      return { type: 'conversation.remove_member', ...meta, data: { userId: e.data.userId } };
    case 'MemberRoleChanged':
      return { type: 'conversation.set_role', ...meta, data: { userId: e.data.userId, role: e.data.role } };
    case 'MessageDeleted':
      return { type: 'message.delete', ...meta, data: { messageId: e.data.messageId } };
    default:
      return undefined;
  }
}
