import t from 'tap';
import { describeEvent } from '../../cli/replay.js';
import { deliveriesFor, unreadAffected } from '../../projections/delivery/inbox-entry.js';
import { compile, serverPayloads } from '../../schemas/index.js';
import { AT_ISO, GROUP, ORIGIN, given, groupCreated, messageDeleted, messageEdited, messageIdOf, messageSent } from '../helpers/decider-spec.js';

const M1 = messageIdOf('t1');
const history = () => [groupCreated('alice', { members: ['alice', 'bob', 'carol'] }), messageSent('bob', GROUP, 1)];
const checkEdited = compile(serverPayloads['message.edited']);
const checkDeleted = compile(serverPayloads['message.deleted']);

t.test('MessageEdited: message.edited to every member (the editor too), with the origin for its ref', async (t) => {
  const { state } = given(GROUP, history());
  const event = messageEdited('bob', M1, 1, 'fixed');
  const deliveries = deliveriesFor(event, 7, { members: [...state.members.keys()], delivered: 0, read: 0 }, state);
  t.strictSame(deliveries, [
    {
      recipients: ['alice', 'bob', 'carol'],
      entry: {
        type: 'message.edited',
        payload: { conversationId: GROUP, messageId: M1, seq: 1, content: 'fixed', editedAt: AT_ISO, editedBy: 'bob' },
        eventSeq: 7,
        origin: ORIGIN,
      },
    },
  ]);
  t.ok(checkEdited(deliveries[0]!.entry.payload).ok, 'the payload is a valid message.edited');
  t.strictSame(unreadAffected(event, { members: ['alice', 'bob', 'carol'], delivered: 0, read: 0 }), [], 'an edit changes no unread');
});

t.test('MessageDeleted: message.deleted to every member; unread recounted for all but the sender', async (t) => {
  const { state } = given(GROUP, history());
  const event = messageDeleted('alice', M1, 1, 'bob');
  const before = { members: [...state.members.keys()], delivered: 0, read: 0 };
  const deliveries = deliveriesFor(event, 8, before, state);
  t.strictSame(deliveries, [
    {
      recipients: ['alice', 'bob', 'carol'],
      entry: {
        type: 'message.deleted',
        payload: { conversationId: GROUP, messageId: M1, seq: 1, deletedAt: AT_ISO, deletedBy: 'alice' },
        eventSeq: 8,
        origin: ORIGIN,
      },
    },
  ]);
  t.ok(checkDeleted(deliveries[0]!.entry.payload).ok, 'the payload is a valid message.deleted');
  t.strictSame(unreadAffected(event, before), ['alice', 'carol']);
});

t.test('parley replay describes edits and deletes', async (t) => {
  t.equal(describeEvent(messageEdited('bob', M1, 1, 'fixed\nline')), `${M1} seq 1 edited: fixed line`);
  t.equal(describeEvent(messageDeleted('alice', M1, 1, 'bob')), `${M1} seq 1 (from bob) deleted`);
});
