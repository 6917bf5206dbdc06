import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Actor, ConversationId, ConversationKind, Id, Media, Member, MessageType, Ref, TempId, Timestamp, UserId } from './common.js';

/**
 * Server → client frames: `{ type, seq?, ref?, payload }` or `{ type: 'error', ref?, error }`.
 * `seq` is the user's inbox cursor and only durable frames carry it.
 */

/** A message as clients see it. */
export const WireMessage = Type.Object(
  {
    id: Id,
    conversationId: ConversationId,
    seq: Type.Integer({ minimum: 1, description: 'per-conversation message number' }),
    senderId: UserId,
    sender: Actor,
    type: MessageType,
    content: Type.Optional(Type.String()),
    media: Type.Optional(Type.Array(Media)),
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
    members: Type.Array(Member),
    createdBy: UserId,
    createdAt: Timestamp,
  },
  { $id: 'WireConversation' },
);
export type WireConversation = Static<typeof WireConversation>;

export const serverPayloads = {
  'connection.success': Type.Object({
    userId: UserId,
    deviceId: Type.String(),
    connectionId: Id,
    cursor: Type.Integer({ minimum: 0, description: 'inbox position this connection starts after' }),
    resumed: Type.Boolean(),
    serverTime: Timestamp,
  }),
  'message.sent': Type.Object({ tempId: TempId, message: WireMessage }),
  'message.new': Type.Object({ message: WireMessage }),
  'conversation.created': Type.Object({ conversation: WireConversation }),
  'conversation.member_joined': Type.Object({
    conversationId: ConversationId,
    members: Type.Array(Member),
    at: Timestamp,
  }),
  'conversation.member_left': Type.Object({ conversationId: ConversationId, userId: UserId, at: Timestamp }),
  'auth.refreshed': Type.Object({ expiresAt: Timestamp }),
  pong: Type.Object({ timestamp: Type.Optional(Type.Number()), serverTime: Timestamp }),
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
    }),
  },
  { $id: 'ErrorFrame' },
);
export type ErrorFrame = Static<typeof ErrorFrame>;

/** Server frames of the shape `{ type, seq?, ref?, payload }`. */
export type ServerFrame = {
  [K in keyof typeof serverPayloads]: { type: K; seq?: number; ref?: string; payload: ServerPayload<K> };
}[keyof typeof serverPayloads];
