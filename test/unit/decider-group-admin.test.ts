import t from 'tap';
import type { Test } from 'tap';
import { decide } from '../../engine/decider.js';
import { fromSnapshot, toSnapshot } from '../../lib/conversation-state.js';
import { limits, validateCommand, validateEvent, type ConversationCommand, type ConversationEvent } from '../../schemas/index.js';
import {
  DIRECT_AB,
  GROUP,
  addMembers,
  conversationUpdated,
  del,
  delivered,
  directCreated,
  edit,
  given,
  groupCreated,
  join,
  leave,
  memberLeft,
  memberRemoved,
  memberRoleChanged,
  membersAdded,
  membersAddedBy,
  messageDeleted,
  messageIdOf,
  messageSent,
  react,
  read,
  removeMember,
  send,
  setRole,
  update,
  type Given,
} from '../helpers/decider-spec.js';

/**
 * Group administration as specifications: alice owns the group, bob is its admin, carol and dave
 * are members, erin is a stranger to it.
 */
const team = (): ConversationEvent[] => [
  groupCreated('alice', { members: ['alice', 'bob', 'carol', 'dave'] }),
  memberRoleChanged('alice', 'bob', 'admin', GROUP, { commandId: 'make-bob-admin' }),
];
const M1 = messageIdOf('t1');
/** carol's message m_t1 is seq 1. */
const carolSaid = () => [...team(), messageSent('carol', GROUP, 1)];
const AVATAR = 'https://img.test/team.png';

/** The stranger's refusal reads word for word as the one for an id that does not exist. */
function sameAsNonexistent(t: Test, command: (conversationId: string) => ConversationCommand, history: ConversationEvent[] = team()) {
  const r = given(GROUP, history).when(command(GROUP)).thenRejects(t, 'conversation_not_found');
  const none = given('g_none', []).when(command('g_none')).thenRejects(t, 'conversation_not_found');
  t.equal(r?.message.replace(GROUP, 'ID'), none?.message.replace('g_none', 'ID'), 'the same words');
}

/** The events an accepted command appends (fails the test otherwise). */
function accepted(t: Test, g: Given, command: ConversationCommand): ConversationEvent[] {
  const d = g.when(command).decision;
  if (d.kind !== 'append') {
    t.fail(`expected ${command.type} to be accepted`, { found: d });
    return [];
  }
  return d.events;
}

t.test('conversation.update', async (t) => {
  t.test('the owner and an admin change the title: ConversationUpdated', async (t) => {
    given(GROUP, team()).when(update('alice', { title: 'Crew' })).then(t, [conversationUpdated('alice', { title: 'Crew' })]);
    given(GROUP, team()).when(update('bob', { title: 'Crew' })).then(t, [conversationUpdated('bob', { title: 'Crew' })]);
  });

  t.test('a member who does not run the group: forbidden', async (t) => {
    given(GROUP, team()).when(update('carol', { title: 'Mine' })).thenRejects(t, 'forbidden');
  });

  t.test('a stranger hears conversation_not_found, as for an id that does not exist', async (t) => {
    sameAsNonexistent(t, (id) => update('erin', { title: 'x' }, id));
  });

  t.test('a direct conversation has no administration: forbidden', async (t) => {
    given(DIRECT_AB, [directCreated('alice', 'bob')]).when(update('alice', { title: 'Us' }, DIRECT_AB)).thenRejects(t, 'forbidden');
  });

  t.test('no field at all: validation_error', async (t) => {
    given(GROUP, team()).when(update('alice', {})).thenRejects(t, 'validation_error');
  });

  t.test('a blank title: validation_error', async (t) => {
    given(GROUP, team()).when(update('alice', { title: '   ' })).thenRejects(t, 'validation_error');
    given(GROUP, team()).when(update('alice', { title: '' })).thenRejects(t, 'validation_error');
  });

  t.test('the title is trimmed; the same title once trimmed is a no-op', async (t) => {
    given(GROUP, team()).when(update('alice', { title: '  Crew \n' })).then(t, [conversationUpdated('alice', { title: 'Crew' })]);
    given(GROUP, team()).when(update('alice', { title: ' Team ' })).thenNoop(t);
  });

  t.test('only the fields that change go in the event', async (t) => {
    given(GROUP, team())
      .when(update('alice', { title: 'Team', avatar: AVATAR, joinPolicy: 'invite' }))
      .then(t, [conversationUpdated('alice', { avatar: AVATAR })]);
    given(GROUP, team())
      .when(update('bob', { title: 'Crew', avatar: null, joinPolicy: 'open' }))
      .then(t, [conversationUpdated('bob', { title: 'Crew', joinPolicy: 'open' })]);
  });

  t.test('nothing differs from now: a no-op', async (t) => {
    const history = [...team(), conversationUpdated('alice', { avatar: AVATAR, joinPolicy: 'open' }, GROUP, { commandId: 'u1' })];
    given(GROUP, history).when(update('bob', { title: 'Team', avatar: AVATAR, joinPolicy: 'open' })).thenNoop(t);
  });

  t.test('avatar null removes the picture; null when there is none is a no-op', async (t) => {
    const withAvatar = [...team(), conversationUpdated('alice', { avatar: AVATAR }, GROUP, { commandId: 'u1' })];
    given(GROUP, withAvatar).when(update('bob', { avatar: null })).then(t, [conversationUpdated('bob', { avatar: null })]);
    given(GROUP, team()).when(update('bob', { avatar: null })).thenNoop(t);
    const removed = given(GROUP, [...withAvatar, conversationUpdated('bob', { avatar: null })]);
    t.equal(removed.state.avatar, undefined, 'the state has no avatar');
    removed.when(update('alice', { avatar: null }, GROUP, { id: 'again' })).thenNoop(t);
  });

  t.test('a group opened lets a stranger join; closed again (invite) it is not found to them', async (t) => {
    given(GROUP, team()).when(join('erin')).thenRejects(t, 'conversation_not_found');
    const g = given(GROUP, team());
    const opened = accepted(t, g, update('alice', { joinPolicy: 'open' }));
    t.strictSame(opened, [conversationUpdated('alice', { joinPolicy: 'open' })]);
    given(GROUP, [...team(), ...opened]).when(join('erin')).then(t, [membersAdded('erin')]);
    const closed = accepted(t, given(GROUP, [...team(), ...opened]), update('bob', { joinPolicy: 'invite' }));
    t.strictSame(closed, [conversationUpdated('bob', { joinPolicy: 'invite' })]);
    given(GROUP, [...team(), ...opened, ...closed]).when(join('erin')).thenRejects(t, 'conversation_not_found');
  });
});

t.test('conversation.add_members', async (t) => {
  t.test('the owner and an admin add users: MembersAdded, as members, the adder the actor', async (t) => {
    given(GROUP, team()).when(addMembers('alice', ['erin', 'frank'])).then(t, [membersAddedBy('alice', ['erin', 'frank'])]);
    given(GROUP, team()).when(addMembers('bob', ['erin'])).then(t, [membersAddedBy('bob', ['erin'])]);
  });

  t.test('a member who does not run the group: forbidden; a stranger: conversation_not_found', async (t) => {
    given(GROUP, team()).when(addMembers('carol', ['erin'])).thenRejects(t, 'forbidden');
    sameAsNonexistent(t, (id) => addMembers('erin', ['frank'], id));
  });

  t.test('a direct conversation: forbidden', async (t) => {
    given(DIRECT_AB, [directCreated('alice', 'bob')]).when(addMembers('alice', ['carol'], DIRECT_AB)).thenRejects(t, 'forbidden');
  });

  t.test('repeated users are added once, users already in the group are left out', async (t) => {
    given(GROUP, team())
      .when(addMembers('alice', ['erin', 'carol', 'erin', 'alice', 'frank', 'bob']))
      .then(t, [membersAddedBy('alice', ['erin', 'frank'])]);
  });

  t.test('everyone named is in the group already: a no-op', async (t) => {
    given(GROUP, team()).when(addMembers('bob', ['carol', 'dave', 'carol', 'bob'])).thenNoop(t);
  });

  t.test(`a group holds at most ${limits.groupMaxMembers} members: validation_error beyond`, async (t) => {
    const others = Array.from({ length: limits.groupMaxMembers - 3 }, (_, i) => `u${i}`);
    const g = given(GROUP, [groupCreated('alice', { members: ['alice', ...others] })]);
    t.equal(g.state.members.size, limits.groupMaxMembers - 2);
    g.when(addMembers('alice', ['x1', 'x2', 'x3'])).thenRejects(t, 'validation_error');
    // Counted after repeats and members are left out: two new users fill it exactly.
    g.when(addMembers('alice', ['x1', 'x2', 'x1', 'u0'])).then(t, [membersAddedBy('alice', ['x1', 'x2'])]);
  });

  t.test('added members can send, and their history (read, delivered, unread) starts when they are added, as for a join', async (t) => {
    const before = [...carolSaid(), messageSent('carol', GROUP, 2, { tempId: 't2' })];
    const added = given(GROUP, [...before, membersAddedBy('alice', ['erin']), messageSent('carol', GROUP, 3, { tempId: 't3' })]);
    const opened = conversationUpdated('alice', { joinPolicy: 'open' }, GROUP, { commandId: 'open' });
    const joined = given(GROUP, [...before, opened, membersAdded('erin'), messageSent('carol', GROUP, 3, { tempId: 't3' })]);
    for (const g of [added, joined]) {
      t.equal(g.state.read.get('erin'), 2, 'read from the join on');
      t.equal(g.state.delivered.get('erin'), 2, 'delivered from the join on');
      t.equal(g.state.unread.get('erin'), 1, 'only the message after the join is unread');
    }
    added.when(send('erin', GROUP, { tempId: 'e1' })).then(t, [messageSent('erin', GROUP, 4, { tempId: 'e1' })]);
  });

  t.test('blocks do not apply to groups: the decider asks for none', async (t) => {
    // blockCheckPair is only for direct conversations; adding needs no context.
    given(GROUP, team()).when(addMembers('alice', ['erin']), { blockedPair: true }).then(t, [membersAddedBy('alice', ['erin'])]);
  });
});

t.test('conversation.remove_member', async (t) => {
  t.test('the owner removes a member and an admin: MemberRemoved, the remover the actor', async (t) => {
    given(GROUP, team()).when(removeMember('alice', 'carol')).then(t, [memberRemoved('alice', 'carol')]);
    given(GROUP, team()).when(removeMember('alice', 'bob')).then(t, [memberRemoved('alice', 'bob')]);
  });

  t.test('an admin removes a member', async (t) => {
    given(GROUP, team()).when(removeMember('bob', 'dave')).then(t, [memberRemoved('bob', 'dave')]);
  });

  t.test('an admin cannot remove another admin or the owner: forbidden', async (t) => {
    const twoAdmins = [...team(), memberRoleChanged('alice', 'carol', 'admin')];
    given(GROUP, twoAdmins).when(removeMember('bob', 'carol')).thenRejects(t, 'forbidden');
    given(GROUP, team()).when(removeMember('bob', 'alice')).thenRejects(t, 'forbidden');
  });

  t.test('a member who does not run the group: forbidden; a stranger: conversation_not_found', async (t) => {
    given(GROUP, team()).when(removeMember('carol', 'dave')).thenRejects(t, 'forbidden');
    sameAsNonexistent(t, (id) => removeMember('erin', 'carol', id));
  });

  t.test('a direct conversation: forbidden', async (t) => {
    given(DIRECT_AB, [directCreated('alice', 'bob')]).when(removeMember('alice', 'bob', DIRECT_AB)).thenRejects(t, 'forbidden');
  });

  t.test('removing oneself: validation_error (leaving is conversation.leave)', async (t) => {
    given(GROUP, team()).when(removeMember('bob', 'bob')).thenRejects(t, 'validation_error');
    given(GROUP, team()).when(removeMember('alice', 'alice')).thenRejects(t, 'validation_error');
  });

  t.test('a target who is not a member: not_a_member', async (t) => {
    given(GROUP, team()).when(removeMember('alice', 'erin')).thenRejects(t, 'not_a_member');
    given(GROUP, [...team(), memberRemoved('alice', 'carol')]).when(removeMember('bob', 'carol')).thenRejects(t, 'not_a_member');
  });

  t.test('the removed member is a stranger afterwards: send, edit, react, receipts and leave are not found', async (t) => {
    const g = given(GROUP, [...carolSaid(), memberRemoved('bob', 'carol')]);
    t.notOk(g.state.members.has('carol'));
    t.notOk(g.state.unread.has('carol') || g.state.read.has('carol') || g.state.delivered.has('carol'), 'watermarks and unread dropped');
    for (const command of [
      send('carol', GROUP, { tempId: 't2' }),
      edit('carol', M1, 'mine'),
      del('carol', M1),
      react('carol', M1, '👍'),
      delivered('carol', 1),
      read('carol', undefined),
      leave('carol'),
      update('carol', { title: 'x' }),
    ]) {
      g.when(command).thenRejects(t, 'conversation_not_found');
    }
  });

  t.test('a removed member can be added again', async (t) => {
    const g = given(GROUP, [...carolSaid(), memberRemoved('bob', 'carol')]);
    g.when(addMembers('alice', ['carol'])).then(t, [membersAddedBy('alice', ['carol'])]);
    const back = given(GROUP, [...carolSaid(), memberRemoved('bob', 'carol'), membersAddedBy('alice', ['carol'])]);
    t.equal(back.state.members.get('carol'), 'member');
    t.equal(back.state.read.get('carol'), 1, 'history starts at the re-add');
    back.when(send('carol', GROUP, { tempId: 't2' })).then(t, [messageSent('carol', GROUP, 2, { tempId: 't2' })]);
  });

  t.test('a removed admin comes back as a plain member', async (t) => {
    const back = given(GROUP, [...team(), memberRemoved('alice', 'bob'), membersAddedBy('alice', ['bob'])]);
    t.equal(back.state.members.get('bob'), 'member');
    back.when(update('bob', { title: 'x' })).thenRejects(t, 'forbidden');
  });
});

t.test('conversation.set_role', async (t) => {
  t.test('the owner makes a member an admin, and an admin a member: MemberRoleChanged', async (t) => {
    given(GROUP, team()).when(setRole('alice', 'carol', 'admin')).then(t, [memberRoleChanged('alice', 'carol', 'admin')]);
    given(GROUP, team()).when(setRole('alice', 'bob', 'member')).then(t, [memberRoleChanged('alice', 'bob', 'member')]);
  });

  t.test('only the owner: an admin or a member is forbidden', async (t) => {
    given(GROUP, team()).when(setRole('bob', 'carol', 'admin')).thenRejects(t, 'forbidden');
    given(GROUP, team()).when(setRole('carol', 'dave', 'admin')).thenRejects(t, 'forbidden');
  });

  t.test('a stranger: conversation_not_found; a direct conversation: forbidden', async (t) => {
    sameAsNonexistent(t, (id) => setRole('erin', 'carol', 'admin', id));
    given(DIRECT_AB, [directCreated('alice', 'bob')]).when(setRole('alice', 'bob', 'admin', DIRECT_AB)).thenRejects(t, 'forbidden');
  });

  t.test('a target who is not a member: not_a_member', async (t) => {
    given(GROUP, team()).when(setRole('alice', 'erin', 'admin')).thenRejects(t, 'not_a_member');
  });

  t.test("the owner's own role cannot change: forbidden", async (t) => {
    given(GROUP, team()).when(setRole('alice', 'alice', 'admin')).thenRejects(t, 'forbidden');
    given(GROUP, team()).when(setRole('alice', 'alice', 'member')).thenRejects(t, 'forbidden');
  });

  t.test('the role they have already: a no-op', async (t) => {
    given(GROUP, team()).when(setRole('alice', 'bob', 'admin')).thenNoop(t);
    given(GROUP, team()).when(setRole('alice', 'carol', 'member')).thenNoop(t);
  });

  t.test('a demoted admin loses the powers of one', async (t) => {
    const g = given(GROUP, [...carolSaid(), memberRoleChanged('alice', 'bob', 'member', GROUP, { commandId: 'demote' })]);
    t.equal(g.state.members.get('bob'), 'member');
    g.when(update('bob', { title: 'x' })).thenRejects(t, 'forbidden');
    g.when(addMembers('bob', ['erin'])).thenRejects(t, 'forbidden');
    g.when(removeMember('bob', 'dave')).thenRejects(t, 'forbidden');
    g.when(del('bob', M1)).thenRejects(t, 'forbidden');
  });

  t.test('a promoted member gains them', async (t) => {
    const g = given(GROUP, [...carolSaid(), messageSent('dave', GROUP, 2, { tempId: 'd1' }), memberRoleChanged('alice', 'carol', 'admin')]);
    g.when(update('carol', { title: 'Crew' })).then(t, [conversationUpdated('carol', { title: 'Crew' })]);
    g.when(addMembers('carol', ['erin'])).then(t, [membersAddedBy('carol', ['erin'])]);
    g.when(removeMember('carol', 'dave')).then(t, [memberRemoved('carol', 'dave')]);
    g.when(del('carol', messageIdOf('d1'))).then(t, [messageDeleted('carol', messageIdOf('d1'), 2, 'dave')]);
    // Still not the owner: an admin cannot give roles or remove the other admin.
    g.when(setRole('carol', 'dave', 'admin')).thenRejects(t, 'forbidden');
    g.when(removeMember('carol', 'bob')).thenRejects(t, 'forbidden');
  });

  t.test('role owner hands the group over: one MemberRoleChanged, the new owner runs it and the previous one is an admin', async (t) => {
    given(GROUP, team()).when(setRole('alice', 'carol', 'owner')).then(t, [memberRoleChanged('alice', 'carol', 'owner')]);
    given(GROUP, team()).when(setRole('alice', 'bob', 'owner')).then(t, [memberRoleChanged('alice', 'bob', 'owner')]);
    const g = given(GROUP, [...team(), memberRoleChanged('alice', 'carol', 'owner')]);
    t.strictSame([...g.state.members], [['alice', 'admin'], ['bob', 'admin'], ['carol', 'owner'], ['dave', 'member']], 'one owner, the previous one an admin');
    g.when(setRole('alice', 'dave', 'admin')).thenRejects(t, 'forbidden');
    g.when(removeMember('alice', 'carol')).thenRejects(t, 'forbidden');
    g.when(setRole('carol', 'alice', 'member')).then(t, [memberRoleChanged('carol', 'alice', 'member')]);
    g.when(removeMember('carol', 'alice')).then(t, [memberRemoved('carol', 'alice')]);
    g.when(leave('alice')).then(t, [memberLeft('alice')]);
  });

  t.test('a handover folded that does not hold (the giver is not the owner, or the taker not a member) changes nothing', async (t) => {
    const notOwner = given(GROUP, [...team(), memberRoleChanged('bob', 'carol', 'owner', GROUP, { commandId: 'bogus' })]);
    t.strictSame([...notOwner.state.members], [['alice', 'owner'], ['bob', 'admin'], ['carol', 'member'], ['dave', 'member']]);
    const gone = given(GROUP, [...team(), memberRemoved('alice', 'carol'), memberRoleChanged('alice', 'carol', 'owner')]);
    t.equal(gone.state.members.get('alice'), 'owner');
    t.notOk(gone.state.members.has('carol'));
  });

  t.test('the owner cannot leave a group with other members (forbidden); alone, they can', async (t) => {
    given(GROUP, team()).when(leave('alice')).thenRejects(t, 'forbidden');
    given(GROUP, [groupCreated('alice', { members: ['alice', 'bob'] }), memberRemoved('alice', 'bob')]).when(leave('alice')).then(t, [memberLeft('alice')]);
  });

  t.test('a role change folded for someone no longer a member does not bring them back', async (t) => {
    const g = given(GROUP, [...team(), memberRemoved('alice', 'carol'), memberRoleChanged('alice', 'carol', 'admin')]);
    t.notOk(g.state.members.has('carol'));
  });
});

t.test('message.delete in a group', async (t) => {
  t.test("an admin deletes anyone's message", async (t) => {
    given(GROUP, carolSaid()).when(del('bob', M1)).then(t, [messageDeleted('bob', M1, 1, 'carol')]);
  });

  t.test("a member deleting another's message: forbidden", async (t) => {
    given(GROUP, carolSaid()).when(del('dave', M1)).thenRejects(t, 'forbidden');
  });
});

t.test('a redelivered command (same id) is a duplicate of its event', async (t) => {
  // team() is seq 1, 2; the admin event under test is seq 3 (seq 4 after carolSaid).
  given(GROUP, [...team(), conversationUpdated('alice', { title: 'Crew' })]).when(update('alice', { title: 'Crew' })).thenDuplicate(t, 3);
  // Even though deciding it again would now be a no-op or a refusal.
  given(GROUP, [...team(), membersAddedBy('bob', ['erin'])]).when(addMembers('bob', ['erin'])).thenDuplicate(t, 3);
  given(GROUP, [...team(), memberRemoved('bob', 'carol')]).when(removeMember('bob', 'carol')).thenDuplicate(t, 3);
  given(GROUP, [...team(), memberRoleChanged('alice', 'carol', 'admin')]).when(setRole('alice', 'carol', 'admin')).thenDuplicate(t, 3);
  given(GROUP, [...carolSaid(), messageDeleted('bob', M1, 1, 'carol')]).when(del('bob', M1)).thenDuplicate(t, 4);
});

t.test('schemas', async (t) => {
  t.test('the commands and events are valid against the schemas', async (t) => {
    for (const command of [
      update('alice', { title: 'Crew', avatar: AVATAR, joinPolicy: 'open' }),
      update('alice', { avatar: null }),
      addMembers('alice', ['erin', 'frank']),
      removeMember('alice', 'carol'),
      setRole('alice', 'carol', 'admin'),
      setRole('alice', 'bob', 'member'),
    ]) {
      const r = validateCommand(command);
      t.ok(r.ok, `${command.type} is valid`, r.ok ? {} : { errors: r });
    }
    for (const event of [
      conversationUpdated('alice', { title: 'Crew', avatar: AVATAR, joinPolicy: 'invite' }),
      conversationUpdated('alice', { avatar: null }),
      membersAddedBy('alice', ['erin', 'frank']),
      memberRemoved('alice', 'carol'),
      memberRoleChanged('alice', 'carol', 'admin'),
    ]) {
      const r = validateEvent(event);
      t.ok(r.ok, `${event.type} is valid`, r.ok ? {} : { errors: r });
    }
  });

  t.test('an avatar is an http(s) URL: javascript:, data:, quotes, parentheses, spaces and more than 2,048 characters are refused', async (t) => {
    const long = `https://img.test/${'a'.repeat(2048)}`;
    for (const bad of [
      'javascript:alert(1)',
      'data:image/png;base64,AAAA',
      'ftp://img.test/a.png',
      'https://img.test/a"b.png',
      "https://img.test/a'b.png",
      'https://img.test/a(b).png',
      'https://img.test/a b.png',
      'https://img.test/a<b>.png',
      '',
      long,
    ]) {
      t.notOk(validateCommand(update('alice', { avatar: bad })).ok, `command: ${JSON.stringify(bad.slice(0, 40))}`);
      t.notOk(validateEvent(conversationUpdated('alice', { avatar: bad })).ok, `event: ${JSON.stringify(bad.slice(0, 40))}`);
    }
    t.ok(validateCommand(update('alice', { avatar: `https://img.test/${'a'.repeat(2048 - 17)}` })).ok, '2,048 characters is fine');
    t.ok(validateCommand(update('alice', { avatar: 'http://img.test/a%20b.png?x=1&y=[2]#top' })).ok, 'percent-encoded, query and fragment');
  });

  t.test('roles, member lists and fields outside the rules fail the schemas', async (t) => {
    t.notOk(validateCommand({ ...setRole('alice', 'carol', 'admin'), data: { userId: 'carol', role: 'boss' } }).ok, 'no such role');
    t.ok(validateEvent(memberRoleChanged('alice', 'carol', 'owner')).ok, 'a handover is a valid event');
    t.notOk(validateCommand(addMembers('alice', [])).ok, 'nobody to add');
    t.notOk(validateCommand(addMembers('alice', Array.from({ length: limits.addMembersMax + 1 }, (_, i) => `u${i}`))).ok, `more than ${limits.addMembersMax}`);
    t.ok(validateCommand(addMembers('alice', Array.from({ length: limits.addMembersMax }, (_, i) => `u${i}`))).ok, `${limits.addMembersMax} is fine`);
    t.notOk(validateCommand(update('alice', { joinPolicy: 'closed' as 'open' })).ok, 'an unknown join policy');
    t.notOk(validateCommand(update('alice', { title: 'x'.repeat(limits.titleMaxLength + 1) })).ok, 'a title past the limit');
  });
});

t.test('snapshots keep the avatar, the roles and the join policy', async (t) => {
  const history = [
    ...team(),
    conversationUpdated('alice', { title: 'Crew', avatar: AVATAR, joinPolicy: 'open' }, GROUP, { commandId: 'u1' }),
    memberRoleChanged('alice', 'carol', 'admin'),
    memberRoleChanged('alice', 'bob', 'member', GROUP, { commandId: 'demote' }),
    memberRemoved('carol', 'dave'),
  ];
  const g = given(GROUP, history);
  const back = fromSnapshot(JSON.parse(JSON.stringify(toSnapshot(g.state))));
  t.strictSame(back, g.state, 'the same state after a round trip');
  t.equal(back.title, 'Crew');
  t.equal(back.avatar, AVATAR);
  t.equal(back.joinPolicy, 'open');
  t.strictSame([...back.members], [['alice', 'owner'], ['bob', 'member'], ['carol', 'admin']]);
  // It decides as the folded state does.
  t.strictSame(decide(update('carol', { avatar: AVATAR, joinPolicy: 'open' }), back), { kind: 'noop' });
  t.strictSame(decide(update('bob', { title: 'x' }), back), decide(update('bob', { title: 'x' }), g.state));
  t.equal(decide(join('erin'), back).kind, 'append', 'still open');

  // An avatar removed is absent, not null, after the round trip too.
  const removed = given(GROUP, [...history, conversationUpdated('carol', { avatar: null })]);
  const back2 = fromSnapshot(JSON.parse(JSON.stringify(toSnapshot(removed.state))));
  t.notOk('avatar' in back2, 'no avatar key');
  t.strictSame(decide(update('carol', { avatar: null }, GROUP, { id: 'again' }), back2), { kind: 'noop' });
});

