import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { ConversationId, Media, MessageType, Ref, TempId, UserId, limits } from './common.js';

/**
 * Client → server frames: `{ type, ref?, payload }`. A text frame is JSON, a binary frame msgpack.
 * Unknown payload fields are ignored (newer clients, older servers); missing or mistyped ones are a
 * `validation_error`.
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

export const clientPayloads = {
  authenticate: Type.Object({ token: Token }),
  'auth.refresh': Type.Object({ token: Token }),
  'conversation.create': Type.Union([
    Type.Object({ kind: Type.Literal('direct'), userId: UserId }),
    Type.Object({
      kind: Type.Literal('group'),
      title: Type.String({ minLength: 1, maxLength: limits.titleMaxLength }),
      members: Type.Array(UserId, { maxItems: limits.groupMaxMembers - 1 }),
    }),
  ]),
  'conversation.join': Type.Object({ conversationId: ConversationId }),
  'conversation.leave': Type.Object({ conversationId: ConversationId }),
  'message.send': Type.Object({
    conversationId: Type.Optional(ConversationId),
    toUserId: Type.Optional(UserId),
    tempId: TempId,
    type: Type.Optional(MessageType),
    content: Type.Optional(Type.String({ maxLength: limits.contentMaxLength })),
    media: Type.Optional(Type.Array(Media, { maxItems: limits.mediaMaxItems })),
    replyToId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,128}$' })),
    mentions: Type.Optional(Type.Array(UserId, { maxItems: limits.mentionsMaxItems })),
  }),
  'message.delivered': Type.Object({ conversationId: ConversationId, upToSeq: Type.Integer({ minimum: 1 }) }),
  'message.read': Type.Object({ conversationId: ConversationId, upToSeq: Type.Optional(Type.Integer({ minimum: 1 })) }),
  'block.add': Type.Object({ userId: UserId }),
  'block.remove': Type.Object({ userId: UserId }),
  ack: Type.Object({ seq: Type.Integer({ minimum: 0 }) }),
  ping: Type.Object({ timestamp: Type.Optional(Type.Number()) }),
} satisfies Record<string, TSchema>;

export type ClientFrameType = keyof typeof clientPayloads;
export type ClientPayload<T extends ClientFrameType> = Static<(typeof clientPayloads)[T]>;

/** In the protocol, but not served yet: answered with unknown_type without counting as a bad frame. */
export const plannedClientFrames = new Set([
  'message.edit',
  'message.delete',
  'reaction.add',
  'reaction.remove',
  'typing.start',
  'typing.stop',
]);

export function isClientFrameType(type: string): type is ClientFrameType {
  return Object.hasOwn(clientPayloads, type);
}
