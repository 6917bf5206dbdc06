import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isErrorCode } from '../../../lib/errors.js';
import { encodeJson } from '../../../lib/json.js';
import { makeNames } from '../../../lib/names.js';
import { wireValueProblem } from '../../../lib/wire-value.js';
import { createTokenVerifier, type Identity } from '../../../gateway/auth.js';
import { signDevToken } from '../../../lib/dev-token.js';
import { encodeFrame } from '../../../gateway/codec.js';
import {
  buildBlock,
  buildCreateConversation,
  buildDeleteMessage,
  buildEditMessage,
  buildMembership,
  buildGroupAdmin,
  buildReaction,
  buildReceipt,
  buildSendMessage,
  type Built,
  type CommandContext,
} from '../../../gateway/commands.js';
import { decide, evolve, initialState } from '../../../engine/decider.js';
import type { ConversationState } from '../../../lib/conversation-state.js';
import { decideUser, evolveUser, initialUserState, type UserState } from '../../../engine/user-decider.js';
import { decodeLogEntry } from '../../../projections/postgres/decode.js';
import {
  isClientFrameType,
  validateClientEnvelope,
  validateClientPayload,
  validateCommand,
  type AnyCommand,
  type ClientFrameType,
  type ConversationCommand,
  type UserCommand,
} from '../../../schemas/index.js';
import { clientFrameTypes, frameOf } from '../arbitraries/frames.js';
import { hostileString } from '../arbitraries/hostile.js';
import type { FuzzProperty } from '../property.js';

/**
 * Every client frame type: whatever its payload, the edge refuses it, or what it accepts becomes
 * a command that passes the engine's schema, is plain storable JSON, and decides into events the
 * Postgres projector applies as they are (not stepped over, not sanitised).
 */

/** What the gateway makes of each accepted frame (gateway/frame-handler.ts #dispatch); a new frame type must be named here to compile. */
const commandOf: { [T in ClientFrameType]: ((payload: never, ctx: CommandContext) => Built) | 'no command' } = {
  authenticate: 'no command',
  'auth.refresh': 'no command',
  ping: 'no command',
  // Its receipts come from what the socket was sent, not from the payload (Connection.takeReceipts).
  ack: 'no command',
  'conversation.create': buildCreateConversation,
  'conversation.join': (p, c) => buildMembership('conversation.join', p, c),
  'conversation.leave': (p, c) => buildMembership('conversation.leave', p, c),
  'message.send': buildSendMessage,
  'message.edit': buildEditMessage,
  'message.delete': buildDeleteMessage,
  'conversation.update': (p, c) => buildGroupAdmin('conversation.update', p, c),
  'conversation.add_members': (p, c) => buildGroupAdmin('conversation.add_members', p, c),
  'conversation.remove_member': (p, c) => buildGroupAdmin('conversation.remove_member', p, c),
  'conversation.set_role': (p, c) => buildGroupAdmin('conversation.set_role', p, c),
  'reaction.add': (p, c) => buildReaction('reaction.add', p, c),
  'reaction.remove': (p, c) => buildReaction('reaction.remove', p, c),
  'message.delivered': (p, c) => buildReceipt('receipt.delivered', p, c),
  'message.read': (p, c) => buildReceipt('receipt.read', p, c),
  'block.add': (p, c) => buildBlock('block.add', p, c),
  'block.remove': (p, c) => buildBlock('block.remove', p, c),
  // Ephemeral: relayed over core NATS, never a command (gateway/typing-relay.ts).
  'typing.start': 'no command',
  'typing.stop': 'no command',
  // Ephemeral: watched over core NATS (gateway/presence-subscriptions.ts), never a command.
  'presence.subscribe': 'no command',
  'presence.unsubscribe': 'no command',
};

type AtTheEdge = { refused: string } | { type: ClientFrameType; ref: string | undefined; payload: unknown };

/** FrameHandler.handle's checks, in its order: envelope, plain wire data, known type, payload schema. */
function atTheEdge(frame: unknown): AtTheEdge {
  const envelope = validateClientEnvelope(frame);
  if (!envelope.ok) return { refused: envelope.message };
  const problem = wireValueProblem(frame);
  if (problem !== undefined) return { refused: problem };
  const { type, ref } = envelope.value;
  if (!isClientFrameType(type)) return { refused: `unknown type ${type}` };
  const payload = validateClientPayload[type](envelope.value.payload ?? {});
  if (!payload.ok) return { refused: payload.message };
  return { type, ref, payload: payload.value };
}

const secret = 'fuzz-secret-fuzz-secret';
const verifier = createTokenVerifier({ secret, algorithms: ['HS256'], clockToleranceSec: 5 });
const names = makeNames('fuzz');

/** Who sends: a real token with display claims of any text, through the real verifier. */
const identity: fc.Arbitrary<Promise<Identity>> = fc
  .record({ sub: fc.stringMatching(/^[A-Za-z0-9_-]{1,128}$/), name: fc.option(hostileString, { nil: undefined }), picture: fc.option(hostileString, { nil: undefined }) })
  .map(async (claims) => verifier.verify(await signDevToken({ secret }, claims, 300)));

function clientFrameProperty(type: ClientFrameType): FuzzProperty {
  return {
    name: `client frame ${type}: refused, or a storable command whose events the projector applies`,
    testRuns: 150,
    property: fc.asyncProperty(identity, frameOf(type), fc.constantFrom('json', 'msgpack' as const), async (who, frame, codec) => {
      const edge = atTheEdge(frame);
      if ('refused' in edge) {
        assert.equal(typeof edge.refused, 'string');
        return;
      }
      assert.equal(edge.type, type);
      const me = await who;
      if (type === 'ping') {
        // The pong echoes the client's timestamp: it must be writable in the socket's codec.
        encodeFrame({ type: 'pong', ref: edge.ref, payload: { ...(edge.payload as object), serverTime: new Date().toISOString() } }, codec);
      }
      const build = commandOf[type];
      if (build === 'no command') return;
      const ctx: CommandContext = { identity: me, origin: { gatewayId: 'gw-fuzz', connectionId: 'conn-fuzz', ...(edge.ref !== undefined ? { ref: edge.ref } : {}) }, now: Date.now() };
      const built = build(edge.payload as never, ctx);
      if (!built.ok) {
        assert.ok(isErrorCode(built.code), `a refusal has a known code: ${built.code}`);
        return;
      }
      assertStorableCommand(built.command);
      for (const event of eventsOf(built.command)) assertProjectable(event);
    }),
  };
}

function assertStorableCommand(command: AnyCommand): void {
  const checked = validateCommand(command);
  assert.ok(checked.ok, `the engine's schema accepts the command: ${checked.ok ? '' : checked.message}`);
  assert.equal(wireValueProblem(command), undefined, 'the command is plain, storable JSON');
  const stored = JSON.stringify(command);
  const readBack = validateCommand(JSON.parse(stored));
  assert.ok(readBack.ok, 'the engine reads the stored command back as a command');
  assert.equal(JSON.stringify(readBack.value), stored, 'and as it was written');
}

/** The command decided where the engine would accept it most often; what each decision appends. */
function eventsOf(command: AnyCommand): unknown[] {
  const events: unknown[] = [];
  if ('userId' in command && !('conversationId' in command)) {
    const c = command as UserCommand;
    for (const state of userStates(c)) {
      const d = decideUser(c, state);
      if (d.kind === 'reject') assert.ok(isErrorCode(d.rejection.code));
      if (d.kind === 'append') events.push(...d.events);
    }
    return events;
  }
  const c = command as ConversationCommand;
  for (const state of conversationStates(c)) {
    const d = decide(c, state);
    if (d.kind === 'reject') assert.ok(isErrorCode(d.rejection.code));
    if (d.kind === 'append') events.push(...d.events);
  }
  return events;
}

/** The conversation not existing; a group holding the actor, with a message from someone else; a group without them. */
function conversationStates(command: ConversationCommand): ConversationState[] {
  const id = command.conversationId;
  const actor = command.actor.id;
  const [peer, other] = ['fuzz-peer-1', 'fuzz-peer-2'].filter((u) => u !== actor) as [string, string];
  const withActor = setUp(id, peer, [peer, actor]);
  const withoutActor = setUp(id, peer, [peer, other]);
  const states = [initialState(id), withActor, withoutActor];
  // An edit or delete of the actor's own message (its id from the frame) is decided too, not only refused.
  if (command.type === 'message.edit' || command.type === 'message.delete') {
    states.push(setUp(id, peer, [peer, actor], { sender: actor, messageId: command.data.messageId }));
  }
  // A reaction on a message that is there (the frame's id), and its removal once it was added.
  if (command.type === 'reaction.add' || command.type === 'reaction.remove') {
    const own = { sender: peer, messageId: command.data.messageId };
    states.push(setUp(id, peer, [peer, actor], own));
    if (command.type === 'reaction.remove') states.push(setUp(id, peer, [peer, actor], { ...own, reaction: { userId: actor, emoji: command.data.emoji } }));
  }
  // Group administration by the group's owner, with the member it names in the group: decided, not only refused.
  if (command.type === 'conversation.update' || command.type === 'conversation.add_members') states.push(setUp(id, actor, [actor, peer]));
  if (command.type === 'conversation.remove_member' || command.type === 'conversation.set_role') {
    states.push(setUp(id, actor, [...new Set([actor, peer, command.data.userId])]));
  }
  return states;
}

function setUp(id: string, owner: string, members: string[], own?: { sender: string; messageId: string; reaction?: { userId: string; emoji: string } }): ConversationState {
  const at = Date.now();
  let state = initialState(id);
  let seq = 0;
  const apply = (command: ConversationCommand) => {
    const d = decide(command, state);
    assert.equal(d.kind, 'append', 'the set-up commands are accepted');
    if (d.kind === 'append') for (const e of d.events) state = evolve(state, e, ++seq);
  };
  apply({ type: 'conversation.create', id: 'setup-create', conversationId: id, actor: { id: owner }, at, data: { kind: 'group', title: 'setup', members } });
  apply({ type: 'message.send', id: 'setup-send', conversationId: id, actor: { id: owner }, at, data: { messageId: 'm-setup', tempId: 'setup', type: 'text', content: 'hello' } });
  if (own) {
    apply({ type: 'message.send', id: 'setup-own', conversationId: id, actor: { id: own.sender }, at, data: { messageId: own.messageId, tempId: 'own', type: 'text', content: 'mine' } });
    if (own.reaction) {
      const { userId, emoji } = own.reaction;
      apply({ type: 'reaction.add', id: 'setup-react', conversationId: id, actor: { id: userId }, at, data: { messageId: own.messageId, emoji } });
    }
  }
  return state;
}

function userStates(command: UserCommand): UserState[] {
  const blocking = initialUserState(command.userId);
  const d = decideUser({ type: 'block.add', id: 'setup-block', userId: command.userId, actor: command.actor, at: Date.now(), data: { blockedUserId: command.data.blockedUserId } }, blocking);
  if (d.kind === 'append') for (const e of d.events) evolveUser(blocking, e, 1);
  return [initialUserState(command.userId), blocking];
}

function assertProjectable(event: unknown): void {
  const e = event as { conversationId?: string; userId?: string };
  const subject = e.conversationId !== undefined ? names.subjects.conversationEvents(e.conversationId) : names.subjects.userEvents(e.userId!);
  const entry = decodeLogEntry(names, { seq: 1, subject, data: encodeJson(event) });
  assert.notEqual(entry.event, null, `the projector applies the event: ${entry.problem}`);
  assert.equal(entry.sanitized, undefined, 'the event text is stored as it is (no NUL, no lone surrogate)');
  assert.equal(wireValueProblem(event), undefined, 'the event is plain JSON');
}

export const clientFrameProperties: FuzzProperty[] = clientFrameTypes.map(clientFrameProperty);
