import t from 'tap';
import { describeEvent } from '../../cli/replay.js';
import { deliveriesFor, unreadAffected } from '../../projections/delivery/inbox-entry.js';
import { compile, serverPayloads } from '../../schemas/index.js';
import { AT_ISO, GROUP, ORIGIN, given, groupCreated, messageIdOf, messageSent, reactionAdded, reactionRemoved } from '../helpers/decider-spec.js';

const M1 = messageIdOf('t1');
const history = () => [groupCreated('alice', { members: ['alice', 'bob', 'carol'] }), messageSent('bob', GROUP, 1)];

for (const [event, type] of [
  [reactionAdded('carol', M1, 1, '👍'), 'reaction.added'],
  [reactionRemoved('carol', M1, 1, '👍'), 'reaction.removed'],
] as const) {
  t.test(`${event.type}: ${type} to every member (the reactor too), with the origin for its ref; no unread change`, async (t) => {
    const { state } = given(GROUP, history());
    const before = { members: [...state.members.keys()], delivered: 0, read: 0 };
    const deliveries = deliveriesFor(event, 9, before, state);
    t.strictSame(deliveries, [
      {
        recipients: ['alice', 'bob', 'carol'],
        entry: { type, payload: { conversationId: GROUP, messageId: M1, seq: 1, userId: 'carol', emoji: '👍', at: AT_ISO }, eventSeq: 9, origin: ORIGIN },
      },
    ]);
    t.ok(compile(serverPayloads[type])(deliveries[0]!.entry.payload).ok, `the payload is a valid ${type}`);
    t.strictSame(unreadAffected(event, before), []);
  });
}

t.test('parley replay describes reactions', async (t) => {
  t.equal(describeEvent(reactionAdded('carol', M1, 1, '👍')), `${M1} seq 1: reaction 👍 added`);
  t.equal(describeEvent(reactionRemoved('carol', M1, 1, '👍')), `${M1} seq 1: reaction 👍 removed`);
});
