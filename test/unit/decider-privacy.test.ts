/**
 * What a stranger (a user who is not a member) can learn from the conversation decider: nothing.
 * Every command they can send about a conversation is decided exactly as for an id that does not
 * exist (same code, same message), whatever the conversation is: an invite-only group, an open one
 * (except that it can be joined), a direct conversation of two others, one they have left, one
 * whose members block each other. And only an open group lets a stranger in.
 */
import t from 'tap';
import { fromSnapshot, toSnapshot, type ConversationState } from '../../lib/conversation-state.js';
import { decide } from '../../engine/decider.js';
import type { ConversationCommand, ConversationEvent } from '../../schemas/index.js';
import {
  DIRECT_AB,
  GROUP,
  delivered,
  directCreated,
  given,
  groupCreated,
  join,
  leave,
  memberLeft,
  membersAdded,
  messageSent,
  read,
  send,
} from '../helpers/decider-spec.js';

/**
 * Everything carol can send about conversation `id` (none of it with directWith: that names her
 * own), with command ids of their own (a command decided before is answered as a duplicate first).
 */
const strangerCommands = (id: string): ConversationCommand[] => [
  join('carol', id, { id: 'probe-join' }),
  leave('carol', id, { id: 'probe-leave' }),
  send('carol', id, { tempId: 'probe' }),
  read('carol', undefined, id),
  read('carol', 1, id),
  delivered('carol', 1, id),
];

const histories: [string, string, ConversationEvent[]][] = [
  ['an invite-only group', GROUP, [groupCreated('alice', { members: ['alice', 'bob'] }), messageSent('alice', GROUP, 1)]],
  ['a group from before join policies', GROUP, [groupCreated('alice', { members: ['alice', 'bob'], joinPolicy: null }), messageSent('alice', GROUP, 1)]],
  ['a direct conversation of two others', DIRECT_AB, [directCreated('alice', 'bob'), messageSent('alice', DIRECT_AB, 1)]],
  [
    'an invite-only group the stranger has left',
    GROUP,
    [groupCreated('alice', { members: ['alice', 'bob', 'carol'] }), messageSent('carol', GROUP, 1, { tempId: 'c1' }), memberLeft('carol')],
  ],
];

t.test('a stranger is answered as for an id that does not exist: same code, same message', async (t) => {
  for (const [name, id, history] of histories) {
    for (const command of strangerCommands(id)) {
      const existing = given(id, history).when(command).decision;
      const missing = given(id, []).when(command).decision;
      t.strictSame(existing, missing, `${name}: ${command.type}`);
      t.strictSame(existing, { kind: 'reject', rejection: { code: 'conversation_not_found', message: `conversation ${id} not found` } });
    }
  }
});

t.test('an open group: a stranger may join it, and learns nothing more from anything else', async (t) => {
  const history = [groupCreated('alice', { members: ['alice', 'bob'], joinPolicy: 'open' }), messageSent('alice', GROUP, 1)];
  given(GROUP, history).when(join('carol')).then(t, [membersAdded('carol')]);
  for (const command of strangerCommands(GROUP).filter((c) => c.type !== 'conversation.join')) {
    t.strictSame(given(GROUP, history).when(command).decision, given(GROUP, []).when(command).decision, command.type);
  }
});

t.test('blocks between two others are not told to a stranger', async (t) => {
  const history = [directCreated('alice', 'bob')];
  given(DIRECT_AB, history).when(send('carol', DIRECT_AB), { blockedPair: true }).thenRejects(t, 'conversation_not_found');
  t.strictSame(
    given(DIRECT_AB, history).when(send('carol', DIRECT_AB), { blockedPair: true }).decision,
    given(DIRECT_AB, []).when(send('carol', DIRECT_AB)).decision,
  );
});

t.test('members still hear what a member may know', async (t) => {
  const direct = [directCreated('alice', 'bob')];
  given(DIRECT_AB, direct).when(join('bob', DIRECT_AB)).thenRejects(t, 'forbidden');
  given(DIRECT_AB, direct).when(leave('bob', DIRECT_AB)).thenRejects(t, 'forbidden');
  given(DIRECT_AB, direct).when(send('bob', DIRECT_AB), { blockedPair: true }).thenRejects(t, 'blocked');
  given(GROUP, [groupCreated('alice', { members: ['alice', 'bob'] })]).when(join('bob')).thenRejects(t, 'already_a_member');
});

t.test('the first direct message still creates the conversation (its id is the pair’s: never a stranger’s)', async (t) => {
  const first = given(DIRECT_AB, []).when(send('alice', DIRECT_AB, { directWith: 'bob' })).decision;
  t.equal(first.kind, 'append');
  t.strictSame(first.kind === 'append' ? first.events.map((e) => e.type) : [], ['ConversationCreated', 'MessageSent']);
  given(DIRECT_AB, []).when(send('alice', DIRECT_AB, { directWith: 'bob' }), { blockedPair: true }).thenRejects(t, 'blocked');
});

t.test('a snapshot from before join policies (no joinPolicy) keeps its group invite-only', async (t) => {
  const { state } = given(GROUP, [groupCreated('alice', { members: ['alice', 'bob'], joinPolicy: 'open' })]);
  const old = toSnapshot(state) as Partial<ReturnType<typeof toSnapshot>>;
  delete old.joinPolicy;
  const restored: ConversationState = fromSnapshot(JSON.parse(JSON.stringify(old)));
  t.equal(decide(join('carol'), state).kind, 'append', 'open before the snapshot lost its policy');
  t.strictSame(decide(join('carol'), restored), decide(join('carol'), given(GROUP, []).state));
});
