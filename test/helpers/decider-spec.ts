/**
 * Given / when / then over the conversation decider, so a rule reads as its specification:
 *
 *   given(GROUP, [groupCreated('alice', { members: ['alice', 'bob'] })])
 *     .when(join('carol', GROUP))
 *     .then(t, [membersAdded('carol', GROUP)]);
 *
 * `given` folds the history with `evolve` (stream sequences 1, 2, 3 … in order), `when` decides one
 * command on that state, and `then` / `thenNoop` / `thenRejects` / `thenDuplicate` assert the exact
 * decision. `givenUser` / `when` / `then` does the same for a user's stream (blocks).
 * The terminal steps take the tap test so that failures are tap assertions with diffs.
 *
 * Everything the decider reads from outside (clock, actor, origin, ids) is fixed here, so expected
 * events can be written literally.
 *
 * Note: the object `when` returns has a `then` method, so it is a thenable. Never `await` it or
 * return it from an async test function; `then` throws if it is called as a promise would be.
 */
import { createHash } from 'node:crypto';
import type { Test } from 'tap';
import { decide, evolve, initialState, type DecideContext, type Decision, type Rejection } from '../../engine/decider.js';
import type { ConversationState } from '../../lib/conversation-state.js';
import { decideUser, evolveUser, initialUserState, type UserState } from '../../engine/user-decider.js';
import type { ErrorCode } from '../../lib/errors.js';
import { directConversationId, editCommandId, sendCommandId } from '../../lib/ids.js';
import type {
  Actor,
  AddMembers,
  ConversationUpdated,
  MemberRemoved,
  MemberRoleChanged,
  RemoveMember,
  Role,
  SetRole,
  UpdateConversation,
  BlockUser,
  ConversationCommand,
  ConversationCreated,
  ConversationEvent,
  CreateConversation,
  DeleteMessage,
  EditMessage,
  JoinConversation,
  JoinPolicy,
  LeaveConversation,
  MarkDelivered,
  MarkRead,
  Media,
  Member,
  MemberLeft,
  MembersAdded,
  MessageDeleted,
  MessageDelivered,
  MessageEdited,
  MessageRead,
  MessageSent,
  MessageType,
  AddReaction,
  RemoveReaction,
  ReactionAdded,
  ReactionRemoved,
  Origin,
  SendMessage,
  UnblockUser,
  UserBlocked,
  UserCommand,
  UserEvent,
  UserUnblocked,
} from '../../schemas/index.js';

/* ------------------------------------------------------------------ fixed inputs */

/** The gateway's clock for every command built here, and the `at` of every event. */
export const AT = Date.UTC(2024, 4, 1, 12, 0, 0);
export const AT_ISO = '2024-05-01T12:00:00.000Z';

/** Where every command comes from, unless a builder is told `origin: null`. */
export const ORIGIN: Origin = { gatewayId: 'gw-test', connectionId: 'conn-test', ref: 'r-1' };

/** Known actors: alice has name and avatar, bob only a name, carol and dave neither. */
export const ACTORS: Record<string, Actor> = {
  alice: { id: 'alice', name: 'Alice', avatar: 'https://img.test/alice.png' },
  bob: { id: 'bob', name: 'Bob' },
  carol: { id: 'carol' },
  dave: { id: 'dave' },
};

export function actor(userId: string): Actor {
  return ACTORS[userId] ?? { id: userId };
}

/** A group conversation id, and the direct conversation of alice and bob. */
export const GROUP = 'g_team';
export const DIRECT_AB = directConversationId('alice', 'bob');

/** What the decider derives an event id from: the command id (so redeliveries are identical). */
export function eventIdOf(commandId: string): string {
  return `e_${createHash('sha256').update(commandId).digest('base64url').slice(0, 26)}`;
}

/* ------------------------------------------------------------------ commands */

/** Metadata overrides; `origin: null` builds a command without an origin. */
export type Meta = { id?: string; at?: number; origin?: Origin | null };

function meta(by: string, id: string, m: Meta) {
  const origin = m.origin === undefined ? ORIGIN : m.origin;
  return { id: m.id ?? id, actor: actor(by), at: m.at ?? AT, ...(origin ? { origin } : {}) };
}

export function createDirect(
  by: string,
  other: string,
  opts: Meta & { conversationId?: string; members?: string[]; title?: string } = {},
): CreateConversation {
  return {
    type: 'conversation.create',
    ...meta(by, `cmd-create-direct-${by}-${other}`, opts),
    conversationId: opts.conversationId ?? directConversationId(by, other),
    data: { kind: 'direct', members: opts.members ?? [by, other], ...(opts.title !== undefined ? { title: opts.title } : {}) },
  };
}

/** A group create; `title: undefined` (given explicitly) builds one without a title; no joinPolicy unless given. */
export function createGroup(
  by: string,
  opts: Meta & { conversationId?: string; title?: string; members?: string[]; joinPolicy?: JoinPolicy } = {},
): CreateConversation {
  const conversationId = opts.conversationId ?? GROUP;
  const title = 'title' in opts ? opts.title : 'Team';
  return {
    type: 'conversation.create',
    ...meta(by, `cmd-create-${conversationId}`, opts),
    conversationId,
    data: {
      kind: 'group',
      ...(title !== undefined ? { title } : {}),
      members: opts.members ?? [by],
      ...(opts.joinPolicy !== undefined ? { joinPolicy: opts.joinPolicy } : {}),
    },
  };
}

export function join(by: string, conversationId: string = GROUP, opts: Meta = {}): JoinConversation {
  return { type: 'conversation.join', ...meta(by, `cmd-join-${by}-${conversationId}`, opts), conversationId, data: {} };
}

export function leave(by: string, conversationId: string = GROUP, opts: Meta = {}): LeaveConversation {
  return { type: 'conversation.leave', ...meta(by, `cmd-leave-${by}-${conversationId}`, opts), conversationId, data: {} };
}

/* Group administration: `by` is the owner or admin acting. */

export function update(by: string, data: UpdateConversation['data'], conversationId: string = GROUP, opts: Meta = {}): UpdateConversation {
  return { type: 'conversation.update', ...meta(by, `cmd-update-${by}-${conversationId}`, opts), conversationId, data };
}

export function addMembers(by: string, userIds: string[], conversationId: string = GROUP, opts: Meta = {}): AddMembers {
  return { type: 'conversation.add_members', ...meta(by, `cmd-add-${by}-${conversationId}`, opts), conversationId, data: { userIds } };
}

export function removeMember(by: string, userId: string, conversationId: string = GROUP, opts: Meta = {}): RemoveMember {
  return { type: 'conversation.remove_member', ...meta(by, `cmd-remove-${by}-${userId}`, opts), conversationId, data: { userId } };
}

export function setRole(by: string, userId: string, role: Role, conversationId: string = GROUP, opts: Meta = {}): SetRole {
  return { type: 'conversation.set_role', ...meta(by, `cmd-role-${by}-${userId}`, opts), conversationId, data: { userId, role } };
}

export type SendOpts = Meta & {
  tempId?: string;
  messageId?: string;
  type?: MessageType;
  /** Defaults to 'hello'; pass `content: undefined` for a message without content. */
  content?: string;
  media?: Media[];
  replyToId?: string;
  mentions?: string[];
  directWith?: string;
};

/** The message id a send with this tempId gets unless told otherwise. */
export function messageIdOf(tempId: string): string {
  return `m_${tempId.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

/** A send; its command id is `sendCommandId(by, tempId)`, as the gateway makes it. */
export function send(by: string, conversationId: string = GROUP, opts: SendOpts = {}): SendMessage {
  const tempId = opts.tempId ?? 't1';
  const content = 'content' in opts ? opts.content : 'hello';
  return {
    type: 'message.send',
    ...meta(by, sendCommandId(by, tempId), opts),
    conversationId,
    data: {
      messageId: opts.messageId ?? messageIdOf(tempId),
      tempId,
      type: opts.type ?? 'text',
      ...(content !== undefined ? { content } : {}),
      ...(opts.media !== undefined ? { media: opts.media } : {}),
      ...(opts.replyToId !== undefined ? { replyToId: opts.replyToId } : {}),
      ...(opts.mentions !== undefined ? { mentions: opts.mentions } : {}),
      ...(opts.directWith !== undefined ? { directWith: opts.directWith } : {}),
    },
  };
}

/** An edit; its command id is `editCommandId(by, editId)` (editId defaults to `edit-<messageId>`). */
export function edit(by: string, messageId: string, content: string, conversationId: string = GROUP, opts: Meta & { editId?: string } = {}): EditMessage {
  return {
    type: 'message.edit',
    ...meta(by, editCommandId(by, opts.editId ?? `edit-${messageId}`), opts),
    conversationId,
    data: { messageId, content },
  };
}

/** A delete; command id `cmd-delete-<by>-<messageId>` unless told otherwise. */
export function del(by: string, messageId: string, conversationId: string = GROUP, opts: Meta = {}): DeleteMessage {
  return { type: 'message.delete', ...meta(by, `cmd-delete-${by}-${messageId}`, opts), conversationId, data: { messageId } };
}

/** A reaction added; command id `cmd-react-<by>-<messageId>-<emoji>` unless told otherwise. */
export function react(by: string, messageId: string, emoji: string, conversationId: string = GROUP, opts: Meta = {}): AddReaction {
  return { type: 'reaction.add', ...meta(by, `cmd-react-${by}-${messageId}-${emoji}`, opts), conversationId, data: { messageId, emoji } };
}

/** A reaction removed; command id `cmd-unreact-<by>-<messageId>-<emoji>` unless told otherwise. */
export function unreact(by: string, messageId: string, emoji: string, conversationId: string = GROUP, opts: Meta = {}): RemoveReaction {
  return { type: 'reaction.remove', ...meta(by, `cmd-unreact-${by}-${messageId}-${emoji}`, opts), conversationId, data: { messageId, emoji } };
}

/** The ReactionAdded of `react(by, messageId, emoji)` on message number `seq`. */
export function reactionAdded(by: string, messageId: string, seq: number, emoji: string, conversationId: string = GROUP, m: Partial<EventMeta> = {}): ReactionAdded {
  return { ...envelopeOf('ReactionAdded', by, conversationId, { commandId: `cmd-react-${by}-${messageId}-${emoji}`, ...m }), data: { messageId, seq, emoji } };
}

/** The ReactionRemoved of `unreact(by, messageId, emoji)` on message number `seq`. */
export function reactionRemoved(by: string, messageId: string, seq: number, emoji: string, conversationId: string = GROUP, m: Partial<EventMeta> = {}): ReactionRemoved {
  return { ...envelopeOf('ReactionRemoved', by, conversationId, { commandId: `cmd-unreact-${by}-${messageId}-${emoji}`, ...m }), data: { messageId, seq, emoji } };
}

/** A delivery receipt; its command id is `cmd-delivered-<by>-<conversationId>-<upToSeq>` unless told otherwise. */
export function delivered(by: string, upToSeq: number, conversationId: string = GROUP, opts: Meta = {}): MarkDelivered {
  return {
    type: 'receipt.delivered',
    ...meta(by, `cmd-delivered-${by}-${conversationId}-${upToSeq}`, opts),
    conversationId,
    data: { upToSeq },
  };
}

/**
 * A read receipt; `upToSeq: undefined` is "everything so far" (no upToSeq field). Its command id is
 * `cmd-read-<by>-<conversationId>-<upToSeq or all>` unless told otherwise.
 */
export function read(by: string, upToSeq: number | undefined, conversationId: string = GROUP, opts: Meta = {}): MarkRead {
  return {
    type: 'receipt.read',
    ...meta(by, `cmd-read-${by}-${conversationId}-${upToSeq ?? 'all'}`, opts),
    conversationId,
    data: upToSeq !== undefined ? { upToSeq } : {},
  };
}

/** Block commands act on the actor's own user stream unless `userId` says otherwise. */
export type UserMeta = Meta & { userId?: string };

function userMeta(by: string, id: string, m: UserMeta) {
  return { ...meta(by, id, m), userId: m.userId ?? by };
}

/** `by` blocks `target`; command id `cmd-block-<by>-<target>` unless told otherwise. */
export function block(by: string, target: string, opts: UserMeta = {}): BlockUser {
  return { type: 'block.add', ...userMeta(by, `cmd-block-${by}-${target}`, opts), data: { blockedUserId: target } };
}

/** `by` unblocks `target`; command id `cmd-unblock-<by>-<target>` unless told otherwise. */
export function unblock(by: string, target: string, opts: UserMeta = {}): UnblockUser {
  return { type: 'block.remove', ...userMeta(by, `cmd-unblock-${by}-${target}`, opts), data: { blockedUserId: target } };
}

/* ------------------------------------------------------------------ events (for histories) */

type EventMeta = { commandId: string; origin?: Origin | null; at?: string };

function envelopeOf<T extends ConversationEvent['type']>(type: T, by: string, conversationId: string, m: EventMeta) {
  const origin = m.origin === undefined ? ORIGIN : m.origin;
  return {
    type,
    v: 1 as const,
    id: eventIdOf(m.commandId),
    conversationId,
    actor: actor(by),
    at: m.at ?? AT_ISO,
    commandId: m.commandId,
    ...(origin ? { origin } : {}),
  };
}

/** The ConversationCreated of `createDirect(a, b)` (or of an implicit create: pass its commandId). */
export function directCreated(a: string, b: string, m: Partial<EventMeta> = {}): ConversationCreated {
  return {
    ...envelopeOf('ConversationCreated', a, directConversationId(a, b), { commandId: `cmd-create-direct-${a}-${b}`, ...m }),
    data: { kind: 'direct', members: [{ userId: a, role: 'member' }, { userId: b, role: 'member' }] },
  };
}

/**
 * The ConversationCreated of `createGroup(by, …)`: the creator is owner, the others members, the
 * join policy invite unless told otherwise. `joinPolicy: null` builds the event of a version from
 * before join policies, which had none.
 */
export function groupCreated(
  by: string,
  opts: Partial<EventMeta> & { conversationId?: string; title?: string; members?: string[]; joinPolicy?: JoinPolicy | null } = {},
): ConversationCreated {
  const conversationId = opts.conversationId ?? GROUP;
  const members: Member[] = (opts.members ?? [by]).map((userId) => ({ userId, role: userId === by ? 'owner' : 'member' }));
  const joinPolicy = opts.joinPolicy === undefined ? 'invite' : opts.joinPolicy;
  return {
    ...envelopeOf('ConversationCreated', by, conversationId, { commandId: `cmd-create-${conversationId}`, ...opts }),
    data: { kind: 'group', title: opts.title ?? 'Team', members, ...(joinPolicy !== null ? { joinPolicy } : {}) },
  };
}

export function membersAdded(userId: string, conversationId: string = GROUP, m: Partial<EventMeta> = {}): MembersAdded {
  return {
    ...envelopeOf('MembersAdded', userId, conversationId, { commandId: `cmd-join-${userId}-${conversationId}`, ...m }),
    data: { members: [{ userId, role: 'member' }] },
  };
}

export function memberLeft(userId: string, conversationId: string = GROUP, m: Partial<EventMeta> = {}): MemberLeft {
  return {
    ...envelopeOf('MemberLeft', userId, conversationId, { commandId: `cmd-leave-${userId}-${conversationId}`, ...m }),
    data: { userId },
  };
}

/** The MembersAdded of `addMembers(by, userIds)`. */
export function membersAddedBy(by: string, userIds: string[], conversationId: string = GROUP, m: Partial<EventMeta> = {}): MembersAdded {
  return {
    ...envelopeOf('MembersAdded', by, conversationId, { commandId: `cmd-add-${by}-${conversationId}`, ...m }),
    data: { members: userIds.map((userId) => ({ userId, role: 'member' as const })) },
  };
}

export function memberRemoved(by: string, userId: string, conversationId: string = GROUP, m: Partial<EventMeta> = {}): MemberRemoved {
  return { ...envelopeOf('MemberRemoved', by, conversationId, { commandId: `cmd-remove-${by}-${userId}`, ...m }), data: { userId } };
}

export function conversationUpdated(by: string, data: ConversationUpdated['data'], conversationId: string = GROUP, m: Partial<EventMeta> = {}): ConversationUpdated {
  return { ...envelopeOf('ConversationUpdated', by, conversationId, { commandId: `cmd-update-${by}-${conversationId}`, ...m }), data };
}

/** With role owner, a handover: `by` is the previous owner. */
export function memberRoleChanged(by: string, userId: string, role: Role, conversationId: string = GROUP, m: Partial<EventMeta> = {}): MemberRoleChanged {
  const data = role === 'owner' ? { userId, role, previousOwner: by } : { userId, role };
  return { ...envelopeOf('MemberRoleChanged', by, conversationId, { commandId: `cmd-role-${by}-${userId}`, ...m }), data };
}

/** The MessageSent of `send(by, conversationId, opts)` with message number `seq`. */
export function messageSent(
  by: string,
  conversationId: string,
  seq: number,
  opts: Omit<SendOpts, keyof Meta | 'directWith'> & Partial<EventMeta> = {},
): MessageSent {
  const tempId = opts.tempId ?? 't1';
  const content = 'content' in opts ? opts.content : 'hello';
  return {
    ...envelopeOf('MessageSent', by, conversationId, { commandId: sendCommandId(by, tempId), ...opts }),
    data: {
      messageId: opts.messageId ?? messageIdOf(tempId),
      seq,
      sender: actor(by),
      type: opts.type ?? 'text',
      ...(content !== undefined ? { content } : {}),
      ...(opts.media !== undefined ? { media: opts.media } : {}),
      ...(opts.replyToId !== undefined ? { replyToId: opts.replyToId } : {}),
      ...(opts.mentions !== undefined ? { mentions: opts.mentions } : {}),
      tempId,
    },
  };
}

/** The MessageEdited of `edit(by, messageId, content, conversationId)` for message number `seq`. */
export function messageEdited(
  by: string,
  messageId: string,
  seq: number,
  content: string,
  conversationId: string = GROUP,
  m: Partial<EventMeta> & { editId?: string } = {},
): MessageEdited {
  return {
    ...envelopeOf('MessageEdited', by, conversationId, { commandId: editCommandId(by, m.editId ?? `edit-${messageId}`), ...m }),
    data: { messageId, seq, content },
  };
}

/** The MessageDeleted of `del(by, messageId, conversationId)` for message number `seq` sent by `sender`. */
export function messageDeleted(
  by: string,
  messageId: string,
  seq: number,
  sender: string,
  conversationId: string = GROUP,
  m: Partial<EventMeta> = {},
): MessageDeleted {
  return {
    ...envelopeOf('MessageDeleted', by, conversationId, { commandId: `cmd-delete-${by}-${messageId}`, ...m }),
    data: { messageId, seq, sender },
  };
}

/** The MessageDelivered of `delivered(userId, upToSeq, conversationId)` (upToSeq already clamped). */
export function messageDelivered(
  userId: string,
  upToSeq: number,
  conversationId: string = GROUP,
  m: Partial<EventMeta> = {},
): MessageDelivered {
  return {
    ...envelopeOf('MessageDelivered', userId, conversationId, { commandId: `cmd-delivered-${userId}-${conversationId}-${upToSeq}`, ...m }),
    data: { userId, upToSeq },
  };
}

/**
 * The MessageRead of `read(userId, upToSeq, conversationId)`, where `upToSeq` is the decided (clamped)
 * watermark; for a read without upToSeq (or one that was clamped) pass its commandId.
 */
export function messageRead(userId: string, upToSeq: number, conversationId: string = GROUP, m: Partial<EventMeta> = {}): MessageRead {
  return {
    ...envelopeOf('MessageRead', userId, conversationId, { commandId: `cmd-read-${userId}-${conversationId}-${upToSeq}`, ...m }),
    data: { userId, upToSeq },
  };
}

function userEnvelopeOf<T extends UserEvent['type']>(type: T, by: string, userId: string, m: EventMeta) {
  const origin = m.origin === undefined ? ORIGIN : m.origin;
  return {
    type,
    v: 1 as const,
    id: eventIdOf(m.commandId),
    userId,
    actor: actor(by),
    at: m.at ?? AT_ISO,
    commandId: m.commandId,
    ...(origin ? { origin } : {}),
  };
}

/** The UserBlocked of `block(by, target)`, on `by`'s stream. */
export function userBlocked(by: string, target: string, m: Partial<EventMeta> = {}): UserBlocked {
  return { ...userEnvelopeOf('UserBlocked', by, by, { commandId: `cmd-block-${by}-${target}`, ...m }), data: { blockedUserId: target } };
}

/** The UserUnblocked of `unblock(by, target)`, on `by`'s stream. */
export function userUnblocked(by: string, target: string, m: Partial<EventMeta> = {}): UserUnblocked {
  return { ...userEnvelopeOf('UserUnblocked', by, by, { commandId: `cmd-unblock-${by}-${target}`, ...m }), data: { blockedUserId: target } };
}

/* ------------------------------------------------------------------ given / when / then */

type Asserts = Pick<Test, 'strictSame' | 'equal' | 'fail'>;

export type Then<E = ConversationEvent> = {
  readonly decision: Decision<E>;
  /** The command was accepted and exactly these events are appended, in this order. */
  then(t: Asserts, events: E[]): void;
  /** The command was valid but changes nothing: nothing appended, nothing rejected. */
  thenNoop(t: Asserts): void;
  /** The command was rejected with this code; returns the rejection for further checks. */
  thenRejects(t: Asserts, code: ErrorCode): Rejection | undefined;
  /** The command was decided before: answered with the event at this stream sequence. */
  thenDuplicate(t: Asserts, eventSeq: number): void;
};

export type Given = {
  /** The folded state (the decider's input). */
  readonly state: ConversationState;
  /** Decide `command`; `context` is what the handler looked up beforehand (blocks). */
  when(command: ConversationCommand, context?: DecideContext): Then;
};

export type GivenUser = {
  /** The folded user state (the user decider's input). */
  readonly state: UserState;
  when(command: UserCommand): Then<UserEvent>;
};

/** Fold `events` into a fresh state for `conversationId`, at stream sequences 1, 2, 3 … */
export function given(conversationId: string, events: ConversationEvent[] = []): Given {
  const state = initialState(conversationId);
  events.forEach((event, i) => evolve(state, event, i + 1));
  return { state, when: (command, context) => thenOf(decide(command, state, context)) };
}

/** Fold `events` into a fresh user state for `userId`, at stream sequences 1, 2, 3 … */
export function givenUser(userId: string, events: UserEvent[] = []): GivenUser {
  const state = initialUserState(userId);
  events.forEach((event, i) => evolveUser(state, event, i + 1));
  return { state, when: (command) => thenOf(decideUser(command, state)) };
}

function thenOf<E>(decision: Decision<E>): Then<E> {
  return {
    decision,
    then(t, events) {
      notAPromise(t);
      t.strictSame(decision, { kind: 'append', events }, 'appends exactly the expected events');
    },
    thenNoop(t) {
      notAPromise(t);
      t.strictSame(decision, { kind: 'noop' }, 'a no-op: nothing appended, nothing rejected');
    },
    thenRejects(t, code) {
      notAPromise(t);
      if (decision.kind !== 'reject') {
        t.fail(`expected a rejection with ${code}`, { found: decision });
        return undefined;
      }
      t.equal(decision.rejection.code, code, `rejected with ${code}`);
      return decision.rejection;
    },
    thenDuplicate(t, eventSeq) {
      notAPromise(t);
      t.strictSame(decision, { kind: 'duplicate', eventSeq }, `duplicate of the event at stream seq ${eventSeq}`);
    },
  };
}

function notAPromise(t: unknown): void {
  if (typeof t === 'function') throw new Error('a decision spec is not a promise: do not await or return given(…).when(…)');
}
