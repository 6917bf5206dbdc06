import t from 'tap';
import { blockCheckPair } from '../../engine/decider.js';
import { fromSnapshot, MESSAGES_KEPT, toSnapshot } from '../../lib/conversation-state.js';
import { limits, validateCommand, validateEvent, type ConversationEvent } from '../../schemas/index.js';
import {
  DIRECT_AB,
  GROUP,
  directCreated,
  given,
  groupCreated,
  memberLeft,
  messageDeleted,
  messageIdOf,
  messageSent,
  react,
  reactionAdded,
  reactionRemoved,
  unreact,
} from '../helpers/decider-spec.js';

/** A group of alice (owner), bob and carol; bob's message m_t1 is seq 1. */
const team = () => groupCreated('alice', { members: ['alice', 'bob', 'carol'] });
const M1 = messageIdOf('t1');
const bobSaid = () => [team(), messageSent('bob', GROUP, 1)];
/** Distinct emoji, all valid against the schema. */
const emojiN = (n: number) => `e${n}`;

t.test('reaction.add', async (t) => {
  t.test('a member reacts: ReactionAdded with the message seq and the emoji', async (t) => {
    given(GROUP, bobSaid()).when(react('carol', M1, '👍')).then(t, [reactionAdded('carol', M1, 1, '👍')]);
    given(GROUP, bobSaid()).when(react('bob', M1, '👍')).then(t, [reactionAdded('bob', M1, 1, '👍')]);
  });

  t.test('the events and commands are valid against the schemas', async (t) => {
    t.ok(validateCommand(react('carol', M1, '👨‍👩‍👧‍👦')).ok);
    t.ok(validateEvent(reactionAdded('carol', M1, 1, '🇫🇷')).ok);
    t.ok(validateCommand(unreact('carol', M1, '❤️')).ok);
    t.ok(validateEvent(reactionRemoved('carol', M1, 1, '❤️')).ok);
  });

  t.test('the emoji is validated: short, no whitespace or control characters, not empty', async (t) => {
    for (const bad of ['', ' ', 'a b', '\u0000', '\n', 'x'.repeat(33), '\ud800', 'a/b', '%F0']) {
      t.notOk(validateCommand(react('carol', M1, bad)).ok, JSON.stringify(bad));
    }
    t.ok(validateCommand(react('carol', M1, 'x'.repeat(32))).ok, '32 UTF-16 units is fine');
  });

  t.test('adding the same reaction again is a no-op', async (t) => {
    given(GROUP, [...bobSaid(), reactionAdded('carol', M1, 1, '👍')]).when(react('carol', M1, '👍', GROUP, { id: 'again' })).thenNoop(t);
  });

  t.test('the same emoji from another member is a new reaction', async (t) => {
    given(GROUP, [...bobSaid(), reactionAdded('carol', M1, 1, '👍')]).when(react('alice', M1, '👍')).then(t, [reactionAdded('alice', M1, 1, '👍')]);
  });

  t.test('a non-member hears conversation_not_found, as for an id that does not exist', async (t) => {
    const r = given(GROUP, bobSaid()).when(react('dave', M1, '👍')).thenRejects(t, 'conversation_not_found');
    const none = given('g_none', []).when(react('dave', M1, '👍', 'g_none')).thenRejects(t, 'conversation_not_found');
    t.equal(r?.message.replace(GROUP, 'ID'), none?.message.replace('g_none', 'ID'), 'the same words');
    given(GROUP, [...bobSaid(), memberLeft('carol')]).when(react('carol', M1, '👍')).thenRejects(t, 'conversation_not_found');
  });

  t.test('an unknown or deleted message: message_not_found', async (t) => {
    given(GROUP, bobSaid()).when(react('carol', 'm_nope', '👍')).thenRejects(t, 'message_not_found');
    given(GROUP, [...bobSaid(), messageDeleted('bob', M1, 1, 'bob')]).when(react('carol', M1, '👍')).thenRejects(t, 'message_not_found');
  });

  t.test(`at most ${limits.reactionsPerUserMax} emoji per user on one message: validation_error beyond`, async (t) => {
    const mine = Array.from({ length: limits.reactionsPerUserMax }, (_, i) => reactionAdded('carol', M1, 1, emojiN(i)));
    const g = given(GROUP, [...bobSaid(), ...mine]);
    g.when(react('carol', M1, 'extra')).thenRejects(t, 'validation_error');
    g.when(react('alice', M1, 'extra')).then(t, [reactionAdded('alice', M1, 1, 'extra')]);
    // Taking one back makes room again.
    given(GROUP, [...bobSaid(), ...mine, reactionRemoved('carol', M1, 1, emojiN(0))]).when(react('carol', M1, 'extra')).then(t, [reactionAdded('carol', M1, 1, 'extra')]);
  });

  t.test(`at most ${limits.reactionsPerMessageMax} distinct emoji on one message: a new one is refused, an existing one still joins`, async (t) => {
    const users = Array.from({ length: limits.reactionsPerMessageMax }, (_, i) => `u${i}`);
    const events: ConversationEvent[] = [groupCreated('alice', { members: ['alice', 'bob', ...users] }), messageSent('bob', GROUP, 1)];
    users.forEach((u, i) => events.push(reactionAdded(u, M1, 1, emojiN(i))));
    const g = given(GROUP, events);
    g.when(react('alice', M1, 'new')).thenRejects(t, 'validation_error');
    g.when(react('alice', M1, emojiN(3))).then(t, [reactionAdded('alice', M1, 1, emojiN(3))]);
  });

  t.test(`at most ${limits.reactionsPerConversationMax} reactions on the kept messages together (the state stays bounded)`, async (t) => {
    const g = given(GROUP, bobSaid());
    // Filled directly: folding that many events would only make the test slow.
    const filler: [string, string][] = Array.from({ length: limits.reactionsPerConversationMax }, (_, i) => [emojiN(i % 20), `u${i}`]);
    g.state.reactions.set('m_other', filler);
    g.when(react('carol', M1, '👍')).thenRejects(t, 'validation_error');
    g.state.reactions.set('m_other', filler.slice(1));
    g.when(react('carol', M1, '👍')).then(t, [reactionAdded('carol', M1, 1, '👍')]);
  });

  t.test('in a direct conversation, a block either way stops a reaction (not its removal)', async (t) => {
    const history = [directCreated('alice', 'bob'), messageSent('bob', DIRECT_AB, 1)];
    const g = given(DIRECT_AB, history);
    t.strictSame(blockCheckPair(react('alice', M1, '👍', DIRECT_AB), g.state), ['alice', 'bob'], 'the handler looks the blocks up');
    t.equal(blockCheckPair(react('dave', M1, '👍', DIRECT_AB), g.state), undefined, 'not for a stranger');
    t.equal(blockCheckPair(unreact('alice', M1, '👍', DIRECT_AB), g.state), undefined, 'nor for a removal');
    g.when(react('alice', M1, '👍', DIRECT_AB), { blockedPair: true }).thenRejects(t, 'blocked');
    g.when(react('alice', M1, '👍', DIRECT_AB), { blockedPair: false }).then(t, [reactionAdded('alice', M1, 1, '👍', DIRECT_AB)]);
    t.equal(blockCheckPair(react('carol', M1, '👍'), given(GROUP, bobSaid()).state), undefined, 'groups are unaffected');
  });

  t.test('a reaction changes nobody’s unread', async (t) => {
    const g = given(GROUP, [...bobSaid(), reactionAdded('carol', M1, 1, '👍')]);
    t.equal(g.state.unread.get('alice'), 1);
    t.equal(g.state.unread.get('carol'), 1);
  });
});

t.test('reaction.remove', async (t) => {
  t.test('a member takes their reaction back: ReactionRemoved', async (t) => {
    given(GROUP, [...bobSaid(), reactionAdded('carol', M1, 1, '👍')]).when(unreact('carol', M1, '👍')).then(t, [reactionRemoved('carol', M1, 1, '👍')]);
  });

  t.test('removing a reaction that is not there (or someone else’s) is a no-op', async (t) => {
    given(GROUP, bobSaid()).when(unreact('carol', M1, '👍')).thenNoop(t);
    given(GROUP, [...bobSaid(), reactionAdded('alice', M1, 1, '👍')]).when(unreact('carol', M1, '👍')).thenNoop(t);
    given(GROUP, [...bobSaid(), reactionAdded('carol', M1, 1, '👍'), reactionRemoved('carol', M1, 1, '👍')])
      .when(unreact('carol', M1, '👍', GROUP, { id: 'again' }))
      .thenNoop(t);
  });

  t.test('a non-member: conversation_not_found; an unknown or deleted message: message_not_found', async (t) => {
    given(GROUP, bobSaid()).when(unreact('dave', M1, '👍')).thenRejects(t, 'conversation_not_found');
    given(GROUP, bobSaid()).when(unreact('carol', 'm_nope', '👍')).thenRejects(t, 'message_not_found');
    given(GROUP, [...bobSaid(), reactionAdded('carol', M1, 1, '👍'), messageDeleted('bob', M1, 1, 'bob')])
      .when(unreact('carol', M1, '👍'))
      .thenRejects(t, 'message_not_found');
  });
});

t.test('kept reactions', async (t) => {
  t.test('snapshots carry them; a snapshot from before reactions reads as none', async (t) => {
    const g = given(GROUP, [...bobSaid(), reactionAdded('carol', M1, 1, '👍'), reactionAdded('alice', M1, 1, '❤️')]);
    const back = fromSnapshot(JSON.parse(JSON.stringify(toSnapshot(g.state))));
    t.strictSame([...back.reactions], [[M1, [['👍', 'carol'], ['❤️', 'alice']]]]);
    const old = JSON.parse(JSON.stringify(toSnapshot(g.state)));
    delete old.reactions;
    t.equal(fromSnapshot(old).reactions.size, 0);
  });

  t.test('a delete drops the message’s reactions', async (t) => {
    const g = given(GROUP, [...bobSaid(), reactionAdded('carol', M1, 1, '👍'), messageDeleted('bob', M1, 1, 'bob')]);
    t.equal(g.state.reactions.size, 0);
  });

  t.test('a forgotten message (past MESSAGES_KEPT) takes its reactions with it', async (t) => {
    const events: ConversationEvent[] = [team(), messageSent('bob', GROUP, 1), reactionAdded('carol', M1, 1, '👍')];
    for (let seq = 2; seq <= MESSAGES_KEPT + 1; seq++) events.push(messageSent('bob', GROUP, seq, { tempId: `t${seq}` }));
    const g = given(GROUP, events);
    t.equal(g.state.reactions.size, 0);
    g.when(react('carol', M1, '❤️')).thenRejects(t, 'message_not_found');
  });
});
