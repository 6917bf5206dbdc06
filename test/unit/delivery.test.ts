import t from 'tap';
import { deliveriesFor, type Delivery } from '../../projections/delivery/inbox-entry.js';
import type { ConversationEvent } from '../../schemas/index.js';
import { beforeOf, subjectUserOf, unreadAffected, userDeliveriesFor } from '../../projections/delivery/inbox-entry.js';
import { evolve, initialState, type ConversationState } from '../../lib/conversation-state.js';
import { compile, serverPayloads, type MessageStatus, type Origin } from '../../schemas/index.js';

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
  given,
  groupCreated,
  memberLeft,
  membersAdded,
  messageDelivered,
  messageRead,
  messageSent,
  userBlocked,
  userUnblocked,
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
          joinPolicy: 'invite',
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

t.test("a group's join policy on the wire: its event's, or invite for an event from before policies", async (t) => {
  t.equal(toWireConversation(groupCreated('alice', { joinPolicy: 'open' })).joinPolicy, 'open');
  t.equal(toWireConversation(groupCreated('alice', { joinPolicy: null })).joinPolicy, 'invite');
  t.equal('joinPolicy' in toWireConversation(directCreated('alice', 'bob')), false);
});

t.test('MembersAdded goes to the members after it: the joiner with the group as it is now, the others without', async (t) => {
  const state = initialState(GROUP);
  evolve(state, groupCreated('alice', { members: ['alice', 'bob'] }), 1);
  evolve(state, membersAdded('carol'), 12);
  const joined = { conversationId: GROUP, members: [{ userId: 'carol', role: 'member' }], at: AT_ISO };
  t.strictSame(deliveriesFor(membersAdded('carol'), 12, { members: ['alice', 'bob'], delivered: 0, read: 0 }, state), [
    {
      recipients: ['carol'],
      entry: {
        type: 'conversation.member_joined',
        payload: {
          ...joined,
          conversation: {
            id: GROUP,
            kind: 'group',
            title: 'Team',
            joinPolicy: 'invite',
            members: [
              { userId: 'alice', role: 'owner' },
              { userId: 'bob', role: 'member' },
              { userId: 'carol', role: 'member' },
            ],
            createdBy: 'alice',
            createdAt: AT_ISO,
          },
        },
        eventSeq: 12,
        origin: ORIGIN,
      },
    },
    { recipients: ['alice', 'bob'], entry: { type: 'conversation.member_joined', payload: joined, eventSeq: 12, origin: ORIGIN } },
  ]);
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
    memberLeft('bob', GROUP, { origin: null }),
    messageSent('alice', GROUP, 1, { origin: null }),
  ]) {
    const d = deliveryFor(event, 1, ['alice', 'bob'], ['alice', 'bob']);
    t.equal('origin' in d.entry, false, event.type);
  }
  const added = deliveriesFor(membersAdded('carol', GROUP, { origin: null }), 1, { members: ['alice', 'bob'], delivered: 0, read: 0 }, initialState(GROUP));
  t.ok(added.every((d) => !('origin' in d.entry)), 'MembersAdded');
});

t.test('recipients are copies: iterables are consumed, not kept', async (t) => {
  const after = new Set(['alice', 'bob']);
  const d = deliveryFor(messageSent('alice', GROUP, 1), 1, [], after);
  after.add('carol');
  t.strictSame(d.recipients, ['alice', 'bob']);
});

/* ------------------------------------------------------------------ receipts, blocks, unread */

/**
 * What the projector does with one event: fold the history, take `before` from that state, fold
 * the event in, and ask for its deliveries. Recipients are sorted (their order is not a rule).
 */
function project(history: ConversationEvent[], event: ConversationEvent, tweak?: (state: ConversationState) => void) {
  const { state } = given(event.conversationId, history);
  tweak?.(state);
  const eventSeq = history.length + 1;
  const before = beforeOf(state, subjectUserOf(event));
  evolve(state, event, eventSeq);
  const deliveries = deliveriesFor(event, eventSeq, before, state).map((d) => ({ ...d, recipients: [...d.recipients].sort() }));
  return { deliveries, before, after: state, eventSeq };
}

/** alice, bob and carol; alice sent 1, carol 2, bob 3, alice 4 (stream seqs 2–5). */
const trio = () => [
  groupCreated('alice', { members: ['alice', 'bob', 'carol'] }),
  messageSent('alice', GROUP, 1, { tempId: 'a1' }),
  messageSent('carol', GROUP, 2, { tempId: 'c1' }),
  messageSent('bob', GROUP, 3, { tempId: 'b1' }),
  messageSent('alice', GROUP, 4, { tempId: 'a2' }),
];

function status(
  eventSeq: number,
  recipients: string[],
  fromSeq: number,
  upToSeq: number,
  oldStatus: MessageStatus,
  newStatus: MessageStatus,
  updatedBy = 'bob',
): Delivery {
  return {
    recipients,
    entry: {
      type: 'message.status',
      payload: { conversationId: GROUP, fromSeq, upToSeq, oldStatus, newStatus, updatedBy, timestamp: AT_ISO },
      eventSeq,
    },
  };
}

function readUpdate(eventSeq: number, recipients: string[], upToSeq: number, readBy = 'bob'): Delivery {
  return {
    recipients,
    entry: { type: 'message.read_update', payload: { conversationId: GROUP, readBy, upToSeq, readAt: AT_ISO }, eventSeq },
  };
}

function readAck(eventSeq: number, reader: string, upToSeq: number, origin: Origin | null = ORIGIN): Delivery {
  return {
    recipients: [reader],
    entry: { type: 'message.read_ack', payload: { conversationId: GROUP, upToSeq, readAt: AT_ISO }, eventSeq, ...(origin ? { origin } : {}) },
  };
}

t.test('MessageDelivered', async (t) => {
  t.test('message.status sent → delivered to the senders of the covered messages, not the receiver', async (t) => {
    const { deliveries } = project(trio(), messageDelivered('bob', 4));
    t.strictSame(deliveries, [status(6, ['alice', 'carol'], 1, 4, 'sent', 'delivered')]);
  });

  t.test('the range starts after the receiver’s previous delivered watermark', async (t) => {
    const history = [...trio(), messageDelivered('bob', 2)];
    t.strictSame(project(history, messageDelivered('bob', 4)).deliveries, [status(7, ['alice'], 3, 4, 'sent', 'delivered')]);
  });

  t.test('the range starts after the read watermark too (read implies delivered)', async (t) => {
    const history = [...trio(), messageRead('bob', 2)];
    t.strictSame(project(history, messageDelivered('bob', 4)).deliveries, [status(7, ['alice'], 3, 4, 'sent', 'delivered')]);
  });

  t.test('each sender of the range gets it once, whatever their number of messages', async (t) => {
    const { deliveries } = project(trio(), messageDelivered('carol', 4));
    t.strictSame(deliveries, [status(6, ['alice', 'bob'], 1, 4, 'sent', 'delivered', 'carol')]);
  });

  t.test('covering only the receiver’s own messages: nothing', async (t) => {
    const history = [...trio(), messageDelivered('bob', 2)];
    t.strictSame(project(history, messageDelivered('bob', 3)).deliveries, []);
  });

  t.test('a sender who left is not told', async (t) => {
    const history = [...trio(), memberLeft('carol')];
    t.strictSame(project(history, messageDelivered('bob', 4)).deliveries, [status(7, ['alice'], 1, 4, 'sent', 'delivered')]);
    const onlyCarol = [...trio(), memberLeft('carol'), messageDelivered('bob', 1)];
    t.strictSame(project(onlyCarol, messageDelivered('bob', 2)).deliveries, [], 'the only sender left: nothing');
  });

  t.test('messages whose sender is no longer known (dropped runs) are told to no one', async (t) => {
    // as if the runs of 1–3 had been dropped: only alice's 4 is known
    const { deliveries } = project(trio(), messageDelivered('bob', 4), (state) => {
      state.senderRuns = [[4, 'alice']];
    });
    t.strictSame(deliveries, [status(6, ['alice'], 1, 4, 'sent', 'delivered')]);
  });

  t.test('a status entry carries no origin, whatever the event has', async (t) => {
    const [d] = project(trio(), messageDelivered('bob', 4)).deliveries;
    t.equal('origin' in d!.entry, false);
  });
});

t.test('MessageRead', async (t) => {
  t.test('over messages partly delivered: two status ranges, read_update to senders, read_ack to the reader', async (t) => {
    const history = [...trio(), messageDelivered('bob', 2)];
    t.strictSame(project(history, messageRead('bob', 4)).deliveries, [
      status(7, ['alice', 'carol'], 1, 2, 'delivered', 'read'),
      status(7, ['alice'], 3, 4, 'sent', 'read'),
      readUpdate(7, ['alice', 'carol'], 4),
      readAck(7, 'bob', 4),
    ]);
  });

  t.test('everything delivered before: delivered → read only', async (t) => {
    const history = [...trio(), messageDelivered('bob', 4)];
    t.strictSame(project(history, messageRead('bob', 4)).deliveries, [
      status(7, ['alice', 'carol'], 1, 4, 'delivered', 'read'),
      readUpdate(7, ['alice', 'carol'], 4),
      readAck(7, 'bob', 4),
    ]);
  });

  t.test('delivered past the read range: delivered → read for the read range only', async (t) => {
    const history = [...trio(), messageDelivered('bob', 4)];
    t.strictSame(project(history, messageRead('bob', 2)).deliveries, [
      status(7, ['alice', 'carol'], 1, 2, 'delivered', 'read'),
      readUpdate(7, ['alice', 'carol'], 2),
      readAck(7, 'bob', 2),
    ]);
  });

  t.test('nothing delivered before: sent → read only', async (t) => {
    t.strictSame(project(trio(), messageRead('bob', 2)).deliveries, [
      status(6, ['alice', 'carol'], 1, 2, 'sent', 'read'),
      readUpdate(6, ['alice', 'carol'], 2),
      readAck(6, 'bob', 2),
    ]);
  });

  t.test('after an earlier read: the ranges start after the read watermark', async (t) => {
    const history = [...trio(), messageDelivered('bob', 3), messageRead('bob', 1)];
    t.strictSame(project(history, messageRead('bob', 4)).deliveries, [
      status(8, ['carol'], 2, 3, 'delivered', 'read'),
      status(8, ['alice'], 4, 4, 'sent', 'read'),
      readUpdate(8, ['alice', 'carol'], 4),
      readAck(8, 'bob', 4),
    ]);
  });

  t.test('a range holding only the reader’s own messages gives no status entry for it', async (t) => {
    // bob delivered up to 2; reads 3 (his own) and 4 (alice's) — only 4 goes sent → read
    const history = [...trio(), messageRead('bob', 2)];
    t.strictSame(project(history, messageRead('bob', 4)).deliveries, [
      status(7, ['alice'], 3, 4, 'sent', 'read'),
      readUpdate(7, ['alice'], 4),
      readAck(7, 'bob', 4),
    ]);
  });

  t.test('no sender to tell (left, or the reader): only the read_ack', async (t) => {
    const history = [...trio(), messageRead('bob', 1), memberLeft('carol')];
    t.strictSame(project(history, messageRead('bob', 3)).deliveries, [readAck(8, 'bob', 3)]);
  });

  t.test('the read_ack carries the event’s origin; without one, none', async (t) => {
    t.strictSame(project(trio(), messageRead('bob', 2, GROUP, { origin: null })).deliveries.at(-1), readAck(6, 'bob', 2, null));
    const entries = project(trio(), messageRead('bob', 2)).deliveries.map((d) => d.entry);
    t.strictSame(
      entries.map((e) => 'origin' in e),
      [false, false, true],
      'status and read_update have no origin',
    );
  });

  t.test('in a direct conversation the other member is told', async (t) => {
    const history = [directCreated('alice', 'bob'), messageSent('alice', DIRECT_AB, 1), messageSent('alice', DIRECT_AB, 2, { tempId: 't2' })];
    const { deliveries } = project(history, messageRead('bob', 2, DIRECT_AB));
    t.strictSame(
      deliveries.map((d) => [d.entry.type, d.recipients]),
      [
        ['message.status', ['alice']],
        ['message.read_update', ['alice']],
        ['message.read_ack', ['bob']],
      ],
    );
  });
});

t.test('every receipt entry has a schema-valid payload', async (t) => {
  const history = [...trio(), messageDelivered('bob', 2)];
  const entries = [
    ...project(history, messageRead('bob', 4)).deliveries,
    ...project(trio(), messageDelivered('bob', 4)).deliveries,
    ...userDeliveriesFor(userBlocked('alice', 'bob'), 1),
    ...userDeliveriesFor(userUnblocked('alice', 'bob'), 2),
  ].map((d) => d.entry);
  t.equal(entries.length, 7);
  for (const entry of entries) {
    const validate = compile(serverPayloads[entry.type]);
    t.strictSame(validate(entry.payload), { ok: true, value: entry.payload }, `${entry.type} payload is valid`);
  }
});

t.test('userDeliveriesFor: a block is news to the blocker only', async (t) => {
  t.strictSame(userDeliveriesFor(userBlocked('alice', 'bob'), 31), [
    { recipients: ['alice'], entry: { type: 'block.added', payload: { userId: 'bob', at: AT_ISO }, eventSeq: 31, origin: ORIGIN } },
  ]);
  t.strictSame(userDeliveriesFor(userUnblocked('alice', 'bob'), 32), [
    { recipients: ['alice'], entry: { type: 'block.removed', payload: { userId: 'bob', at: AT_ISO }, eventSeq: 32, origin: ORIGIN } },
  ]);
  t.strictSame(userDeliveriesFor(userBlocked('alice', 'bob', { origin: null }), 33), [
    { recipients: ['alice'], entry: { type: 'block.added', payload: { userId: 'bob', at: AT_ISO }, eventSeq: 33 } },
  ]);
});

t.test('beforeOf and subjectUserOf', async (t) => {
  const { state } = given(GROUP, [...trio(), messageDelivered('bob', 3), messageRead('bob', 2)]);
  t.strictSame(beforeOf(state, 'bob'), { members: ['alice', 'bob', 'carol'], delivered: 3, read: 2 });
  t.strictSame(beforeOf(state, 'carol'), { members: ['alice', 'bob', 'carol'], delivered: 0, read: 0 });
  t.strictSame(beforeOf(state, undefined), { members: ['alice', 'bob', 'carol'], delivered: 0, read: 0 });
  t.equal(subjectUserOf(messageRead('bob', 2)), 'bob');
  t.equal(subjectUserOf(messageDelivered('carol', 2)), 'carol');
  t.equal(subjectUserOf(messageSent('alice', GROUP, 1)), undefined);
  t.equal(subjectUserOf(membersAdded('dave')), undefined);
});

t.test('unreadAffected', async (t) => {
  /** The members whose count the projector publishes, with the value it publishes. */
  const published = (history: ConversationEvent[], event: ConversationEvent) => {
    const { before, after } = project(history, event);
    return unreadAffected(event, before).map((u) => [u, after.unread.get(u) ?? 0]);
  };

  t.test('MessageSent: every member before it but the sender', async (t) => {
    t.strictSame(published(trio(), messageSent('carol', GROUP, 5, { tempId: 'c2' })), [
      ['alice', 3],
      ['bob', 4],
    ]);
  });

  t.test('MessageRead: the reader', async (t) => {
    t.strictSame(published(trio(), messageRead('bob', 2)), [['bob', 1]]);
    t.strictSame(published(trio(), messageRead('carol', 4)), [['carol', 0]]);
  });

  t.test('MembersAdded: the joiners, at 0', async (t) => {
    t.strictSame(published(trio(), membersAdded('dave')), [['dave', 0]]);
  });

  t.test('MemberLeft: the leaver, at 0', async (t) => {
    t.strictSame(published(trio(), memberLeft('carol')), [['carol', 0]]);
  });

  t.test('ConversationCreated and MessageDelivered change no count', async (t) => {
    t.strictSame(published([], groupCreated('alice', { members: ['alice', 'bob'] })), []);
    t.strictSame(published(trio(), messageDelivered('bob', 4)), []);
  });

  t.test('every count that changes is published', async (t) => {
    const history = [
      ...trio(),
      messageDelivered('bob', 2),
      membersAdded('dave'),
      messageRead('bob', 4),
      messageSent('dave', GROUP, 5, { tempId: 'd1' }),
      messageRead('alice', 5),
      memberLeft('carol'),
      messageSent('bob', GROUP, 6, { tempId: 'b2' }),
      messageRead('dave', 6),
    ];
    const state = initialState(GROUP);
    history.forEach((event, i) => {
      const before = beforeOf(state, subjectUserOf(event));
      const counts = new Map(state.unread);
      evolve(state, event, i + 1);
      const affected = new Set(unreadAffected(event, before));
      const changed = [...new Set([...counts.keys(), ...state.members.keys()])].filter((u) => (counts.get(u) ?? 0) !== (state.unread.get(u) ?? 0));
      t.strictSame(
        changed.filter((u) => !affected.has(u)),
        [],
        `${event.type} at ${i + 1}: no changed count is left unpublished`,
      );
    });
  });
});
