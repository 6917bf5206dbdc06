import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Avatar, Role, StoredActor, ConversationId, ConversationKind, Emoji, Id, JoinPolicy, StoredMedia, Member, MessageType, Origin, TempId, Timestamp, UserId, limits } from './common.js';

/**
 * The audit log. Every event is `{ type, v, id, conversationId, actor, at, commandId, origin?, data }`,
 * stored as JSON on `<prefix>.ev.conv.<conversationId>` in the <PREFIX>_EVENTS stream, kept forever.
 * `v` is the version of `data`'s shape; a new shape gets a new `v`, never an in-place change.
 */
function event<T extends string, D extends TSchema>(type: T, data: D, description: string) {
  return Type.Object(
    {
      type: Type.Literal(type),
      v: Type.Literal(1),
      id: Id,
      conversationId: ConversationId,
      actor: StoredActor,
      at: Timestamp,
      commandId: Type.String({ maxLength: 300, description: 'the command this event decided; Nats-Msg-Id of the append' }),
      origin: Type.Optional(Origin),
      data,
    },
    { $id: type, title: type, description },
  );
}

export const ConversationCreated = event(
  'ConversationCreated',
  Type.Object({
    kind: ConversationKind,
    title: Type.Optional(Type.String({ maxLength: limits.titleMaxLength })),
    members: Type.Array(Member, { minItems: 1 }),
    /**
     * Groups only. Every group created since the policy exists carries it; on an older event it is
     * absent and means invite (see JoinPolicy): an optional field, so `v` stays 1.
     */
    joinPolicy: Type.Optional(JoinPolicy),
  }),
  'A direct or group conversation was created with its first members.',
);

/** The actor is the joiner (conversation.join) or the owner or admin who added them (add_members). */
export const MembersAdded = event(
  'MembersAdded',
  Type.Object({ members: Type.Array(Member, { minItems: 1 }) }),
  'Users joined (or were added to) a group conversation.',
);

export const MemberLeft = event('MemberLeft', Type.Object({ userId: UserId }), 'A member left a group conversation.');

/** The actor is the owner or an admin; the removed member is told, then hears nothing more. */
export const MemberRemoved = event('MemberRemoved', Type.Object({ userId: UserId }), 'An owner or admin removed a member from a group.');

/**
 * A group's settings changed (the actor is its owner or an admin): only the fields that changed are
 * present. `avatar: null` removes the picture.
 */
export const ConversationUpdated = event(
  'ConversationUpdated',
  Type.Object({
    title: Type.Optional(Type.String({ minLength: 1, maxLength: limits.titleMaxLength })),
    avatar: Type.Optional(Type.Union([Avatar, Type.Null()])),
    joinPolicy: Type.Optional(JoinPolicy),
  }),
  "A group's title, avatar or join policy changed.",
);

/**
 * The owner made a member an admin, or an admin a member again, or handed the group over: with
 * `role: owner`, `previousOwner` (the actor) is an admin from then on.
 */
export const MemberRoleChanged = event(
  'MemberRoleChanged',
  Type.Object({
    userId: UserId,
    role: Role,
    previousOwner: Type.Optional(UserId),
  }),
  "A group member's role changed, or the owner handed the group over (owner only).",
);

export const MessageSent = event(
  'MessageSent',
  Type.Object({
    messageId: Id,
    seq: Type.Integer({ minimum: 1, description: 'per-conversation message number: 1, 2, 3 …' }),
    sender: StoredActor,
    type: MessageType,
    content: Type.Optional(Type.String({ maxLength: limits.contentMaxLength })),
    media: Type.Optional(Type.Array(StoredMedia, { maxItems: limits.mediaMaxItems })),
    replyToId: Type.Optional(Id),
    mentions: Type.Optional(Type.Array(UserId, { maxItems: limits.mentionsMaxItems })),
    tempId: TempId,
  }),
  'A message was appended to a conversation.',
);

/**
 * An edit replaces a message's content (the actor is its sender). The log keeps every version: it
 * is append-only, so the old content stays in the MessageSent (and earlier MessageEdited) events;
 * the read models keep only the current one.
 */
export const MessageEdited = event(
  'MessageEdited',
  Type.Object({
    messageId: Id,
    seq: Type.Integer({ minimum: 1, description: "the edited message's per-conversation seq" }),
    content: Type.String({ minLength: 1, maxLength: limits.contentMaxLength }),
  }),
  "A message's sender replaced its content.",
);

/**
 * A delete makes the message a tombstone (the actor is its sender or a group owner): every read
 * model drops its content and media. The log keeps the fact, and — append-only — the MessageSent
 * with the original content too (a retention decision: see docs/protocol.md "Message lifecycle").
 */
export const MessageDeleted = event(
  'MessageDeleted',
  Type.Object({
    messageId: Id,
    seq: Type.Integer({ minimum: 1, description: "the deleted message's per-conversation seq" }),
    sender: UserId,
  }),
  'A message was deleted (by its sender, or by the owner of its group): a tombstone from now on.',
);

/**
 * A member's reaction on a kept, not deleted message (the actor is the reacting user). Per (user,
 * message, emoji): added once, removed once; the decider drops repeats as no-ops.
 */
const ReactionData = Type.Object({
  messageId: Id,
  seq: Type.Integer({ minimum: 1, description: "the reacted-to message's per-conversation seq" }),
  emoji: Emoji,
});
export const ReactionAdded = event('ReactionAdded', ReactionData, 'A member reacted to a message with an emoji.');
export const ReactionRemoved = event('ReactionRemoved', ReactionData, 'A member took back their reaction (that emoji) on a message.');

/**
 * Receipts are watermarks: "user U has received (read) conversation C up to message seq N". One
 * event covers one message, "mark all as read" and everything between.
 */
export const MessageDelivered = event(
  'MessageDelivered',
  Type.Object({ userId: UserId, upToSeq: Type.Integer({ minimum: 1 }) }),
  "A member's devices received the conversation's messages up to upToSeq.",
);

export const MessageRead = event(
  'MessageRead',
  Type.Object({ userId: UserId, upToSeq: Type.Integer({ minimum: 1 }) }),
  'A member read the conversation up to upToSeq (which implies delivered).',
);

/** Events of one user (`<prefix>.ev.user.<userId>`): who they block. */
function userEvent<T extends string, D extends TSchema>(type: T, data: D, description: string) {
  return Type.Object(
    {
      type: Type.Literal(type),
      v: Type.Literal(1),
      id: Id,
      userId: UserId,
      actor: StoredActor,
      at: Timestamp,
      commandId: Type.String({ maxLength: 300 }),
      origin: Type.Optional(Origin),
      data,
    },
    { $id: type, title: type, description },
  );
}

export const UserBlocked = userEvent('UserBlocked', Type.Object({ blockedUserId: UserId }), 'A user blocked another: no direct messages either way.');
export const UserUnblocked = userEvent('UserUnblocked', Type.Object({ blockedUserId: UserId }), 'A user lifted a block.');

export const eventSchemas = {
  ConversationCreated,
  MembersAdded,
  MemberLeft,
  MemberRemoved,
  ConversationUpdated,
  MemberRoleChanged,
  MessageSent,
  MessageEdited,
  MessageDeleted,
  ReactionAdded,
  ReactionRemoved,
  MessageDelivered,
  MessageRead,
} as const;
export const userEventSchemas = { UserBlocked, UserUnblocked } as const;

export type ConversationCreated = Static<typeof ConversationCreated>;
export type MembersAdded = Static<typeof MembersAdded>;
export type MemberLeft = Static<typeof MemberLeft>;
export type MemberRemoved = Static<typeof MemberRemoved>;
export type ConversationUpdated = Static<typeof ConversationUpdated>;
export type MemberRoleChanged = Static<typeof MemberRoleChanged>;
export type MessageSent = Static<typeof MessageSent>;
export type MessageEdited = Static<typeof MessageEdited>;
export type MessageDeleted = Static<typeof MessageDeleted>;
export type ReactionAdded = Static<typeof ReactionAdded>;
export type ReactionRemoved = Static<typeof ReactionRemoved>;
export type MessageDelivered = Static<typeof MessageDelivered>;
export type MessageRead = Static<typeof MessageRead>;
export type ConversationEvent =
  | ConversationCreated
  | MembersAdded
  | MemberLeft
  | MemberRemoved
  | ConversationUpdated
  | MemberRoleChanged
  | MessageSent
  | MessageEdited
  | MessageDeleted
  | ReactionAdded
  | ReactionRemoved
  | MessageDelivered
  | MessageRead;
export type ConversationEventType = ConversationEvent['type'];
export const ConversationEvent = Type.Union(Object.values(eventSchemas), { $id: 'ConversationEvent', title: 'ConversationEvent' });

export type UserBlocked = Static<typeof UserBlocked>;
export type UserUnblocked = Static<typeof UserUnblocked>;
export type UserEvent = UserBlocked | UserUnblocked;
export const UserEvent = Type.Union(Object.values(userEventSchemas), { $id: 'UserEvent', title: 'UserEvent' });
