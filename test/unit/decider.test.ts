import t from 'tap';
import { decide, evolve, initialState } from '../../engine/decider.js';
import { RECENT_COMMANDS_KEPT, countUnread, fromSnapshot, toSnapshot, type ConversationState } from '../../lib/conversation-state.js';
import { directConversationId } from '../../lib/ids.js';
import { validateCommand, validateEvent, type ConversationCommand, type ConversationEvent } from '../../schemas/index.js';
import {
  ACTORS,
  AT,
  AT_ISO,
  DIRECT_AB,
  GROUP,
  ORIGIN,
  createDirect,
  createGroup,
  delivered,
  directCreated,
  eventIdOf,
  given,
  groupCreated,
  join,
  leave,
  memberLeft,
  membersAdded,
  messageDelivered,
  messageRead,
  messageSent,
  read,
  send,
} from '../helpers/decider-spec.js';

const ALICE = ACTORS.alice!;
const BOB = ACTORS.bob!;
const CAROL = ACTORS.carol!;

/** A group of alice (owner) and bob, invite-only (the default). */
const team = () => groupCreated('alice', { members: ['alice', 'bob'] });
/** The same group, open to anyone who knows its id. */
const openTeam = () => groupCreated('alice', { members: ['alice', 'bob'], joinPolicy: 'open' });

t.test('direct create', async (t) => {
  t.test('alice and bob: ConversationCreated with both as members, no title', async (t) => {
    given(DIRECT_AB, [])
      .when(createDirect('alice', 'bob'))
      .then(t, [
        {
          type: 'ConversationCreated',
          v: 1,
          id: eventIdOf('cmd-create-direct-alice-bob'),
          conversationId: DIRECT_AB,
          actor: ALICE,
          at: AT_ISO,
          commandId: 'cmd-create-direct-alice-bob',
          origin: ORIGIN,
          data: { kind: 'direct', members: [{ userId: 'alice', role: 'member' }, { userId: 'bob', role: 'member' }] },
        },
      ]);
  });

  t.test('a title on a direct create is dropped', async (t) => {
    given(DIRECT_AB, []).when(createDirect('alice', 'bob', { title: 'ignored' })).then(t, [directCreated('alice', 'bob')]);
  });

  t.test('without an origin the event has no origin', async (t) => {
    given(DIRECT_AB, [])
      .when(createDirect('alice', 'bob', { origin: null }))
      .then(t, [directCreated('alice', 'bob', { origin: null })]);
  });

  t.test('needs exactly two different users', async (t) => {
    given(DIRECT_AB, []).when(createDirect('alice', 'bob', { members: ['alice'] })).thenRejects(t, 'validation_error');
    given(DIRECT_AB, []).when(createDirect('alice', 'bob', { members: ['alice', 'alice'] })).thenRejects(t, 'validation_error');
    given(DIRECT_AB, [])
      .when(createDirect('alice', 'bob', { members: ['alice', 'bob', 'carol'] }))
      .thenRejects(t, 'validation_error');
    const self = directConversationId('alice', 'alice');
    const rejection = given(self, []).when(createDirect('alice', 'alice')).thenRejects(t, 'validation_error');
    t.equal(rejection?.message, 'a direct conversation needs another user', 'with yourself: the message clients have always had');
  });

  t.test('a repeated member collapses: [alice, bob, bob] is the pair', async (t) => {
    given(DIRECT_AB, []).when(createDirect('alice', 'bob', { members: ['alice', 'bob', 'bob'] })).then(t, [directCreated('alice', 'bob')]);
  });

  t.test('the creator must be one of the two', async (t) => {
    const rejection = given(DIRECT_AB, [])
      .when(createDirect('alice', 'bob', { members: ['bob', 'carol'], conversationId: directConversationId('bob', 'carol') }))
      .thenRejects(t, 'validation_error');
    t.equal(rejection?.message, 'the creator must be a member');
  });

  t.test('the conversation id must be the one derived from the pair', async (t) => {
    given('g_other', []).when(createDirect('alice', 'bob', { conversationId: 'g_other' })).thenRejects(t, 'validation_error');
    const ac = directConversationId('alice', 'carol');
    given(ac, []).when(createDirect('alice', 'bob', { conversationId: ac })).thenRejects(t, 'validation_error');
  });

  t.test('creating it again (new command id) answers duplicate with the ConversationCreated', async (t) => {
    const history = [directCreated('alice', 'bob'), messageSent('alice', DIRECT_AB, 1), messageSent('bob', DIRECT_AB, 2, { tempId: 't2' })];
    given(DIRECT_AB, history).when(createDirect('alice', 'bob', { id: 'cmd-again' })).thenDuplicate(t, 1);
    given(DIRECT_AB, history).when(createDirect('bob', 'alice')).thenDuplicate(t, 1);
  });

  t.test('the duplicate names the stream sequence of ConversationCreated, whatever it is', async (t) => {
    const state = initialState(DIRECT_AB);
    evolve(state, directCreated('alice', 'bob'), 7);
    evolve(state, messageSent('alice', DIRECT_AB, 1), 19);
    t.strictSame(decide(createDirect('bob', 'alice'), state), { kind: 'duplicate', eventSeq: 7 });
  });

  t.test('a conversation created implicitly by a first message is a duplicate too', async (t) => {
    const implicit = directCreated('alice', 'bob', { commandId: 'alice:t1 create' });
    given(DIRECT_AB, [implicit, messageSent('alice', DIRECT_AB, 1)]).when(createDirect('bob', 'alice')).thenDuplicate(t, 1);
  });
});

t.test('group create', async (t) => {
  t.test('creator becomes owner, the others members, title trimmed', async (t) => {
    given(GROUP, [])
      .when(createGroup('alice', { title: '  Team  ', members: ['alice', 'bob', 'carol'] }))
      .then(t, [
        {
          type: 'ConversationCreated',
          v: 1,
          id: eventIdOf('cmd-create-g_team'),
          conversationId: GROUP,
          actor: ALICE,
          at: AT_ISO,
          commandId: 'cmd-create-g_team',
          origin: ORIGIN,
          data: {
            kind: 'group',
            title: 'Team',
            members: [
              { userId: 'alice', role: 'owner' },
              { userId: 'bob', role: 'member' },
              { userId: 'carol', role: 'member' },
            ],
            joinPolicy: 'invite',
          },
        },
      ]);
  });

  t.test('joinPolicy: invite unless open is asked for, and always written on the event', async (t) => {
    given(GROUP, []).when(createGroup('alice')).then(t, [groupCreated('alice', { joinPolicy: 'invite' })]);
    given(GROUP, []).when(createGroup('alice', { joinPolicy: 'invite' })).then(t, [groupCreated('alice', { joinPolicy: 'invite' })]);
    given(GROUP, []).when(createGroup('alice', { joinPolicy: 'open' })).then(t, [groupCreated('alice', { joinPolicy: 'open' })]);
  });

  t.test('a direct conversation has no join policy: one on its create is dropped', async (t) => {
    const command = createDirect('alice', 'bob');
    given(DIRECT_AB, [])
      .when({ ...command, data: { ...command.data, joinPolicy: 'open' } })
      .then(t, [directCreated('alice', 'bob')]);
  });

  t.test('the creator need not be listed first', async (t) => {
    given(GROUP, [])
      .when(createGroup('bob', { members: ['alice', 'bob'] }))
      .then(t, [groupCreated('bob', { members: ['alice', 'bob'] })]);
  });

  t.test('a group of one (the creator) is allowed', async (t) => {
    given(GROUP, []).when(createGroup('alice')).then(t, [groupCreated('alice')]);
  });

  t.test('duplicate members collapse, first occurrence keeps its place', async (t) => {
    given(GROUP, [])
      .when(createGroup('alice', { members: ['bob', 'alice', 'bob', 'carol', 'alice'] }))
      .then(t, [groupCreated('alice', { members: ['bob', 'alice', 'carol'] })]);
  });

  t.test('a title is required', async (t) => {
    given(GROUP, []).when(createGroup('alice', { title: undefined })).thenRejects(t, 'validation_error');
    given(GROUP, []).when(createGroup('alice', { title: '' })).thenRejects(t, 'validation_error');
    given(GROUP, []).when(createGroup('alice', { title: ' \t\n ' })).thenRejects(t, 'validation_error');
  });

  t.test('the creator must be a member', async (t) => {
    given(GROUP, []).when(createGroup('alice', { members: ['bob', 'carol'] })).thenRejects(t, 'validation_error');
  });

  t.test('an existing id is conversation_exists', async (t) => {
    given(GROUP, [team()]).when(createGroup('carol', { id: 'cmd-other', members: ['carol'] })).thenRejects(t, 'conversation_exists');
    given(GROUP, [team(), memberLeft('bob')])
      .when(createGroup('alice', { id: 'cmd-other', members: ['alice'] }))
      .thenRejects(t, 'conversation_exists');
  });
});

t.test('join', async (t) => {
  t.test('an unknown conversation is conversation_not_found', async (t) => {
    const rejection = given(GROUP, []).when(join('carol')).thenRejects(t, 'conversation_not_found');
    t.equal(rejection?.message, `conversation ${GROUP} not found`);
  });

  t.test('an invite-only group is conversation_not_found to a stranger, word for word as an unknown id', async (t) => {
    given(GROUP, [team()]).when(join('carol')).thenRejects(t, 'conversation_not_found');
    t.strictSame(given(GROUP, [team()]).when(join('carol')).decision, given(GROUP, []).when(join('carol')).decision);
  });

  t.test('a group from before join policies (none on its event) is invite-only', async (t) => {
    const old = groupCreated('alice', { members: ['alice', 'bob'], joinPolicy: null });
    t.equal('joinPolicy' in old.data, false, 'the event has no joinPolicy');
    t.equal(given(GROUP, [old]).state.joinPolicy, 'invite');
    given(GROUP, [old]).when(join('carol')).thenRejects(t, 'conversation_not_found');
  });

  t.test('a direct conversation: not found to a stranger; a member is told it cannot be joined', async (t) => {
    given(DIRECT_AB, [directCreated('alice', 'bob')]).when(join('carol', DIRECT_AB)).thenRejects(t, 'conversation_not_found');
    t.strictSame(
      given(DIRECT_AB, [directCreated('alice', 'bob')]).when(join('carol', DIRECT_AB)).decision,
      given(DIRECT_AB, []).when(join('carol', DIRECT_AB)).decision,
    );
    given(DIRECT_AB, [directCreated('alice', 'bob')]).when(join('bob', DIRECT_AB)).thenRejects(t, 'forbidden');
  });

  t.test('a member joining again is already_a_member, open group or not', async (t) => {
    given(GROUP, [team()]).when(join('bob')).thenRejects(t, 'already_a_member');
    given(GROUP, [team()]).when(join('alice')).thenRejects(t, 'already_a_member');
    given(GROUP, [openTeam()]).when(join('bob')).thenRejects(t, 'already_a_member');
  });

  t.test('a new user joins an open group as member: MembersAdded', async (t) => {
    given(GROUP, [openTeam()])
      .when(join('carol'))
      .then(t, [
        {
          type: 'MembersAdded',
          v: 1,
          id: eventIdOf('cmd-join-carol-g_team'),
          conversationId: GROUP,
          actor: CAROL,
          at: AT_ISO,
          commandId: 'cmd-join-carol-g_team',
          origin: ORIGIN,
          data: { members: [{ userId: 'carol', role: 'member' }] },
        },
      ]);
  });

  t.test('a user who left an open group may join again', async (t) => {
    given(GROUP, [openTeam(), memberLeft('bob')])
      .when(join('bob', GROUP, { id: 'cmd-rejoin' }))
      .then(t, [membersAdded('bob', GROUP, { commandId: 'cmd-rejoin' })]);
  });

  t.test('a user who left an invite-only group is a stranger to it: not found', async (t) => {
    given(GROUP, [team(), memberLeft('bob')]).when(join('bob', GROUP, { id: 'cmd-rejoin' })).thenRejects(t, 'conversation_not_found');
  });
});

t.test('leave', async (t) => {
  t.test('an unknown conversation is conversation_not_found', async (t) => {
    given(GROUP, []).when(leave('bob')).thenRejects(t, 'conversation_not_found');
  });

  t.test('a non-member is conversation_not_found, as for an unknown id (also of a direct conversation)', async (t) => {
    given(GROUP, [team()]).when(leave('carol')).thenRejects(t, 'conversation_not_found');
    t.strictSame(given(GROUP, [openTeam()]).when(leave('carol')).decision, given(GROUP, []).when(leave('carol')).decision);
    given(DIRECT_AB, [directCreated('alice', 'bob')]).when(leave('carol', DIRECT_AB)).thenRejects(t, 'conversation_not_found');
    t.strictSame(
      given(DIRECT_AB, [directCreated('alice', 'bob')]).when(leave('carol', DIRECT_AB)).decision,
      given(DIRECT_AB, []).when(leave('carol', DIRECT_AB)).decision,
    );
  });

  t.test('leaving twice: the second is conversation_not_found', async (t) => {
    given(GROUP, [team(), memberLeft('bob')]).when(leave('bob', GROUP, { id: 'cmd-leave-again' })).thenRejects(t, 'conversation_not_found');
  });

  t.test('a direct conversation cannot be left', async (t) => {
    given(DIRECT_AB, [directCreated('alice', 'bob')]).when(leave('alice', DIRECT_AB)).thenRejects(t, 'forbidden');
  });

  t.test('a member leaves: MemberLeft', async (t) => {
    given(GROUP, [team()])
      .when(leave('bob'))
      .then(t, [
        {
          type: 'MemberLeft',
          v: 1,
          id: eventIdOf('cmd-leave-bob-g_team'),
          conversationId: GROUP,
          actor: BOB,
          at: AT_ISO,
          commandId: 'cmd-leave-bob-g_team',
          origin: ORIGIN,
          data: { userId: 'bob' },
        },
      ]);
  });

  t.test('the owner may not leave while others are in the group: forbidden (they hand it over first)', async (t) => {
    given(GROUP, [team()]).when(leave('alice')).thenRejects(t, 'forbidden');
  });
});

t.test('send', async (t) => {
  t.test('a member sends a text: MessageSent with seq 1 and only the given fields', async (t) => {
    given(GROUP, [team()])
      .when(send('bob', GROUP, { tempId: 'tmp-1', content: 'hi all' }))
      .then(t, [
        {
          type: 'MessageSent',
          v: 1,
          id: eventIdOf('bob:tmp-1'),
          conversationId: GROUP,
          actor: BOB,
          at: AT_ISO,
          commandId: 'bob:tmp-1',
          origin: ORIGIN,
          data: { messageId: 'm_tmp-1', seq: 1, sender: BOB, type: 'text', content: 'hi all', tempId: 'tmp-1' },
        },
      ]);
  });

  t.test('optional fields are carried when given', async (t) => {
    const media = [{ url: 'https://cdn.test/p.png', mimeType: 'image/png', width: 10, height: 20 }];
    given(GROUP, [team()])
      .when(send('alice', GROUP, { type: 'image', content: 'look', media, replyToId: 'm_earlier', mentions: ['bob'] }))
      .then(t, [
        {
          type: 'MessageSent',
          v: 1,
          id: eventIdOf('alice:t1'),
          conversationId: GROUP,
          actor: ALICE,
          at: AT_ISO,
          commandId: 'alice:t1',
          origin: ORIGIN,
          data: {
            messageId: 'm_t1',
            seq: 1,
            sender: ALICE,
            type: 'image',
            content: 'look',
            media,
            replyToId: 'm_earlier',
            mentions: ['bob'],
            tempId: 't1',
          },
        },
      ]);
  });

  t.test('media without content: no content field', async (t) => {
    const media = [{ url: 'https://cdn.test/v.mp4' }];
    given(GROUP, [team()])
      .when(send('alice', GROUP, { type: 'video', content: undefined, media }))
      .then(t, [messageSent('alice', GROUP, 1, { type: 'video', content: undefined, media })]);
  });

  t.test('content or media is required', async (t) => {
    given(GROUP, [team()]).when(send('alice', GROUP, { type: 'image', content: undefined })).thenRejects(t, 'validation_error');
    given(GROUP, [team()]).when(send('alice', GROUP, { type: 'image', content: '  ', media: [] })).thenRejects(t, 'validation_error');
  });

  t.test('a text needs non-blank content, media or not', async (t) => {
    given(GROUP, [team()]).when(send('alice', GROUP, { content: '' })).thenRejects(t, 'validation_error');
    given(GROUP, [team()]).when(send('alice', GROUP, { content: ' \n\t ' })).thenRejects(t, 'validation_error');
    given(GROUP, [team()])
      .when(send('alice', GROUP, { content: undefined, media: [{ url: 'https://cdn.test/p.png' }] }))
      .thenRejects(t, 'validation_error');
  });

  t.test('content validation comes before existence', async (t) => {
    given(GROUP, []).when(send('alice', GROUP, { content: ' ' })).thenRejects(t, 'validation_error');
  });

  t.test('an unknown conversation without directWith is conversation_not_found', async (t) => {
    given(GROUP, []).when(send('alice')).thenRejects(t, 'conversation_not_found');
    given(DIRECT_AB, []).when(send('alice', DIRECT_AB)).thenRejects(t, 'conversation_not_found');
  });

  t.test('a first direct message creates the conversation, then sends', async (t) => {
    given(DIRECT_AB, [])
      .when(send('alice', DIRECT_AB, { directWith: 'bob' }))
      .then(t, [
        {
          type: 'ConversationCreated',
          v: 1,
          id: eventIdOf('alice:t1 create'),
          conversationId: DIRECT_AB,
          actor: ALICE,
          at: AT_ISO,
          commandId: 'alice:t1 create',
          origin: ORIGIN,
          data: { kind: 'direct', members: [{ userId: 'alice', role: 'member' }, { userId: 'bob', role: 'member' }] },
        },
        {
          type: 'MessageSent',
          v: 1,
          id: eventIdOf('alice:t1'),
          conversationId: DIRECT_AB,
          actor: ALICE,
          at: AT_ISO,
          commandId: 'alice:t1',
          origin: ORIGIN,
          data: { messageId: 'm_t1', seq: 1, sender: ALICE, type: 'text', content: 'hello', tempId: 't1' },
        },
      ]);
  });

  t.test('directWith on an existing direct conversation only sends', async (t) => {
    given(DIRECT_AB, [directCreated('alice', 'bob'), messageSent('alice', DIRECT_AB, 1)])
      .when(send('bob', DIRECT_AB, { tempId: 'b1', directWith: 'alice' }))
      .then(t, [messageSent('bob', DIRECT_AB, 2, { tempId: 'b1' })]);
  });

  t.test('directWith yourself is a validation_error', async (t) => {
    const self = directConversationId('alice', 'alice');
    given(self, []).when(send('alice', self, { directWith: 'alice' })).thenRejects(t, 'validation_error');
  });

  t.test('directWith with a conversation id that is not the pair’s is a validation_error', async (t) => {
    const ac = directConversationId('alice', 'carol');
    given(ac, []).when(send('alice', ac, { directWith: 'bob' })).thenRejects(t, 'validation_error');
    given('g_new', []).when(send('alice', 'g_new', { directWith: 'bob' })).thenRejects(t, 'validation_error');
  });

  t.test('a non-member is conversation_not_found, as for an unknown id', async (t) => {
    given(GROUP, [team()]).when(send('carol')).thenRejects(t, 'conversation_not_found');
    given(GROUP, [team(), memberLeft('bob')]).when(send('bob')).thenRejects(t, 'conversation_not_found');
    given(DIRECT_AB, [directCreated('alice', 'bob')]).when(send('carol', DIRECT_AB)).thenRejects(t, 'conversation_not_found');
    t.strictSame(given(GROUP, [openTeam()]).when(send('carol')).decision, given(GROUP, []).when(send('carol')).decision);
    t.strictSame(
      given(DIRECT_AB, [directCreated('alice', 'bob')]).when(send('carol', DIRECT_AB)).decision,
      given(DIRECT_AB, []).when(send('carol', DIRECT_AB)).decision,
    );
  });

  // The gateway always derives the id from directWith; the decider does not rely on it.
  t.test('directWith is checked before existence: a wrong pair is a validation_error, existing or not', async (t) => {
    given(GROUP, [team()]).when(send('carol', GROUP, { directWith: 'bob' })).thenRejects(t, 'validation_error');
    t.strictSame(
      given(GROUP, [team()]).when(send('carol', GROUP, { directWith: 'bob' })).decision,
      given(GROUP, []).when(send('carol', GROUP, { directWith: 'bob' })).decision,
    );
    given(DIRECT_AB, [directCreated('alice', 'bob')]).when(send('carol', DIRECT_AB, { directWith: 'bob' })).thenRejects(t, 'validation_error');
  });

  t.test('seq counts messages only, one per message', async (t) => {
    const history = [
      team(),
      messageSent('alice', GROUP, 1, { tempId: 'a1' }),
      membersAdded('carol'),
      messageSent('bob', GROUP, 2, { tempId: 'b1' }),
      memberLeft('bob'),
    ];
    given(GROUP, history).when(send('carol', GROUP, { tempId: 'c1' })).then(t, [messageSent('carol', GROUP, 3, { tempId: 'c1' })]);
  });
});

t.test('idempotency', async (t) => {
  const history = [team(), membersAdded('carol'), messageSent('alice', GROUP, 1), messageSent('bob', GROUP, 2, { tempId: 't2' }), memberLeft('carol')];

  t.test('a command appended before answers duplicate with its event’s stream seq', async (t) => {
    given(GROUP, history).when(send('alice')).thenDuplicate(t, 3);
    given(GROUP, history).when(send('bob', GROUP, { tempId: 't2' })).thenDuplicate(t, 4);
  });

  t.test('the duplicate check comes before every rule', async (t) => {
    given(GROUP, history).when(createGroup('alice', { members: ['alice', 'bob'] })).thenDuplicate(t, 1); // not conversation_exists
    given(GROUP, history).when(join('carol')).thenDuplicate(t, 2); // although carol left since
    given(GROUP, history).when(leave('carol')).thenDuplicate(t, 5); // not not_a_member
  });

  t.test('a send whose implicit create was appended but not its message decides only the message', async (t) => {
    const implicit = directCreated('alice', 'bob', { commandId: 'alice:t1 create' });
    const whole = given(DIRECT_AB, []).when(send('alice', DIRECT_AB, { directWith: 'bob' })).decision;
    t.strictSame(whole.kind === 'append' ? whole.events[0] : undefined, implicit, 'the implicit create is what the helper builds');
    given(DIRECT_AB, [implicit])
      .when(send('alice', DIRECT_AB, { directWith: 'bob' }))
      .then(t, [messageSent('alice', DIRECT_AB, 1)]);
    t.strictSame(whole.kind === 'append' ? whole.events[1] : undefined, messageSent('alice', DIRECT_AB, 1), 'the same MessageSent as the first try');
  });

  t.test('a send whose two events were both appended is a duplicate of the MessageSent', async (t) => {
    const implicit = directCreated('alice', 'bob', { commandId: 'alice:t1 create' });
    given(DIRECT_AB, [implicit, messageSent('alice', DIRECT_AB, 1)]).when(send('alice', DIRECT_AB, { directWith: 'bob' })).thenDuplicate(t, 2);
  });

  // A tempId may be any visible ASCII, so the implicit create's id uses a space, which no tempId has.
  t.test('a tempId ending in /create is a new message, not the implicit create of another', async (t) => {
    const implicit = directCreated('alice', 'bob', { commandId: 'alice:a create' });
    given(DIRECT_AB, [implicit, messageSent('alice', DIRECT_AB, 1, { tempId: 'a' })])
      .when(send('alice', DIRECT_AB, { tempId: 'a/create', directWith: 'bob' }))
      .then(t, [messageSent('alice', DIRECT_AB, 2, { tempId: 'a/create' })]);
  });

  t.test(`only the last ${RECENT_COMMANDS_KEPT} command ids are remembered: the oldest is forgotten`, async (t) => {
    const messages = Array.from({ length: RECENT_COMMANDS_KEPT }, (_, i) => messageSent('alice', GROUP, i + 1, { tempId: `t${i + 1}` }));
    const g = given(GROUP, [team(), ...messages]);
    t.equal(g.state.recentCommands.size, RECENT_COMMANDS_KEPT);
    t.equal(g.state.recentCommands.has('cmd-create-g_team'), false, 'the create (oldest) is forgotten');
    g.when(createGroup('alice', { members: ['alice', 'bob'] })).thenRejects(t, 'conversation_exists');
    g.when(send('alice', GROUP, { tempId: 't1' })).thenDuplicate(t, 2);
    g.when(send('alice', GROUP, { tempId: `t${RECENT_COMMANDS_KEPT}` })).thenDuplicate(t, RECENT_COMMANDS_KEPT + 1);
  });
});

t.test('event ids are deterministic: same command, same events', async (t) => {
  const command = send('alice', DIRECT_AB, { directWith: 'bob' });
  const first = given(DIRECT_AB, []).when(command).decision;
  const second = given(DIRECT_AB, []).when(structuredClone(command)).decision;
  t.strictSame(first, second);
  t.equal(first.kind, 'append');
  if (first.kind !== 'append') return;
  for (const event of first.events) t.match(event.id, /^e_[A-Za-z0-9_-]{26}$/);
  t.not(first.events[0]!.id, first.events[1]!.id, 'the two events of one command have different ids');
  const other = given(DIRECT_AB, []).when(send('alice', DIRECT_AB, { tempId: 't2', directWith: 'bob' })).decision;
  t.not(other.kind === 'append' ? other.events[1]!.id : '', first.events[1]!.id, 'another command, another id');
});

t.test('evolve', async (t) => {
  t.test('folds a history into the state, version = the stream seq of the last event', async (t) => {
    const state = initialState(GROUP);
    t.strictSame(state, {
      id: GROUP,
      exists: false,
      kind: 'group',
      createdBy: '',
      createdAt: '',
      members: new Map(),
      lastMessageSeq: 0,
      delivered: new Map(),
      read: new Map(),
      unread: new Map(),
      senderRuns: [],
      messages: new Map(),
      reactions: new Map(),
      version: 0,
      recentCommands: new Map(),
    });
    // Stream sequences are positions in the whole events stream: not contiguous per conversation.
    t.equal(evolve(state, team(), 5), state, 'mutates and returns the state');
    t.equal(state.version, 5);
    evolve(state, membersAdded('carol'), 12);
    t.equal(state.version, 12);
    evolve(state, messageSent('carol', GROUP, 1), 40);
    t.equal(state.version, 40);
    evolve(state, memberLeft('bob'), 41);
    t.strictSame(state, {
      id: GROUP,
      exists: true,
      kind: 'group',
      title: 'Team',
      joinPolicy: 'invite',
      createdBy: 'alice',
      createdAt: AT_ISO,
      firstEventSeq: 5,
      members: new Map([
        ['alice', 'owner'],
        ['carol', 'member'],
      ]),
      lastMessageSeq: 1,
      delivered: new Map(),
      read: new Map(),
      unread: new Map([
        ['carol', 0],
        ['alice', 1],
      ]),
      senderRuns: [[1, 'carol']],
      messages: new Map([['m_t1', [1, 'carol', 0]]]),
      reactions: new Map(),
      version: 41,
      recentCommands: new Map([
        ['cmd-create-g_team', 5],
        ['cmd-join-carol-g_team', 12],
        ['carol:t1', 40],
        ['cmd-leave-bob-g_team', 41],
      ]),
    });
  });

  t.test('a direct conversation has no title and no join policy', async (t) => {
    const { state } = given(DIRECT_AB, [directCreated('alice', 'bob')]);
    t.equal(state.kind, 'direct');
    t.equal('title' in state, false);
    t.equal('joinPolicy' in state, false);
  });

  t.test("a group's join policy is its event's; none (an older event) is invite", async (t) => {
    t.equal(given(GROUP, [openTeam()]).state.joinPolicy, 'open');
    t.equal(given(GROUP, [team()]).state.joinPolicy, 'invite');
    t.equal(given(GROUP, [groupCreated('alice', { joinPolicy: null })]).state.joinPolicy, 'invite');
  });
});

t.test('snapshot round trip preserves the state and its decisions', async (t) => {
  const history = [
    team(),
    membersAdded('carol'),
    messageSent('alice', GROUP, 1),
    messageSent('carol', GROUP, 2, { tempId: 't2' }),
    messageDelivered('alice', 2),
    messageRead('carol', 1),
    memberLeft('bob'),
    messageSent('alice', GROUP, 3, { tempId: 't3' }),
  ];
  const { state } = given(GROUP, history);
  t.strictSame(state.delivered, new Map([['alice', 2], ['carol', 1]]), 'delivered watermarks are in the state');
  t.strictSame(state.read, new Map([['carol', 1]]), 'read watermarks are in the state');
  const snapshot = toSnapshot(state);
  const restored: ConversationState = fromSnapshot(JSON.parse(JSON.stringify(snapshot)));
  t.strictSame(restored, state);
  t.strictSame(JSON.parse(JSON.stringify(snapshot)), snapshot, 'the snapshot is JSON-safe');
  t.not(restored.members, state.members, 'the restored state shares no maps with the original');
  for (const command of [
    send('carol', GROUP, { tempId: 't4' }),
    send('alice'),
    join('bob', GROUP, { id: 'x' }),
    createGroup('dave'),
    read('carol', undefined),
    read('carol', 1, GROUP, { id: 'again' }),
    delivered('alice', 3),
    delivered('alice', 2, GROUP, { id: 'again' }),
  ]) {
    t.strictSame(decide(command, restored), decide(command, state), `same decision for ${command.type} ${command.id}`);
  }
});

t.test('the builders make schema-valid commands', async (t) => {
  const commands = [
    createDirect('alice', 'bob'),
    createGroup('alice', { members: ['alice', 'bob'] }),
    join('carol'),
    leave('bob'),
    send('alice'),
    send('alice', DIRECT_AB, { directWith: 'bob', origin: null, media: [{ url: 'u' }], mentions: ['bob'], replyToId: 'm_x' }),
    delivered('bob', 3),
    read('bob', 3),
    read('bob', undefined, GROUP, { origin: null }),
  ];
  for (const command of commands) t.strictSame(validateCommand(command), { ok: true, value: command }, `${command.type} is valid`);
  t.equal(createGroup('alice').at, AT);
});

t.test('every decided event is a schema-valid ConversationEvent', async (t) => {
  const decided: ConversationEvent[] = [];
  for (const [id, history, command] of [
    [DIRECT_AB, [], send('alice', DIRECT_AB, { directWith: 'bob' })],
    [GROUP, [], createGroup('alice', { members: ['alice', 'bob'] })],
    [GROUP, [openTeam()], join('carol')],
    [GROUP, [team()], leave('bob')],
    [GROUP, [team(), messageSent('alice', GROUP, 1)], delivered('bob', 1)],
    [GROUP, [team(), messageSent('alice', GROUP, 1)], read('bob', undefined)],
  ] as const) {
    const d = given(id, [...history]).when(command).decision;
    if (d.kind === 'append') decided.push(...d.events);
  }
  t.equal(decided.length, 7);
  for (const event of decided) t.strictSame(validateEvent(event), { ok: true, value: event }, `${event.type} is valid`);
});

/* ------------------------------------------------------------------ receipts */

/** alice sent 1 and 2, bob sent 3 (stream seqs 2, 3, 4). */
const chat = () => [
  team(),
  messageSent('alice', GROUP, 1, { tempId: 'a1' }),
  messageSent('alice', GROUP, 2, { tempId: 'a2' }),
  messageSent('bob', GROUP, 3, { tempId: 'b1' }),
];

t.test('receipts', async (t) => {
  t.test('delivered: MessageDelivered with the member and the watermark', async (t) => {
    given(GROUP, chat())
      .when(delivered('bob', 2))
      .then(t, [
        {
          type: 'MessageDelivered',
          v: 1,
          id: eventIdOf('cmd-delivered-bob-g_team-2'),
          conversationId: GROUP,
          actor: BOB,
          at: AT_ISO,
          commandId: 'cmd-delivered-bob-g_team-2',
          origin: ORIGIN,
          data: { userId: 'bob', upToSeq: 2 },
        },
      ]);
  });

  t.test('read: MessageRead with the member and the watermark', async (t) => {
    given(GROUP, chat())
      .when(read('bob', 2))
      .then(t, [
        {
          type: 'MessageRead',
          v: 1,
          id: eventIdOf('cmd-read-bob-g_team-2'),
          conversationId: GROUP,
          actor: BOB,
          at: AT_ISO,
          commandId: 'cmd-read-bob-g_team-2',
          origin: ORIGIN,
          data: { userId: 'bob', upToSeq: 2 },
        },
      ]);
  });

  t.test('without an origin the receipt event has none', async (t) => {
    given(GROUP, chat()).when(read('bob', 2, GROUP, { origin: null })).then(t, [messageRead('bob', 2, GROUP, { origin: null })]);
    given(GROUP, chat()).when(delivered('bob', 2, GROUP, { origin: null })).then(t, [messageDelivered('bob', 2, GROUP, { origin: null })]);
  });

  t.test('an unknown conversation is conversation_not_found', async (t) => {
    given(GROUP, []).when(delivered('alice', 1)).thenRejects(t, 'conversation_not_found');
    given(GROUP, []).when(read('alice', 1)).thenRejects(t, 'conversation_not_found');
    given(GROUP, []).when(read('alice', undefined)).thenRejects(t, 'conversation_not_found');
    given(DIRECT_AB, []).when(read('alice', undefined, DIRECT_AB)).thenRejects(t, 'conversation_not_found');
  });

  t.test('a non-member is conversation_not_found, as for an unknown id', async (t) => {
    given(GROUP, chat()).when(delivered('carol', 1)).thenRejects(t, 'conversation_not_found');
    given(GROUP, chat()).when(read('carol', undefined)).thenRejects(t, 'conversation_not_found');
    given(GROUP, [...chat(), memberLeft('bob')]).when(read('bob', 2)).thenRejects(t, 'conversation_not_found');
    given(GROUP, [...chat(), memberLeft('bob')]).when(delivered('bob', 2)).thenRejects(t, 'conversation_not_found');
    const direct = [directCreated('alice', 'bob'), messageSent('alice', DIRECT_AB, 1)];
    given(DIRECT_AB, direct).when(read('carol', 1, DIRECT_AB)).thenRejects(t, 'conversation_not_found');
    given(DIRECT_AB, direct).when(delivered('carol', 1, DIRECT_AB)).thenRejects(t, 'conversation_not_found');
    t.strictSame(given(DIRECT_AB, direct).when(read('carol', 1, DIRECT_AB)).decision, given(DIRECT_AB, []).when(read('carol', 1, DIRECT_AB)).decision);
    t.strictSame(given(GROUP, chat()).when(delivered('carol', 1)).decision, given(GROUP, []).when(delivered('carol', 1)).decision);
  });

  t.test('membership is checked even when the receipt would be a no-op', async (t) => {
    given(GROUP, [team()]).when(read('carol', undefined)).thenRejects(t, 'conversation_not_found');
    given(GROUP, [team()]).when(delivered('carol', 1)).thenRejects(t, 'conversation_not_found');
  });

  t.test('in a direct conversation', async (t) => {
    const direct = [directCreated('alice', 'bob'), messageSent('alice', DIRECT_AB, 1)];
    given(DIRECT_AB, direct).when(read('bob', 1, DIRECT_AB)).then(t, [messageRead('bob', 1, DIRECT_AB)]);
    given(DIRECT_AB, direct).when(delivered('bob', 1, DIRECT_AB)).then(t, [messageDelivered('bob', 1, DIRECT_AB)]);
    given(DIRECT_AB, direct).when(read('alice', 1, DIRECT_AB)).thenNoop(t);
  });

  t.test('upToSeq past the last message is clamped to the last message', async (t) => {
    given(GROUP, chat())
      .when(delivered('bob', 99))
      .then(t, [messageDelivered('bob', 3, GROUP, { commandId: 'cmd-delivered-bob-g_team-99' })]);
    given(GROUP, chat())
      .when(read('alice', 4))
      .then(t, [messageRead('alice', 3, GROUP, { commandId: 'cmd-read-alice-g_team-4' })]);
  });

  t.test('a read without upToSeq reads everything so far', async (t) => {
    given(GROUP, chat())
      .when(read('bob', undefined))
      .then(t, [messageRead('bob', 3, GROUP, { commandId: 'cmd-read-bob-g_team-all' })]);
    given(GROUP, [...chat(), messageSent('alice', GROUP, 4, { tempId: 'a3' })])
      .when(read('bob', undefined))
      .then(t, [messageRead('bob', 4, GROUP, { commandId: 'cmd-read-bob-g_team-all' })]);
  });

  t.test('before the first message every receipt is a no-op', async (t) => {
    given(GROUP, [team()]).when(read('bob', undefined)).thenNoop(t);
    given(GROUP, [team()]).when(read('bob', 1)).thenNoop(t);
    given(GROUP, [team()]).when(delivered('bob', 5)).thenNoop(t);
    given(DIRECT_AB, [directCreated('alice', 'bob')]).when(read('bob', undefined, DIRECT_AB)).thenNoop(t);
  });

  t.test('a stale or repeated receipt (new command id) is a no-op', async (t) => {
    const d = [...chat(), messageDelivered('bob', 2)];
    given(GROUP, d).when(delivered('bob', 1)).thenNoop(t);
    given(GROUP, d).when(delivered('bob', 2, GROUP, { id: 'cmd-again' })).thenNoop(t);
    const r = [...chat(), messageRead('bob', 2)];
    given(GROUP, r).when(read('bob', 1)).thenNoop(t);
    given(GROUP, r).when(read('bob', 2, GROUP, { id: 'cmd-again' })).thenNoop(t);
    const all = [...chat(), messageRead('bob', 3, GROUP, { commandId: 'cmd-read-bob-g_team-all' })];
    given(GROUP, all).when(read('bob', undefined, GROUP, { id: 'cmd-again' })).thenNoop(t);
    given(GROUP, all).when(read('bob', 50)).thenNoop(t);
  });

  t.test('the same receipt command again is a duplicate of its event', async (t) => {
    given(GROUP, [...chat(), messageDelivered('bob', 2)]).when(delivered('bob', 2)).thenDuplicate(t, 5);
    given(GROUP, [...chat(), messageRead('bob', 2)]).when(read('bob', 2)).thenDuplicate(t, 5);
    // before every rule: bob has left since, and the watermark would not move anyway
    given(GROUP, [...chat(), messageRead('bob', 2), memberLeft('bob')]).when(read('bob', 2)).thenDuplicate(t, 5);
  });

  t.test('a receipt covering only the actor’s own messages is a no-op', async (t) => {
    given(GROUP, chat()).when(delivered('alice', 2)).thenNoop(t);
    given(GROUP, chat()).when(read('alice', 1)).thenNoop(t);
    given(GROUP, chat()).when(read('alice', 2)).thenNoop(t);
    // bob's watermark is at 2; the only message after it is his own
    given(GROUP, [...chat(), messageDelivered('bob', 2)]).when(delivered('bob', 3)).thenNoop(t);
    given(GROUP, [...chat(), messageRead('bob', 2)]).when(read('bob', undefined)).thenNoop(t);
  });

  t.test('a receipt whose range includes messages from others moves, own messages or not', async (t) => {
    given(GROUP, chat()).when(read('alice', 3)).then(t, [messageRead('alice', 3)]);
    given(GROUP, chat()).when(delivered('bob', 3)).then(t, [messageDelivered('bob', 3)]);
  });

  t.test('read implies delivered: after MessageRead the delivered watermark is at least the read one', async (t) => {
    const history = [...chat(), messageRead('bob', 2)];
    const g = given(GROUP, history);
    t.equal(g.state.read.get('bob'), 2);
    t.equal(g.state.delivered.get('bob'), 2);
    g.when(delivered('bob', 2)).thenNoop(t);
    g.when(delivered('bob', 1)).thenNoop(t);
    given(GROUP, [...history, messageSent('alice', GROUP, 4, { tempId: 'a3' })])
      .when(delivered('bob', 4))
      .then(t, [messageDelivered('bob', 4)]);
  });

  t.test('delivered does not imply read', async (t) => {
    const g = given(GROUP, [...chat(), messageDelivered('bob', 3)]);
    t.equal(g.state.read.has('bob'), false);
    g.when(read('bob', 2)).then(t, [messageRead('bob', 2)]);
  });

  t.test('evolve never moves a watermark backwards', async (t) => {
    const g = given(GROUP, [
      ...chat(),
      messageDelivered('bob', 3),
      messageDelivered('bob', 1, GROUP, { commandId: 'late-delivered' }),
      messageRead('bob', 2),
      messageRead('bob', 1, GROUP, { commandId: 'late-read' }),
      messageRead('alice', 3),
      messageDelivered('alice', 1, GROUP, { commandId: 'late-alice' }),
    ]);
    t.strictSame(g.state.delivered, new Map([['bob', 3], ['alice', 3]]));
    t.strictSame(g.state.read, new Map([['bob', 2], ['alice', 3]]));
    t.equal(g.state.version, 10);
  });

  t.test('receipts are remembered for idempotency but do not change lastMessageSeq', async (t) => {
    const g = given(GROUP, [...chat(), messageRead('bob', 2), messageDelivered('alice', 3)]);
    t.equal(g.state.lastMessageSeq, 3);
    t.equal(g.state.recentCommands.get('cmd-read-bob-g_team-2'), 5);
    t.equal(g.state.recentCommands.get('cmd-delivered-alice-g_team-3'), 6);
    g.when(send('alice', GROUP, { tempId: 'a3' })).then(t, [messageSent('alice', GROUP, 4, { tempId: 'a3' })]);
  });
});

/* ------------------------------------------------------------------ blocks (decide context) */

t.test('blocks', async (t) => {
  const blocked = { blockedPair: true };

  t.test('a send in an existing direct conversation is blocked, either way', async (t) => {
    const history = [directCreated('alice', 'bob')];
    given(DIRECT_AB, history).when(send('alice', DIRECT_AB), blocked).thenRejects(t, 'blocked');
    given(DIRECT_AB, history).when(send('bob', DIRECT_AB, { tempId: 'b1' }), blocked).thenRejects(t, 'blocked');
    given(DIRECT_AB, history).when(send('alice', DIRECT_AB, { directWith: 'bob' }), blocked).thenRejects(t, 'blocked');
  });

  t.test('a first direct message (implicit create) is blocked: nothing is appended', async (t) => {
    given(DIRECT_AB, []).when(send('alice', DIRECT_AB, { directWith: 'bob' }), blocked).thenRejects(t, 'blocked');
  });

  t.test('a direct create is blocked, new or existing', async (t) => {
    given(DIRECT_AB, []).when(createDirect('alice', 'bob'), blocked).thenRejects(t, 'blocked');
    given(DIRECT_AB, []).when(createDirect('bob', 'alice'), blocked).thenRejects(t, 'blocked');
    given(DIRECT_AB, [directCreated('alice', 'bob')])
      .when(createDirect('bob', 'alice'), blocked)
      .thenRejects(t, 'blocked');
  });

  t.test('a group send is not blocked', async (t) => {
    given(GROUP, [team()]).when(send('alice'), blocked).then(t, [messageSent('alice', GROUP, 1)]);
    given(GROUP, [team()]).when(send('bob'), blocked).then(t, [messageSent('bob', GROUP, 1)]);
  });

  t.test('a group create is not blocked', async (t) => {
    given(GROUP, [])
      .when(createGroup('alice', { members: ['alice', 'bob'] }), blocked)
      .then(t, [groupCreated('alice', { members: ['alice', 'bob'] })]);
  });

  t.test('without a block (no context, or blockedPair false) direct sends and creates go through', async (t) => {
    const history = [directCreated('alice', 'bob')];
    given(DIRECT_AB, history).when(send('alice', DIRECT_AB), { blockedPair: false }).then(t, [messageSent('alice', DIRECT_AB, 1)]);
    given(DIRECT_AB, history).when(send('alice', DIRECT_AB), {}).then(t, [messageSent('alice', DIRECT_AB, 1)]);
    given(DIRECT_AB, []).when(createDirect('alice', 'bob'), { blockedPair: false }).then(t, [directCreated('alice', 'bob')]);
  });

  // The handler sets blockedPair from the two members of an existing direct conversation, whoever
  // sends; a non-member must not learn that the two block each other.
  t.test('a non-member sending in a blocked direct conversation is conversation_not_found, not blocked', async (t) => {
    given(DIRECT_AB, [directCreated('alice', 'bob')]).when(send('carol', DIRECT_AB), blocked).thenRejects(t, 'conversation_not_found');
  });

  t.test('a send decided before the block is still answered as a duplicate', async (t) => {
    given(DIRECT_AB, [directCreated('alice', 'bob'), messageSent('alice', DIRECT_AB, 1)])
      .when(send('alice', DIRECT_AB), blocked)
      .thenDuplicate(t, 2);
  });
});

/* ------------------------------------------------------------------ joining and unread */

t.test('joining', async (t) => {
  t.test('a joiner’s watermarks start at the last message: history is neither unread nor owed receipts', async (t) => {
    const g = given(GROUP, [...chat(), membersAdded('carol')]);
    t.equal(g.state.read.get('carol'), 3);
    t.equal(g.state.delivered.get('carol'), 3);
    t.equal(g.state.unread.get('carol'), 0);
    t.equal(countUnread(g.state, 'carol'), 0);
    g.when(delivered('carol', 3)).thenNoop(t);
    g.when(read('carol', undefined)).thenNoop(t);
    g.when(read('carol', 2)).thenNoop(t);
  });

  t.test('after joining, new messages are owed receipts and unread', async (t) => {
    const g = given(GROUP, [...chat(), membersAdded('carol'), messageSent('alice', GROUP, 4, { tempId: 'a3' })]);
    t.equal(g.state.unread.get('carol'), 1);
    g.when(read('carol', undefined)).then(t, [messageRead('carol', 4, GROUP, { commandId: 'cmd-read-carol-g_team-all' })]);
    g.when(delivered('carol', 4)).then(t, [messageDelivered('carol', 4)]);
  });

  t.test('joining before the first message sets no watermarks', async (t) => {
    const g = given(GROUP, [team(), membersAdded('carol')]);
    t.equal(g.state.read.has('carol'), false);
    t.equal(g.state.delivered.has('carol'), false);
    t.equal(g.state.unread.get('carol'), 0);
    given(GROUP, [team(), membersAdded('carol'), messageSent('alice', GROUP, 1)])
      .when(read('carol', undefined))
      .then(t, [messageRead('carol', 1, GROUP, { commandId: 'cmd-read-carol-g_team-all' })]);
  });

  t.test('rejoining starts again at the last message, whatever was read before leaving', async (t) => {
    const g = given(GROUP, [
      team(),
      membersAdded('carol'),
      messageSent('alice', GROUP, 1, { tempId: 'a1' }),
      messageRead('carol', 1),
      memberLeft('carol'),
      messageSent('alice', GROUP, 2, { tempId: 'a2' }),
      messageSent('bob', GROUP, 3, { tempId: 'b1' }),
      membersAdded('carol', GROUP, { commandId: 'cmd-join-carol-again' }),
    ]);
    t.equal(g.state.read.get('carol'), 3);
    t.equal(g.state.delivered.get('carol'), 3);
    t.equal(g.state.unread.get('carol'), 0);
  });
});

/** Every member's unread count (absent counts as 0). */
function unreadOf(state: ConversationState): Record<string, number> {
  return Object.fromEntries([...state.members.keys()].sort().map((m) => [m, state.unread.get(m) ?? 0]));
}

t.test('unread', async (t) => {
  // alice and bob create, carol joins; alice sends 1 and 2, bob 3, carol 4
  const history = [
    team(),
    membersAdded('carol'),
    messageSent('alice', GROUP, 1, { tempId: 'a1' }),
    messageSent('alice', GROUP, 2, { tempId: 'a2' }),
    messageSent('bob', GROUP, 3, { tempId: 'b1' }),
    messageSent('carol', GROUP, 4, { tempId: 'c1' }),
  ];

  t.test('MessageSent counts one more for every other member', async (t) => {
    const state = initialState(GROUP);
    const steps: [ConversationEvent, Record<string, number>][] = [
      [team(), { alice: 0, bob: 0 }],
      [membersAdded('carol'), { alice: 0, bob: 0, carol: 0 }],
      [history[2]!, { alice: 0, bob: 1, carol: 1 }],
      [history[3]!, { alice: 0, bob: 2, carol: 2 }],
      [history[4]!, { alice: 1, bob: 2, carol: 3 }],
      [history[5]!, { alice: 2, bob: 3, carol: 3 }],
    ];
    steps.forEach(([event, expected], i) => {
      evolve(state, event, i + 1);
      t.strictSame(unreadOf(state), expected, `after ${event.type} at ${i + 1}`);
    });
  });

  t.test('MessageRead recomputes the reader’s count exactly, own messages excluded', async (t) => {
    t.strictSame(unreadOf(given(GROUP, [...history, messageRead('bob', 2)]).state), { alice: 2, bob: 1, carol: 3 });
    t.strictSame(unreadOf(given(GROUP, [...history, messageRead('bob', 3)]).state), { alice: 2, bob: 1, carol: 3 });
    t.strictSame(unreadOf(given(GROUP, [...history, messageRead('carol', 4)]).state), { alice: 2, bob: 3, carol: 0 });
    t.strictSame(unreadOf(given(GROUP, [...history, messageRead('alice', 3)]).state), { alice: 1, bob: 3, carol: 3 });
    t.strictSame(unreadOf(given(GROUP, [...history, messageRead('alice', 1)]).state), { alice: 2, bob: 3, carol: 3 });
  });

  t.test('MessageDelivered does not change unread', async (t) => {
    t.strictSame(unreadOf(given(GROUP, [...history, messageDelivered('bob', 4)]).state), { alice: 2, bob: 3, carol: 3 });
  });

  t.test('MemberLeft removes the leaver’s count and watermarks', async (t) => {
    const { state } = given(GROUP, [...history, messageRead('bob', 2), memberLeft('bob'), messageSent('alice', GROUP, 5, { tempId: 'a3' })]);
    t.equal(state.unread.has('bob'), false);
    t.equal(state.read.has('bob'), false);
    t.equal(state.delivered.has('bob'), false);
    t.strictSame(unreadOf(state), { alice: 2, carol: 4 });
  });

  t.test('a joiner counts only what comes after joining', async (t) => {
    const { state } = given(GROUP, [...history, membersAdded('dave'), messageSent('carol', GROUP, 5, { tempId: 'c2' })]);
    t.strictSame(unreadOf(state), { alice: 3, bob: 4, carol: 3, dave: 1 });
  });

  // A long deterministic mix of sends, receipts, joins and leaves, decided and folded as the engine
  // does, checked against a plain list of who sent each message: folded counts equal a recount,
  // a receipt appends exactly when it covers a message from someone else, watermarks only move forward.
  t.test('invariants over a long decided history', async (t) => {
    let seed = 20240501;
    const rnd = (n: number) => {
      // mulberry32
      seed = (seed + 0x6d2b79f5) | 0;
      let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
      return ((((x ^ (x >>> 14)) >>> 0) / 4294967296) * n) | 0;
    };
    const users = ['alice', 'bob', 'carol', 'dave'];
    const senders: string[] = ['']; // senders[seq]
    const othersIn = (from: number, to: number, userId: string) => senders.slice(from + 1, to + 1).filter((s) => s !== userId).length;
    const state = initialState(GROUP);
    // Open, so that users come and go by joining and leaving.
    evolve(state, groupCreated('alice', { members: ['alice', 'bob'], joinPolicy: 'open' }), 1);
    let streamSeq = 1;
    let appended = 0;
    let receipts = 0;
    let noops = 0;
    const broken: string[] = [];
    for (let step = 0; step < 5000 && broken.length === 0; step++) {
      const by = users[rnd(users.length)]!;
      const id = { id: `c${step}` };
      const k = rnd(10);
      let command: ConversationCommand;
      if (k < 4) command = send(by, GROUP, { tempId: `s${step}`, ...id });
      else if (k < 6) command = delivered(by, 1 + rnd(state.lastMessageSeq + 3), GROUP, id);
      else if (k < 8) command = read(by, rnd(3) === 0 ? undefined : 1 + rnd(state.lastMessageSeq + 3), GROUP, id);
      else if (k < 9) command = join(by, GROUP, id);
      else command = leave(by, GROUP, id);
      const before = { read: new Map(state.read), delivered: new Map(state.delivered) };
      const decision = decide(command, state);
      const where = `step ${step}: ${command.type} by ${by}`;
      if (command.type === 'receipt.read' || command.type === 'receipt.delivered') {
        if (state.members.has(by)) {
          const upTo = Math.min(command.data.upToSeq ?? state.lastMessageSeq, state.lastMessageSeq);
          const mark = (command.type === 'receipt.read' ? before.read : before.delivered).get(by) ?? 0;
          const moves = upTo > mark && othersIn(mark, upTo, by) > 0;
          const type = command.type === 'receipt.read' ? 'MessageRead' : 'MessageDelivered';
          const expected = moves
            ? { kind: 'append', events: [{ ...(type === 'MessageRead' ? messageRead(by, upTo) : messageDelivered(by, upTo)), commandId: command.id, id: eventIdOf(command.id) }] }
            : { kind: 'noop' };
          if (JSON.stringify(decision) !== JSON.stringify(expected)) broken.push(`${where}: ${JSON.stringify(decision)}`);
          if (!moves) noops++;
        } else if (decision.kind !== 'reject') broken.push(`${where}: a non-member's receipt is not rejected`);
      }
      if (decision.kind !== 'append') continue;
      for (const event of decision.events) {
        evolve(state, event, ++streamSeq);
        if (event.type === 'MessageSent') senders[event.data.seq] = event.data.sender.id;
        if (event.type === 'MessageRead' || event.type === 'MessageDelivered') receipts++;
      }
      appended++;
      for (const m of state.members.keys()) {
        const read = state.read.get(m) ?? 0;
        const unread = state.unread.get(m) ?? 0;
        if (unread !== othersIn(read, state.lastMessageSeq, m)) broken.push(`${where}: unread of ${m} is ${unread}`);
        if (unread !== countUnread(state, m)) broken.push(`${where}: unread of ${m} differs from countUnread`);
        if ((state.delivered.get(m) ?? 0) < read) broken.push(`${where}: ${m} read more than delivered`);
        if (read < (before.read.get(m) ?? 0)) broken.push(`${where}: read of ${m} moved back`);
        if ((state.delivered.get(m) ?? 0) < (before.delivered.get(m) ?? 0)) broken.push(`${where}: delivered of ${m} moved back`);
      }
      for (const map of [state.unread, state.read, state.delivered]) {
        for (const key of map.keys()) if (!state.members.has(key)) broken.push(`${where}: ${key} is not a member but has a count`);
      }
    }
    t.strictSame(broken, [], 'no invariant broken');
    t.ok(appended > 1000, `many decisions appended (${appended})`);
    t.ok(receipts > 100, `many receipts appended (${receipts})`);
    t.ok(noops > 100, `many receipts were no-ops (${noops})`);
  });
});
