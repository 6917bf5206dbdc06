import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Avatar, StoredActor, ConversationId, ConversationKind, Emoji, Id, JoinPolicy, StoredMedia, Member, MessageType, Ref, TempId, Timestamp, UserId } from './common.js';

/**
 * Server → client frames: `{ type, seq?, ref?, payload }` or `{ type: 'error', ref?, error }`.
 * `seq` is the user's inbox cursor and only durable frames carry it.
 */

/** A message as clients see it. */
export const MessageStatus = Type.Union([Type.Literal('sent'), Type.Literal('delivered'), Type.Literal('read')]);
export type MessageStatus = Static<typeof MessageStatus>;

/** A reaction change as clients see it (reaction.added / reaction.removed). */
export const WireReaction = Type.Object({
  conversationId: ConversationId,
  messageId: Id,
  seq: Type.Integer({ minimum: 1, description: "the message's seq" }),
  userId: UserId,
  emoji: Emoji,
  at: Timestamp,
});

export const WireMessage = Type.Object(
  {
    id: Id,
    conversationId: ConversationId,
    seq: Type.Integer({ minimum: 1, description: 'per-conversation message number' }),
    senderId: UserId,
    sender: StoredActor,
    type: MessageType,
    content: Type.Optional(Type.String()),
    media: Type.Optional(Type.Array(StoredMedia)),
    replyToId: Type.Optional(Id),
    mentions: Type.Optional(Type.Array(UserId)),
    tempId: TempId,
    status: Type.Literal('sent'),
    createdAt: Timestamp,
  },
  { $id: 'WireMessage' },
);
export type WireMessage = Static<typeof WireMessage>;

export const WireConversation = Type.Object(
  {
    id: ConversationId,
    kind: ConversationKind,
    title: Type.Optional(Type.String()),
    /** Groups only, once set by conversation.update. */
    avatar: Type.Optional(Avatar),
    /** Groups only. */
    joinPolicy: Type.Optional(JoinPolicy),
    members: Type.Array(Member),
    createdBy: UserId,
    createdAt: Timestamp,
  },
  { $id: 'WireConversation' },
);
export type WireConversation = Static<typeof WireConversation>;

/** A user's presence as their contacts see it. lastSeen: when they were last online (null: never seen). */
export const PresenceStatus = Type.Object(
  {
    userId: UserId,
    isOnline: Type.Boolean(),
    lastSeen: Type.Union([Timestamp, Type.Null()], { description: 'while online: now; offline: when they went offline; null: never seen' }),
  },
  { $id: 'PresenceStatus' },
);
export type PresenceStatus = Static<typeof PresenceStatus>;

export const serverPayloads = {
  'connection.success': Type.Object({
    userId: UserId,
    deviceId: Type.String(),
    connectionId: Id,
    cursor: Type.Integer({ minimum: 0, description: 'inbox position this connection starts after' }),
    resumed: Type.Boolean(),
    serverTime: Timestamp,
    limits: Type.Object(
      {
        framesPerSecond: Type.Integer({ minimum: 1, description: 'frames a connection may send per second (token bucket refill)' }),
        frameBurst: Type.Integer({ minimum: 1, description: 'frames a connection may send at once (token bucket size)' }),
        badFramesPerMinute: Type.Integer({ minimum: 1, description: 'bad frames (rate_limited included) tolerated per minute before close 4008' }),
        maxPayloadBytes: Type.Integer({ minimum: 1, description: 'largest frame accepted, in bytes' }),
        userSendsPerSecond: Type.Integer({ minimum: 1, description: "message.send a user may do per second over all of its connections and REST (token bucket refill)" }),
        userSendBurst: Type.Integer({ minimum: 1, description: 'message.send a user may do at once (token bucket size)' }),
        userFramesPerSecond: Type.Integer({ minimum: 1, description: 'frames and REST requests a user may send per second over all of its connections (token bucket refill)' }),
        userFrameBurst: Type.Integer({ minimum: 1, description: 'frames and REST requests a user may send at once (token bucket size)' }),
      },
      { description: "this connection's limits, so that a client can pace itself" },
    ),
  }),
  'message.sent': Type.Object({ tempId: TempId, message: WireMessage }),
  'message.new': Type.Object({ message: WireMessage }),
  /** A message's new content, to every member (the editor's own devices too). */
  'message.edited': Type.Object({
    conversationId: ConversationId,
    messageId: Id,
    seq: Type.Integer({ minimum: 1 }),
    content: Type.String(),
    editedAt: Timestamp,
    editedBy: UserId,
  }),
  /** A message became a tombstone, to every member: drop its content and media. */
  'message.deleted': Type.Object({
    conversationId: ConversationId,
    messageId: Id,
    seq: Type.Integer({ minimum: 1 }),
    deletedAt: Timestamp,
    deletedBy: UserId,
  }),
  /** A member's reaction added to / taken off a message, to every member (the reactor's own devices too). */
  'reaction.added': WireReaction,
  'reaction.removed': WireReaction,
  'conversation.created': Type.Object({ conversation: WireConversation }),
  /**
   * A group's settings or a member's role changed, to every member: only what changed is present
   * (avatar null: removed; roles: the members whose role is now the one given).
   */
  'conversation.updated': Type.Object({
    conversationId: ConversationId,
    title: Type.Optional(Type.String()),
    avatar: Type.Optional(Type.Union([Avatar, Type.Null()])),
    joinPolicy: Type.Optional(JoinPolicy),
    roles: Type.Optional(Type.Array(Member)),
    updatedBy: UserId,
    at: Timestamp,
  }),
  'conversation.member_joined': Type.Object({
    conversationId: ConversationId,
    members: Type.Array(Member),
    /** Present when an owner or admin added them (conversation.add_members); absent for a join. */
    addedBy: Type.Optional(UserId),
    /**
     * In the new members' copy only: the group as it is now (title, avatar, join policy, every
     * member with their role), which they had no other way to learn from the socket.
     */
    conversation: Type.Optional(WireConversation),
    at: Timestamp,
  }),
  'conversation.member_left': Type.Object({
    conversationId: ConversationId,
    userId: UserId,
    /** Present when an owner or admin removed them (conversation.remove_member); absent for a leave. */
    removedBy: Type.Optional(UserId),
    at: Timestamp,
  }),
  'message.status': Type.Object({
    conversationId: ConversationId,
    /** The range of the sender's messages whose status changed: seq fromSeq..upToSeq (inclusive). */
    fromSeq: Type.Integer({ minimum: 1 }),
    upToSeq: Type.Integer({ minimum: 1 }),
    oldStatus: MessageStatus,
    newStatus: MessageStatus,
    updatedBy: UserId,
    timestamp: Timestamp,
  }),
  'message.read_update': Type.Object({ conversationId: ConversationId, readBy: UserId, upToSeq: Type.Integer({ minimum: 1 }), readAt: Timestamp }),
  'message.read_ack': Type.Object({ conversationId: ConversationId, upToSeq: Type.Integer({ minimum: 1 }), readAt: Timestamp }),
  'unread.update': Type.Object({ conversationId: ConversationId, unread: Type.Integer({ minimum: 0 }), totalUnread: Type.Integer({ minimum: 0 }) }),
  'unread.summary': Type.Object({
    conversations: Type.Array(Type.Object({ conversationId: ConversationId, unread: Type.Integer({ minimum: 1 }) })),
    totalUnread: Type.Integer({ minimum: 0 }),
  }),
  'block.added': Type.Object({ userId: UserId, at: Type.Optional(Timestamp) }),
  'block.removed': Type.Object({ userId: UserId, at: Type.Optional(Timestamp) }),
  'resume.reset': Type.Object({
    requestedCursor: Type.Integer({ minimum: 0 }),
    cursor: Type.Integer({ minimum: 0, description: 'where this connection continues from' }),
    reason: Type.String(),
  }),
  'auth.refreshed': Type.Object({ expiresAt: Timestamp }),
  'user.online': PresenceStatus,
  'user.offline': PresenceStatus,
  /** On connect (contacts, no ref), and as the answer to presence.subscribe (the users it named, with its ref). */
  'status.bulk': Type.Object({ users: Type.Array(PresenceStatus) }),
  /** The answer to presence.unsubscribe (with its ref): the users it named, subscribed or not. */
  'presence.unsubscribed': Type.Object({ userIds: Type.Array(UserId) }),
  pong: Type.Object({ timestamp: Type.Optional(Type.Number()), serverTime: Timestamp }),
  /** Ephemeral: no seq, never stored or replayed; every typing.start is followed by a typing.stop. */
  'typing.start': Type.Object({ conversationId: ConversationId, userId: UserId }),
  'typing.stop': Type.Object({ conversationId: ConversationId, userId: UserId }),
} satisfies Record<string, TSchema>;

export type ServerFrameType = keyof typeof serverPayloads | 'error';
export type ServerPayload<T extends keyof typeof serverPayloads> = Static<(typeof serverPayloads)[T]>;

export const ErrorFrame = Type.Object(
  {
    type: Type.Literal('error'),
    ref: Type.Optional(Ref),
    error: Type.Object({
      code: Type.String(),
      message: Type.String(),
      temporary: Type.Optional(Type.Boolean()),
      tempId: Type.Optional(TempId),
      retryAfterMs: Type.Optional(Type.Integer({ minimum: 0, description: 'rate_limited: how long until a retry can succeed' })),
    }),
  },
  { $id: 'ErrorFrame' },
);
export type ErrorFrame = Static<typeof ErrorFrame>;

/** Server frames of the shape `{ type, seq?, ref?, payload }`. */
export type ServerFrame = {
  [K in keyof typeof serverPayloads]: { type: K; seq?: number; ref?: string; payload: ServerPayload<K> };
}[keyof typeof serverPayloads];
