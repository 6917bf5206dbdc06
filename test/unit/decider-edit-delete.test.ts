import t from 'tap';
import { blockCheckPair } from '../../engine/decider.js';
import { countUnread, fromSnapshot, MESSAGES_KEPT, toSnapshot } from '../../lib/conversation-state.js';
import { validateCommand, validateEvent, type ConversationEvent } from '../../schemas/index.js';
import {
  DIRECT_AB,
  GROUP,
  del,
  directCreated,
  edit,
  given,
  groupCreated,
  memberLeft,
  messageDeleted,
  messageEdited,
  messageIdOf,
  messageRead,
  messageSent,
} from '../helpers/decider-spec.js';

/** A group of alice (owner), bob and carol; bob's message m_t1 is seq 1. */
const team = () => groupCreated('alice', { members: ['alice', 'bob', 'carol'] });
const M1 = messageIdOf('t1');
const bobSaid = () => [team(), messageSent('bob', GROUP, 1)];

t.test('message.edit', async (t) => {
  t.test('the sender edits: MessageEdited with the message seq and the new content', async (t) => {
    given(GROUP, bobSaid()).when(edit('bob', M1, 'hello, fixed')).then(t, [messageEdited('bob', M1, 1, 'hello, fixed')]);
  });

  t.test('the events and commands are valid against the schemas', async (t) => {
    t.ok(validateCommand(edit('bob', M1, 'x')).ok);
    t.ok(validateEvent(messageEdited('bob', M1, 1, 'x')).ok);
    t.ok(validateCommand(del('bob', M1)).ok);
    t.ok(validateEvent(messageDeleted('bob', M1, 1, 'bob')).ok);
  });

  t.test('another member (even the group owner) is refused: forbidden', async (t) => {
    given(GROUP, bobSaid()).when(edit('carol', M1, 'mine now')).thenRejects(t, 'forbidden');
    given(GROUP, bobSaid()).when(edit('alice', M1, 'owner edit')).thenRejects(t, 'forbidden');
  });

  t.test('a non-member hears conversation_not_found, as for an id that does not exist', async (t) => {
    const r = given(GROUP, bobSaid()).when(edit('dave', M1, 'x')).thenRejects(t, 'conversation_not_found');
    const none = given('g_none', []).when(edit('dave', M1, 'x', 'g_none')).thenRejects(t, 'conversation_not_found');
    t.equal(r?.message.replace(GROUP, 'ID'), none?.message.replace('g_none', 'ID'), 'the same words');
  });

  t.test('a former member who sent it cannot edit it', async (t) => {
    given(GROUP, [...bobSaid(), memberLeft('bob')]).when(edit('bob', M1, 'x')).thenRejects(t, 'conversation_not_found');
  });

  t.test('a message the conversation does not have: message_not_found', async (t) => {
    given(GROUP, bobSaid()).when(edit('bob', 'm_nope', 'x')).thenRejects(t, 'message_not_found');
  });

  t.test('a message of another conversation: message_not_found', async (t) => {
    given(DIRECT_AB, [directCreated('alice', 'bob'), messageSent('bob', DIRECT_AB, 1, { messageId: 'm_direct' })]);
    given(GROUP, bobSaid()).when(edit('bob', 'm_direct', 'x')).thenRejects(t, 'message_not_found');
  });

  t.test('not after delete: message_not_found', async (t) => {
    given(GROUP, [...bobSaid(), messageDeleted('bob', M1, 1, 'bob')]).when(edit('bob', M1, 'back')).thenRejects(t, 'message_not_found');
  });

  t.test('content rules as for a text message: blank content is refused', async (t) => {
    given(GROUP, bobSaid()).when(edit('bob', M1, '   ')).thenRejects(t, 'validation_error');
    given(GROUP, bobSaid()).when(edit('bob', M1, '')).thenRejects(t, 'validation_error');
  });

  t.test('content longer than the limit fails the command schema', async (t) => {
    t.notOk(validateCommand(edit('bob', M1, 'x'.repeat(100_001))).ok);
  });

  t.test('the same edit again (same editId) is a duplicate of the first', async (t) => {
    given(GROUP, [...bobSaid(), messageEdited('bob', M1, 1, 'v2')]).when(edit('bob', M1, 'v2')).thenDuplicate(t, 3);
  });

  t.test('a second edit with a new editId is a new edit', async (t) => {
    given(GROUP, [...bobSaid(), messageEdited('bob', M1, 1, 'v2')])
      .when(edit('bob', M1, 'v3', GROUP, { editId: 'e2' }))
      .then(t, [messageEdited('bob', M1, 1, 'v3', GROUP, { editId: 'e2' })]);
  });

  t.test('in a direct conversation, a block either way stops an edit (not a delete)', async (t) => {
    const history = [directCreated('alice', 'bob'), messageSent('bob', DIRECT_AB, 1)];
    const g = given(DIRECT_AB, history);
    t.strictSame(blockCheckPair(edit('bob', M1, 'x', DIRECT_AB), g.state), ['alice', 'bob'], 'the handler looks the blocks up');
    t.equal(blockCheckPair(edit('dave', M1, 'x', DIRECT_AB), g.state), undefined, 'not for a stranger');
    t.equal(blockCheckPair(del('bob', M1, DIRECT_AB), g.state), undefined, 'nor for a delete');
    g.when(edit('bob', M1, 'x', DIRECT_AB), { blockedPair: true }).thenRejects(t, 'blocked');
    g.when(edit('bob', M1, 'x', DIRECT_AB), { blockedPair: false }).then(t, [messageEdited('bob', M1, 1, 'x', DIRECT_AB)]);
    t.equal(blockCheckPair(edit('bob', M1, 'x'), given(GROUP, bobSaid()).state), undefined, 'groups are unaffected');
  });

  t.test('an edit changes nobody’s unread', async (t) => {
    const g = given(GROUP, [...bobSaid(), messageEdited('bob', M1, 1, 'v2')]);
    t.equal(g.state.unread.get('alice'), 1);
    t.equal(g.state.unread.get('carol'), 1);
    t.equal(g.state.unread.get('bob') ?? 0, 0);
  });
});

t.test('message.delete', async (t) => {
  t.test('the sender deletes: MessageDeleted with seq and sender', async (t) => {
    given(GROUP, bobSaid()).when(del('bob', M1)).then(t, [messageDeleted('bob', M1, 1, 'bob')]);
  });

  t.test("the group owner deletes another member's message", async (t) => {
    given(GROUP, bobSaid()).when(del('alice', M1)).then(t, [messageDeleted('alice', M1, 1, 'bob')]);
  });

  t.test('another member who is not the owner: forbidden', async (t) => {
    given(GROUP, bobSaid()).when(del('carol', M1)).thenRejects(t, 'forbidden');
  });

  t.test('in a direct conversation only the sender deletes', async (t) => {
    const history = [directCreated('alice', 'bob'), messageSent('bob', DIRECT_AB, 1)];
    given(DIRECT_AB, history).when(del('alice', M1, DIRECT_AB)).thenRejects(t, 'forbidden');
    given(DIRECT_AB, history).when(del('bob', M1, DIRECT_AB)).then(t, [messageDeleted('bob', M1, 1, 'bob', DIRECT_AB)]);
  });

  t.test('a non-member: conversation_not_found', async (t) => {
    given(GROUP, bobSaid()).when(del('dave', M1)).thenRejects(t, 'conversation_not_found');
    given('g_none', []).when(del('dave', M1, 'g_none')).thenRejects(t, 'conversation_not_found');
  });

  t.test('an unknown message: message_not_found', async (t) => {
    given(GROUP, bobSaid()).when(del('bob', 'm_nope')).thenRejects(t, 'message_not_found');
  });

  t.test('deleting twice is a duplicate of the first delete, whoever asks again', async (t) => {
    const history = [...bobSaid(), messageDeleted('bob', M1, 1, 'bob')];
    given(GROUP, history).when(del('bob', M1, GROUP, { id: 'another-command' })).thenDuplicate(t, 3);
    given(GROUP, history).when(del('alice', M1)).thenDuplicate(t, 3);
  });

  t.test('but a member who may not delete it still hears forbidden', async (t) => {
    given(GROUP, [...bobSaid(), messageDeleted('bob', M1, 1, 'bob')]).when(del('carol', M1)).thenRejects(t, 'forbidden');
  });

  t.test('a deleted message no longer counts as unread for those who had not read it', async (t) => {
    const g = given(GROUP, [
      team(),
      messageSent('bob', GROUP, 1),
      messageSent('bob', GROUP, 2, { tempId: 't2' }),
      messageRead('carol', 2),
      messageDeleted('bob', M1, 1, 'bob'),
    ]);
    t.equal(g.state.unread.get('alice'), 1, 'alice had two unread, one deleted');
    t.equal(g.state.unread.get('carol'), 0, 'carol had read it: unchanged');
    t.equal(g.state.unread.get('bob') ?? 0, 0, 'the sender never had it unread');
    t.equal(countUnread(g.state, 'alice'), 1, 'a recount agrees');
  });

  t.test('a read after a delete recounts without the deleted message', async (t) => {
    const g = given(GROUP, [
      team(),
      messageSent('bob', GROUP, 1),
      messageSent('bob', GROUP, 2, { tempId: 't2' }),
      messageSent('bob', GROUP, 3, { tempId: 't3' }),
      messageDeleted('bob', messageIdOf('t3'), 3, 'bob'),
      messageRead('alice', 1),
    ]);
    t.equal(g.state.unread.get('alice'), 1, 'only seq 2 is left unread');
  });
});

t.test('kept messages', async (t) => {
  t.test('snapshots carry them, and a snapshot from before them reads as none', async (t) => {
    const g = given(GROUP, [...bobSaid(), messageDeleted('bob', M1, 1, 'bob')]);
    const back = fromSnapshot(JSON.parse(JSON.stringify(toSnapshot(g.state))));
    t.strictSame([...back.messages], [[M1, [1, 'bob', 3]]]);
    const old = JSON.parse(JSON.stringify(toSnapshot(g.state)));
    delete old.messages;
    t.equal(fromSnapshot(old).messages.size, 0);
  });

  t.test('bounded: past MESSAGES_KEPT the oldest is forgotten (then message_not_found)', async (t) => {
    const events: ConversationEvent[] = [team()];
    for (let seq = 1; seq <= MESSAGES_KEPT + 1; seq++) events.push(messageSent('bob', GROUP, seq, { tempId: `t${seq}` }));
    const g = given(GROUP, events);
    t.equal(g.state.messages.size, MESSAGES_KEPT);
    g.when(edit('bob', messageIdOf('t1'), 'x')).thenRejects(t, 'message_not_found');
    g.when(edit('bob', messageIdOf('t2'), 'x')).then(t, [messageEdited('bob', messageIdOf('t2'), 2, 'x')]);
  });
});
