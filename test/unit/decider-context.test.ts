import t from 'tap';
import { blockCheckPair, evolve, initialState } from '../../engine/decider.js';
import { outcomeBody, resultOf } from '../../engine/outcome-body.js';
import type { ConversationState } from '../../lib/conversation-state.js';
import type { ConversationEvent } from '../../schemas/index.js';
import { DIRECT_AB, GROUP, ORIGIN, block, createDirect, createGroup, directCreated, groupCreated, join, messageSent, read, send } from '../helpers/decider-spec.js';

function stateOf(id: string, events: ConversationEvent[]): ConversationState {
  const state = initialState(id);
  events.forEach((event, i) => evolve(state, event, i + 1));
  return state;
}

t.test('blockCheckPair: the decider says whose blocks a command needs', async (t) => {
  const fresh = initialState(DIRECT_AB);
  t.strictSame(blockCheckPair(createDirect('alice', 'bob'), fresh), ['alice', 'bob'], 'creating a direct conversation: its two members');
  t.strictSame(blockCheckPair(send('alice', DIRECT_AB, { directWith: 'bob' }), fresh), ['alice', 'bob'], 'a first direct send: sender and recipient');
  t.equal(blockCheckPair(send('alice', DIRECT_AB), fresh), undefined, 'a send to no conversation with nobody named: nothing to check');

  const direct = stateOf(DIRECT_AB, [directCreated('alice', 'bob')]);
  t.strictSame(blockCheckPair(send('bob', DIRECT_AB), direct), ['alice', 'bob'], 'a send in a direct conversation: its members');
  t.equal(blockCheckPair(send('carol', DIRECT_AB), direct), undefined, 'a stranger is answered not-found without a block lookup');
  t.equal(blockCheckPair(read('bob', 1, DIRECT_AB), direct), undefined, 'receipts are not stopped by blocks');

  const fresh_group = initialState(GROUP);
  t.equal(blockCheckPair(createGroup('alice', { members: ['alice', 'bob'] }), fresh_group), undefined, 'groups: blocks do not stop a create');
  const group = stateOf(GROUP, [groupCreated('alice', { members: ['alice', 'bob'] })]);
  t.equal(blockCheckPair(send('alice', GROUP), group), undefined, 'groups: blocks do not stop a send');
  t.equal(blockCheckPair(join('carol', GROUP), group), undefined, 'a join needs no blocks');
});

t.test('outcomeBody: what an answer carries, by command type', async (t) => {
  const sent = send('alice', GROUP, { tempId: 'tmp-1' });
  t.strictSame(outcomeBody(sent, { ...ORIGIN, ref: 'r1' }, { outcome: 'rejected', error: { code: 'forbidden', message: 'no' } }), {
    commandId: sent.id,
    connectionId: ORIGIN.connectionId,
    ref: 'r1',
    commandType: 'message.send',
    conversationId: GROUP,
    tempId: 'tmp-1',
    outcome: 'rejected',
    error: { code: 'forbidden', message: 'no' },
  });
  const blocking = block('alice', 'bob');
  const { ref: _ref, ...withoutRef } = ORIGIN;
  const body = outcomeBody(blocking, withoutRef, { outcome: 'accepted' });
  t.equal(body.userId, 'alice', 'a user command names its user');
  t.equal(body.conversationId, undefined);
  t.strictSame(body.result, { userId: 'bob' }, 'a block reports whom');
  t.notOk('ref' in body, 'no ref when the frame had none');

  const message = messageSent('alice', GROUP, 1);
  t.match(resultOf(message), { result: { conversationId: GROUP } }, 'an accepted send reports the message');
  t.strictSame(resultOf(undefined), {}, 'nothing to report without an event');
});
