import { Type, type Static, type TProperties, type TSchema } from '@sinclair/typebox';
import { Avatar, Role, ConversationId, Count, Emoji, Id, JoinPolicy, Media, MessageType, Ref, TempId, UserId, limits } from './common.js';

/**
 * Client → server frames: `{ type, ref?, payload }`. A text frame is JSON, a binary frame msgpack.
 * A payload holds its frame's fields and no others: an unknown, missing or mistyped field is a
 * `validation_error` naming it (what a client sends may be stored in the log for good, so nothing
 * unchecked gets in). The envelope itself is not stored: other fields there are ignored.
 */
export const ClientEnvelope = Type.Object(
  {
    type: Type.String({ minLength: 1, maxLength: 64 }),
    ref: Type.Optional(Ref),
    payload: Type.Optional(Type.Unknown()),
  },
  { $id: 'ClientEnvelope', title: 'client frame envelope' },
);
export type ClientEnvelope = Static<typeof ClientEnvelope>;

const Token = Type.String({ minLength: 1, maxLength: 8192 });

/** A payload object: exactly these fields. */
const Payload = <P extends TProperties>(fields: P) => Type.Object(fields, { additionalProperties: false });

export const clientPayloads = {
  authenticate: Payload({ token: Token }),
  'auth.refresh': Payload({ token: Token }),
  'conversation.create': Type.Union([
    Payload({ kind: Type.Literal('direct'), userId: UserId }),
    Payload({
      kind: Type.Literal('group'),
      title: Type.String({ minLength: 1, maxLength: limits.titleMaxLength }),
      members: Type.Array(UserId, { maxItems: limits.groupMaxMembers - 1 }),
      joinPolicy: Type.Optional(JoinPolicy),
    }),
  ]),
  'conversation.join': Payload({ conversationId: ConversationId }),
  'conversation.leave': Payload({ conversationId: ConversationId }),
  /** Groups only, owner or admin: the fields to change (at least one); avatar null removes it. */
  'conversation.update': Payload({
    conversationId: ConversationId,
    title: Type.Optional(Type.String({ minLength: 1, maxLength: limits.titleMaxLength })),
    avatar: Type.Optional(Type.Union([Avatar, Type.Null()])),
    joinPolicy: Type.Optional(JoinPolicy),
  }),
  'conversation.add_members': Payload({
    conversationId: ConversationId,
    userIds: Type.Array(UserId, { minItems: 1, maxItems: limits.addMembersMax }),
  }),
  'conversation.remove_member': Payload({ conversationId: ConversationId, userId: UserId }),
  'conversation.set_role': Payload({ conversationId: ConversationId, userId: UserId, role: Role }),
  'message.send': Payload({
    conversationId: Type.Optional(ConversationId),
    toUserId: Type.Optional(UserId),
    tempId: TempId,
    type: Type.Optional(MessageType),
    content: Type.Optional(Type.String({ maxLength: limits.contentMaxLength })),
    media: Type.Optional(Type.Array(Media, { maxItems: limits.mediaMaxItems })),
    replyToId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,128}$' })),
    mentions: Type.Optional(Type.Array(UserId, { maxItems: limits.mentionsMaxItems })),
  }),
  /** editId: the client's id for this edit (like a send's tempId): a retry with it is decided once. */
  'message.edit': Payload({
    conversationId: ConversationId,
    messageId: Id,
    content: Type.String({ minLength: 1, maxLength: limits.contentMaxLength }),
    editId: Type.Optional(TempId),
  }),
  'message.delete': Payload({ conversationId: ConversationId, messageId: Id }),
  'reaction.add': Payload({ conversationId: ConversationId, messageId: Id, emoji: Emoji }),
  'reaction.remove': Payload({ conversationId: ConversationId, messageId: Id, emoji: Emoji }),
  'message.delivered': Payload({ conversationId: ConversationId, upToSeq: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) }),
  'message.read': Payload({ conversationId: ConversationId, upToSeq: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })) }),
  'block.add': Payload({ userId: UserId }),
  'block.remove': Payload({ userId: UserId }),
  ack: Payload({ seq: Count }),
  ping: Payload({ timestamp: Type.Optional(Type.Number()) }),
  /** Ephemeral (gateway/typing.ts): relayed to the other members, never stored. */
  'typing.start': Payload({ conversationId: ConversationId }),
  'typing.stop': Payload({ conversationId: ConversationId }),
  /**
   * Ephemeral (gateway/presence-subscriptions.ts): user.online / user.offline of these users too,
   * while connected. Answered with `status.bulk` (ref) / `presence.unsubscribed` (ref).
   */
  'presence.subscribe': Payload({ userIds: Type.Array(UserId, { minItems: 1, maxItems: limits.presenceSubscriptionsMax }) }),
  'presence.unsubscribe': Payload({ userIds: Type.Array(UserId, { minItems: 1, maxItems: limits.presenceSubscriptionsMax }) }),
} satisfies Record<string, TSchema>;

export type ClientFrameType = keyof typeof clientPayloads;
export type ClientPayload<T extends ClientFrameType> = Static<(typeof clientPayloads)[T]>;

/** In the protocol, but not served yet: answered with unknown_type without counting as a bad frame. */
export const plannedClientFrames = new Set<string>([]);

export function isClientFrameType(type: string): type is ClientFrameType {
  return Object.hasOwn(clientPayloads, type);
}
