import t from 'tap';
import type { Identity } from '../../gateway/auth.js';
import { buildBlock, buildCreateConversation, buildMembership, buildSendMessage, type Built, type CommandContext } from '../../gateway/commands.js';
import { decide, initialState } from '../../engine/decider.js';
import { decideUser, initialUserState } from '../../engine/user-decider.js';
import { directConversationId, newId } from '../../lib/ids.js';
import { validateCommand, type AnyCommand, type ConversationCommand, type Origin, type UserCommand } from '../../schemas/index.js';

const NOW = Date.UTC(2024, 4, 1, 12, 0, 0);
const ORIGIN: Origin = { gatewayId: 'gw-1', connectionId: 'conn-1', ref: 'r-9' };
const alice: Identity = { userId: 'alice', name: 'Alice', avatar: 'https://img.test/a.png', expiresAt: NOW + 60_000 };
const bare: Identity = { userId: 'bob', expiresAt: NOW + 60_000 };
const ctx: CommandContext = { identity: alice, origin: ORIGIN, now: NOW };

/** The time part of ids made at NOW (newId: prefix, '_', 10 time chars, 16 random chars). */
const TIME = newId('x', NOW).slice(2, 12);
const idAt = (prefix: string) => new RegExp(`^${prefix}_${TIME}[0-9A-HJKMNP-TV-Z]{16}$`);

/** The command of a successful build; fails the test otherwise. */
function commandOf(t: Pick<typeof import('tap').default, 'fail'>, built: Built): AnyCommand | undefined {
  if (built.ok) return built.command;
  t.fail(`expected a command, got ${built.code}: ${built.message}`);
  return undefined;
}

/** Replace the generated ids with placeholders after checking their format, so the rest compares literally. */
/** What the decider answers a built conversation command on a conversation with no history. */
function refusalOf(t: Pick<typeof import('tap').default, 'fail'>, built: Built): unknown {
  const command = commandOf(t, built) as ConversationCommand;
  const decision = decide(command, initialState(command.conversationId));
  return decision.kind === 'reject' ? { ok: false, ...decision.rejection } : decision;
}

function withoutRandomIds(t: Pick<typeof import('tap').default, 'match'>, command: AnyCommand): unknown {
  const copy = structuredClone(command) as AnyCommand & { data: Record<string, unknown> };
  if (copy.type !== 'message.send') {
    t.match(copy.id, idAt('c'), 'command id is a fresh c_ id stamped now');
    copy.id = '<c>';
  }
  if (copy.type === 'message.send') {
    t.match(copy.data.messageId, idAt('m'), 'message id is a fresh m_ id stamped now');
    copy.data.messageId = '<m>';
  }
  if (copy.type === 'conversation.create' && copy.data.kind === 'group') {
    t.match(copy.conversationId, idAt('g'), 'group id is a fresh g_ id stamped now');
    copy.conversationId = '<g>';
  }
  return copy;
}

const ALICE_ACTOR = { id: 'alice', name: 'Alice', avatar: 'https://img.test/a.png' };

t.test('buildCreateConversation', async (t) => {
  t.test('direct: derived conversation id, both members, actor from the identity', async (t) => {
    const command = commandOf(t, buildCreateConversation({ kind: 'direct', userId: 'bob' }, ctx))!;
    t.strictSame(withoutRandomIds(t, command), {
      type: 'conversation.create',
      id: '<c>',
      conversationId: directConversationId('alice', 'bob'),
      actor: ALICE_ACTOR,
      at: NOW,
      origin: ORIGIN,
      data: { kind: 'direct', members: ['alice', 'bob'] },
    });
    t.equal(validateCommand(command).ok, true);
  });

  t.test('direct with yourself: built, and refused by the decider with the message clients have always had', async (t) => {
    t.strictSame(refusalOf(t, buildCreateConversation({ kind: 'direct', userId: 'alice' }, ctx)), {
      ok: false,
      code: 'validation_error',
      message: 'a direct conversation needs another user',
    });
  });

  t.test('group: fresh id, title as given, members deduplicated with the creator first', async (t) => {
    const command = commandOf(t, buildCreateConversation({ kind: 'group', title: 'Team', members: ['bob', 'carol', 'bob', 'alice'] }, ctx))!;
    t.strictSame(withoutRandomIds(t, command), {
      type: 'conversation.create',
      id: '<c>',
      conversationId: '<g>',
      actor: ALICE_ACTOR,
      at: NOW,
      origin: ORIGIN,
      data: { kind: 'group', title: 'Team', members: ['alice', 'bob', 'carol'] },
    });
  });

  t.test('group: joinPolicy is carried when given, left out when not (the engine decides the default)', async (t) => {
    const open = commandOf(t, buildCreateConversation({ kind: 'group', title: 'x', members: [], joinPolicy: 'open' }, ctx))!;
    t.equal(open.type === 'conversation.create' ? open.data.joinPolicy : undefined, 'open');
    const plain = commandOf(t, buildCreateConversation({ kind: 'group', title: 'x', members: [] }, ctx))!;
    t.equal(plain.type === 'conversation.create' ? 'joinPolicy' in plain.data : undefined, false);
  });

  t.test('group with no other members is the creator alone', async (t) => {
    const command = commandOf(t, buildCreateConversation({ kind: 'group', title: 'Me', members: [] }, ctx))!;
    t.strictSame(command.type === 'conversation.create' ? command.data.members : undefined, ['alice']);
  });

  t.test('two builds make two different ids', async (t) => {
    const a = commandOf(t, buildCreateConversation({ kind: 'group', title: 'x', members: [] }, ctx))!;
    const b = commandOf(t, buildCreateConversation({ kind: 'group', title: 'x', members: [] }, ctx))!;
    t.not(a.id, b.id);
    t.not((a as { conversationId: string }).conversationId, (b as { conversationId: string }).conversationId);
  });
});

t.test('buildMembership', async (t) => {
  for (const type of ['conversation.join', 'conversation.leave'] as const) {
    t.test(type, async (t) => {
      const command = commandOf(t, buildMembership(type, { conversationId: 'g_1' }, ctx))!;
      t.strictSame(withoutRandomIds(t, command), {
        type,
        id: '<c>',
        conversationId: 'g_1',
        actor: ALICE_ACTOR,
        at: NOW,
        origin: ORIGIN,
        data: {},
      });
    });
  }
});

t.test('buildSendMessage', async (t) => {
  t.test('to a conversation: command id <userId>:<tempId>, only the given fields', async (t) => {
    const command = commandOf(t, buildSendMessage({ conversationId: 'g_1', tempId: 'tmp-1', content: 'hi' }, ctx))!;
    t.strictSame(withoutRandomIds(t, command), {
      type: 'message.send',
      id: 'alice:tmp-1',
      conversationId: 'g_1',
      actor: ALICE_ACTOR,
      at: NOW,
      origin: ORIGIN,
      data: { messageId: '<m>', tempId: 'tmp-1', type: 'text', content: 'hi' },
    });
    t.equal(validateCommand(command).ok, true);
  });

  t.test('to a user: the derived direct conversation, directWith set', async (t) => {
    const command = commandOf(t, buildSendMessage({ toUserId: 'bob', tempId: 't1', content: 'hey' }, ctx))!;
    t.strictSame(withoutRandomIds(t, command), {
      type: 'message.send',
      id: 'alice:t1',
      conversationId: directConversationId('alice', 'bob'),
      actor: ALICE_ACTOR,
      at: NOW,
      origin: ORIGIN,
      data: { messageId: '<m>', tempId: 't1', type: 'text', content: 'hey', directWith: 'bob' },
    });
  });

  t.test('every optional field is carried', async (t) => {
    const media = [{ url: 'https://cdn.test/p.png', width: 1, height: 2 }];
    const command = commandOf(
      t,
      buildSendMessage({ conversationId: 'g_1', tempId: 't1', type: 'image', content: 'c', media, replyToId: 'm_0', mentions: ['bob'] }, ctx),
    )!;
    t.strictSame(command.data, { messageId: (command.data as { messageId: string }).messageId, tempId: 't1', type: 'image', content: 'c', media, replyToId: 'm_0', mentions: ['bob'] });
  });

  t.test('exactly one of conversationId and toUserId', async (t) => {
    const refused = { ok: false, code: 'validation_error', message: 'give exactly one of conversationId and toUserId' };
    t.strictSame(buildSendMessage({ tempId: 't1', content: 'x' }, ctx), refused, 'neither');
    t.strictSame(buildSendMessage({ conversationId: 'g_1', toUserId: 'bob', tempId: 't1', content: 'x' }, ctx), refused, 'both');
  });

  t.test('a direct message to yourself: built, and refused by the decider', async (t) => {
    t.strictSame(refusalOf(t, buildSendMessage({ toUserId: 'alice', tempId: 't1', content: 'x' }, ctx)), {
      ok: false,
      code: 'validation_error',
      message: 'cannot send a direct message to yourself',
    });
  });

  t.test('content or media; a text needs content: built, and refused by the decider with the same code and message', async (t) => {
    // The rule is the decider's alone (engine/decider.ts); the client hears it as before, from the outcome.
    const refusal = (built: Built) => refusalOf(t, built);
    const noContent = { ok: false, code: 'validation_error', message: 'a message needs content or media' };
    t.strictSame(refusal(buildSendMessage({ conversationId: 'g_1', tempId: 't1' }, ctx)), noContent);
    t.strictSame(refusal(buildSendMessage({ conversationId: 'g_1', tempId: 't1', content: '   ', media: [] }, ctx)), noContent);
    t.strictSame(refusal(buildSendMessage({ toUserId: 'bob', tempId: 't1', content: '   ' }, ctx)), noContent, 'to a user too');
    t.strictSame(refusal(buildSendMessage({ conversationId: 'g_1', tempId: 't1', media: [{ url: 'u' }] }, ctx)), {
      ok: false,
      code: 'validation_error',
      message: 'a text message needs content',
    });
    const image = commandOf(t, buildSendMessage({ conversationId: 'g_1', tempId: 't1', type: 'image', media: [{ url: 'u' }] }, ctx))!;
    t.strictSame(image.data, { messageId: (image.data as { messageId: string }).messageId, tempId: 't1', type: 'image', media: [{ url: 'u' }] });
  });

  t.test('a direct message to yourself without content is answered about the recipient, as before', async (t) => {
    t.strictSame(refusalOf(t, buildSendMessage({ toUserId: 'alice', tempId: 't1', content: '' }, ctx)), {
      ok: false,
      code: 'validation_error',
      message: 'cannot send a direct message to yourself',
    });
  });

  t.test('an identity without name or avatar gives a bare actor; no origin, no origin field', async (t) => {
    const command = commandOf(t, buildSendMessage({ conversationId: 'g_1', tempId: 't1', content: 'x' }, { identity: bare, now: NOW }))!;
    t.strictSame(command.actor, { id: 'bob' });
    t.equal('origin' in command, false);
    t.equal(command.id, 'bob:t1');
  });
});

t.test('buildBlock', async (t) => {
  t.test('a block of your own user: built, and refused by the user decider as before', async (t) => {
    // The rule is engine/user-decider.ts's alone; the client hears the same error from the outcome.
    for (const type of ['block.add', 'block.remove'] as const) {
      const command = commandOf(t, buildBlock(type, { userId: 'alice' }, ctx)) as UserCommand;
      t.strictSame(command.data, { blockedUserId: 'alice' });
      t.strictSame(decideUser(command, initialUserState('alice')), {
        kind: 'reject',
        rejection: { code: 'validation_error', message: 'you cannot block yourself' },
      });
    }
  });

  t.test('another user: a command on your own user', async (t) => {
    const command = commandOf(t, buildBlock('block.add', { userId: 'bob' }, ctx))!;
    t.strictSame(withoutRandomIds(t, command), { type: 'block.add', id: '<c>', userId: 'alice', actor: ALICE_ACTOR, at: NOW, origin: ORIGIN, data: { blockedUserId: 'bob' } });
  });
});
