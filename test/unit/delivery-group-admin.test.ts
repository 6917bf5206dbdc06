import t from 'tap';
import { describeEvent } from '../../cli/replay.js';
import { beforeOf, deliveriesFor, unreadAffected } from '../../projections/delivery/inbox-entry.js';
import { evolve } from '../../lib/conversation-state.js';
import { compile, serverPayloads, type ConversationEvent } from '../../schemas/index.js';
import {
  AT_ISO,
  GROUP,
  ORIGIN,
  conversationUpdated,
  given,
  groupCreated,
  memberLeft,
  memberRemoved,
  memberRoleChanged,
  membersAdded,
  membersAddedBy,
  messageSent,
} from '../helpers/decider-spec.js';

/** alice owns the group, bob is its admin, carol a member; carol has bob's message unread. */
const history = (): ConversationEvent[] => [
  groupCreated('alice', { members: ['alice', 'bob', 'carol'], joinPolicy: 'open' }),
  memberRoleChanged('alice', 'bob', 'admin', GROUP, { commandId: 'make-bob-admin' }),
  messageSent('bob', GROUP, 1),
];
const checkJoined = compile(serverPayloads['conversation.member_joined']);
const checkLeft = compile(serverPayloads['conversation.member_left']);
const checkUpdated = compile(serverPayloads['conversation.updated']);

/** What the delivery projector does: before from the state, then evolve, then deliveries. */
function deliver(event: ConversationEvent, eventSeq = 9) {
  const { state } = given(GROUP, history());
  const before = beforeOf(state, undefined);
  evolve(state, event, eventSeq);
  return { deliveries: deliveriesFor(event, eventSeq, before, state), unread: unreadAffected(event, before) };
}

t.test('MembersAdded by an owner or admin: member_joined with addedBy to every member after; the added ones also get the group as it is now', async (t) => {
  const { deliveries, unread } = deliver(membersAddedBy('bob', ['dave', 'erin']));
  const joined = {
    conversationId: GROUP,
    members: [
      { userId: 'dave', role: 'member' },
      { userId: 'erin', role: 'member' },
    ],
    addedBy: 'bob',
    at: AT_ISO,
  };
  t.strictSame(deliveries, [
    {
      recipients: ['dave', 'erin'],
      entry: {
        type: 'conversation.member_joined',
        payload: {
          ...joined,
          conversation: {
            id: GROUP,
            kind: 'group',
            title: 'Team',
            joinPolicy: 'open',
            members: [
              { userId: 'alice', role: 'owner' },
              { userId: 'bob', role: 'admin' },
              { userId: 'carol', role: 'member' },
              { userId: 'dave', role: 'member' },
              { userId: 'erin', role: 'member' },
            ],
            createdBy: 'alice',
            createdAt: AT_ISO,
          },
        },
        eventSeq: 9,
        origin: ORIGIN,
      },
    },
    { recipients: ['alice', 'bob', 'carol'], entry: { type: 'conversation.member_joined', payload: joined, eventSeq: 9, origin: ORIGIN } },
  ]);
  for (const d of deliveries) t.ok(checkJoined(d.entry.payload).ok, 'the payload is a valid conversation.member_joined');
  t.strictSame(unread, ['dave', 'erin'], 'the added start with an unread count (0)');
});

t.test('one user added by someone else has addedBy too; a self-join has none', async (t) => {
  const one = deliver(membersAddedBy('alice', ['dave'])).deliveries[0]!.entry.payload;
  t.match(one, { addedBy: 'alice', members: [{ userId: 'dave' }] });
  const self = deliver(membersAdded('dave')).deliveries[0]!.entry.payload;
  t.notOk('addedBy' in self, 'no addedBy for a join');
  t.ok(checkJoined(self).ok);
});

t.test('MemberRemoved: member_left with removedBy to the members before, the removed one included', async (t) => {
  const { deliveries, unread } = deliver(memberRemoved('bob', 'carol'));
  t.strictSame(deliveries, [
    {
      recipients: ['alice', 'bob', 'carol'],
      entry: {
        type: 'conversation.member_left',
        payload: { conversationId: GROUP, userId: 'carol', removedBy: 'bob', at: AT_ISO },
        eventSeq: 9,
        origin: ORIGIN,
      },
    },
  ]);
  t.ok(checkLeft(deliveries[0]!.entry.payload).ok, 'the payload is a valid conversation.member_left');
  t.strictSame(unread, ['carol'], 'the removed member’s unread goes (to 0)');
});

t.test('MemberLeft has no removedBy', async (t) => {
  const payload = deliver(memberLeft('carol')).deliveries[0]!.entry.payload;
  t.notOk('removedBy' in payload);
  t.ok(checkLeft(payload).ok);
});

t.test('ConversationUpdated: conversation.updated to every member with only the changed fields', async (t) => {
  const { deliveries, unread } = deliver(conversationUpdated('bob', { title: 'Crew', joinPolicy: 'invite' }));
  t.strictSame(deliveries, [
    {
      recipients: ['alice', 'bob', 'carol'],
      entry: {
        type: 'conversation.updated',
        payload: { conversationId: GROUP, title: 'Crew', joinPolicy: 'invite', updatedBy: 'bob', at: AT_ISO },
        eventSeq: 9,
        origin: ORIGIN,
      },
    },
  ]);
  t.ok(checkUpdated(deliveries[0]!.entry.payload).ok, 'the payload is a valid conversation.updated');
  t.strictSame(unread, []);

  const avatar = deliver(conversationUpdated('alice', { avatar: 'https://img.test/g.png' })).deliveries[0]!.entry.payload;
  t.strictSame(avatar, { conversationId: GROUP, avatar: 'https://img.test/g.png', updatedBy: 'alice', at: AT_ISO });
  t.ok(checkUpdated(avatar).ok);
  const removed = deliver(conversationUpdated('alice', { avatar: null })).deliveries[0]!.entry.payload;
  t.strictSame(removed, { conversationId: GROUP, avatar: null, updatedBy: 'alice', at: AT_ISO }, 'null says the avatar was removed');
  t.ok(checkUpdated(removed).ok);
});

t.test('MemberRoleChanged: conversation.updated to every member with the roles', async (t) => {
  const { deliveries, unread } = deliver(memberRoleChanged('alice', 'carol', 'admin'));
  t.strictSame(deliveries, [
    {
      recipients: ['alice', 'bob', 'carol'],
      entry: {
        type: 'conversation.updated',
        payload: { conversationId: GROUP, roles: [{ userId: 'carol', role: 'admin' }], updatedBy: 'alice', at: AT_ISO },
        eventSeq: 9,
        origin: ORIGIN,
      },
    },
  ]);
  t.ok(checkUpdated(deliveries[0]!.entry.payload).ok, 'the payload is a valid conversation.updated');
  t.strictSame(unread, []);
});

t.test('a handover: conversation.updated with both roles, the new owner and the previous one, now admin', async (t) => {
  const { deliveries } = deliver(memberRoleChanged('alice', 'carol', 'owner'));
  t.strictSame(deliveries[0]!.recipients, ['alice', 'bob', 'carol']);
  t.strictSame(deliveries[0]!.entry.payload, {
    conversationId: GROUP,
    roles: [
      { userId: 'carol', role: 'owner' },
      { userId: 'alice', role: 'admin' },
    ],
    updatedBy: 'alice',
    at: AT_ISO,
  });
  t.ok(checkUpdated(deliveries[0]!.entry.payload).ok, 'the payload is a valid conversation.updated');
  t.equal(describeEvent(memberRoleChanged('alice', 'carol', 'owner')), 'carol is now owner (alice handed it over, now admin)');
});

t.test('without an origin (an event of another path) no origin is carried', async (t) => {
  for (const event of [
    membersAddedBy('alice', ['dave'], GROUP, { origin: null }),
    memberRemoved('alice', 'carol', GROUP, { origin: null }),
    conversationUpdated('alice', { title: 'Crew' }, GROUP, { origin: null }),
    memberRoleChanged('alice', 'carol', 'admin', GROUP, { origin: null }),
  ]) {
    t.notOk('origin' in deliver(event).deliveries[0]!.entry, event.type);
  }
});

t.test('the payload schema refuses what the wire must not carry', async (t) => {
  t.notOk(checkUpdated({ conversationId: GROUP, avatar: 'javascript:alert(1)', updatedBy: 'alice', at: AT_ISO }).ok, 'a javascript: avatar');
  t.notOk(checkUpdated({ conversationId: GROUP, roles: [{ userId: 'carol', role: 'superuser' }], updatedBy: 'alice', at: AT_ISO }).ok, 'an unknown role');
});

t.test('parley replay describes removals, role changes and updates', async (t) => {
  t.equal(describeEvent(memberRemoved('bob', 'carol')), 'carol removed');
  t.equal(describeEvent(memberRoleChanged('alice', 'carol', 'admin')), 'carol is now admin');
  t.equal(describeEvent(memberRoleChanged('alice', 'bob', 'member')), 'bob is now member');
  t.equal(describeEvent(conversationUpdated('alice', { title: 'Crew' })), 'updated: title "Crew"');
  t.equal(
    describeEvent(conversationUpdated('alice', { title: 'Crew', avatar: 'https://img.test/g.png', joinPolicy: 'open' })),
    'updated: title "Crew", avatar https://img.test/g.png, join policy open',
  );
  t.equal(describeEvent(conversationUpdated('alice', { avatar: null })), 'updated: avatar removed');
  t.equal(describeEvent(membersAddedBy('alice', ['dave', 'erin'])), 'added dave, erin');
});
