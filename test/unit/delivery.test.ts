import t from 'tap';
import { deliveriesFor, type Delivery } from '../../projections/delivery/inbox-entry.js';
import { initialState } from '../../engine/decider.js';
import type { ConversationEvent } from '../../schemas/index.js';

/** The single delivery of a membership or message event, given the members before and after it. */
function deliveryFor(event: ConversationEvent, seq: number, before: string[], after: Iterable<string>): Delivery {
  const state = initialState(event.conversationId);
  for (const m of after) state.members.set(m, 'member');
  const all = deliveriesFor(event, seq, { members: before, delivered: 0, read: 0 }, state);
  if (all.length !== 1) throw new Error(`expected one delivery, got ${all.length}`);
  return all[0]!;
}
import { toWireConversation, toWireMessage } from '../../lib/wire.js';
import {
  ACTORS,
  AT_ISO,
  DIRECT_AB,
  GROUP,
  ORIGIN,
  directCreated,
  groupCreated,
  memberLeft,
  membersAdded,
  messageSent,
} from '../helpers/decider-spec.js';

const ALICE = ACTORS.alice!;

t.test('ConversationCreated goes to every member, as conversation.created', async (t) => {
  const event = groupCreated('alice', { title: 'Team', members: ['alice', 'bob', 'carol'] });
  t.strictSame(deliveryFor(event, 11, [], ['alice', 'bob', 'carol']), {
    recipients: ['alice', 'bob', 'carol'],
    entry: {
      type: 'conversation.created',
      payload: {
        conversation: {
          id: GROUP,
          kind: 'group',
          title: 'Team',
          members: [
            { userId: 'alice', role: 'owner' },
            { userId: 'bob', role: 'member' },
            { userId: 'carol', role: 'member' },
          ],
          createdBy: 'alice',
          createdAt: AT_ISO,
        },
      },
      eventSeq: 11,
      origin: ORIGIN,
    },
  });
});

t.test('a direct conversation has no title on the wire', async (t) => {
  const d = deliveryFor(directCreated('alice', 'bob'), 1, [], ['alice', 'bob']);
  t.strictSame(d.entry.payload, {
    conversation: {
      id: DIRECT_AB,
      kind: 'direct',
      members: [
        { userId: 'alice', role: 'member' },
        { userId: 'bob', role: 'member' },
      ],
      createdBy: 'alice',
      createdAt: AT_ISO,
    },
  });
  t.strictSame(d.entry.payload, { conversation: toWireConversation(directCreated('alice', 'bob')) });
});

t.test('MembersAdded goes to the members after it, the joiner included', async (t) => {
  t.strictSame(deliveryFor(membersAdded('carol'), 12, ['alice', 'bob'], ['alice', 'bob', 'carol']), {
    recipients: ['alice', 'bob', 'carol'],
    entry: {
      type: 'conversation.member_joined',
      payload: { conversationId: GROUP, members: [{ userId: 'carol', role: 'member' }], at: AT_ISO },
      eventSeq: 12,
      origin: ORIGIN,
    },
  });
});

t.test('MemberLeft goes to the members before it, the leaver included', async (t) => {
  t.strictSame(deliveryFor(memberLeft('bob'), 13, ['alice', 'bob', 'carol'], ['alice', 'carol']), {
    recipients: ['alice', 'bob', 'carol'],
    entry: {
      type: 'conversation.member_left',
      payload: { conversationId: GROUP, userId: 'bob', at: AT_ISO },
      eventSeq: 13,
      origin: ORIGIN,
    },
  });
});

t.test('MessageSent goes to every member as message.new with the wire message', async (t) => {
  const event = messageSent('alice', GROUP, 4, { tempId: 'tmp-9', content: 'hi' });
  t.strictSame(deliveryFor(event, 14, ['alice', 'bob'], ['alice', 'bob']), {
    recipients: ['alice', 'bob'],
    entry: {
      type: 'message.new',
      payload: {
        message: {
          id: 'm_tmp-9',
          conversationId: GROUP,
          seq: 4,
          senderId: 'alice',
          sender: ALICE,
          type: 'text',
          content: 'hi',
          tempId: 'tmp-9',
          status: 'sent',
          createdAt: AT_ISO,
        },
      },
      eventSeq: 14,
      origin: ORIGIN,
    },
  });
});

t.test('the wire message carries optional fields only when the event has them', async (t) => {
  const media = [{ url: 'https://cdn.test/p.png' }];
  const full = messageSent('bob', GROUP, 2, { type: 'image', content: 'c', media, replyToId: 'm_1', mentions: ['alice'] });
  t.strictSame(toWireMessage(full), {
    id: 'm_t1',
    conversationId: GROUP,
    seq: 2,
    senderId: 'bob',
    sender: ACTORS.bob,
    type: 'image',
    content: 'c',
    media,
    replyToId: 'm_1',
    mentions: ['alice'],
    tempId: 't1',
    status: 'sent',
    createdAt: AT_ISO,
  });
  const bare = messageSent('carol', GROUP, 3, { type: 'file', content: undefined, media });
  t.strictSame(toWireMessage(bare), {
    id: 'm_t1',
    conversationId: GROUP,
    seq: 3,
    senderId: 'carol',
    sender: { id: 'carol' },
    type: 'file',
    media,
    tempId: 't1',
    status: 'sent',
    createdAt: AT_ISO,
  });
});

t.test('without an origin the entry has no origin field', async (t) => {
  for (const event of [
    groupCreated('alice', { origin: null }),
    membersAdded('carol', GROUP, { origin: null }),
    memberLeft('bob', GROUP, { origin: null }),
    messageSent('alice', GROUP, 1, { origin: null }),
  ]) {
    const d = deliveryFor(event, 1, ['alice', 'bob'], ['alice', 'bob']);
    t.equal('origin' in d.entry, false, event.type);
  }
});

t.test('recipients are copies: iterables are consumed, not kept', async (t) => {
  const after = new Set(['alice', 'bob']);
  const d = deliveryFor(messageSent('alice', GROUP, 1), 1, [], after);
  after.add('carol');
  t.strictSame(d.recipients, ['alice', 'bob']);
});
