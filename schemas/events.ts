import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Actor, ConversationId, ConversationKind, Id, Media, Member, MessageType, Origin, TempId, Timestamp, UserId, limits } from './common.js';

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
      actor: Actor,
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
  }),
  'A direct or group conversation was created with its first members.',
);

export const MembersAdded = event(
  'MembersAdded',
  Type.Object({ members: Type.Array(Member, { minItems: 1 }) }),
  'Users joined (or were added to) a group conversation.',
);

export const MemberLeft = event('MemberLeft', Type.Object({ userId: UserId }), 'A member left a group conversation.');

export const MessageSent = event(
  'MessageSent',
  Type.Object({
    messageId: Id,
    seq: Type.Integer({ minimum: 1, description: 'per-conversation message number: 1, 2, 3 …' }),
    sender: Actor,
    type: MessageType,
    content: Type.Optional(Type.String({ maxLength: limits.contentMaxLength })),
    media: Type.Optional(Type.Array(Media, { maxItems: limits.mediaMaxItems })),
    replyToId: Type.Optional(Id),
    mentions: Type.Optional(Type.Array(UserId, { maxItems: limits.mentionsMaxItems })),
    tempId: TempId,
  }),
  'A message was appended to a conversation.',
);

export const eventSchemas = { ConversationCreated, MembersAdded, MemberLeft, MessageSent } as const;

export type ConversationCreated = Static<typeof ConversationCreated>;
export type MembersAdded = Static<typeof MembersAdded>;
export type MemberLeft = Static<typeof MemberLeft>;
export type MessageSent = Static<typeof MessageSent>;
export type ConversationEvent = ConversationCreated | MembersAdded | MemberLeft | MessageSent;
export type ConversationEventType = ConversationEvent['type'];
export const ConversationEvent = Type.Union(Object.values(eventSchemas), { $id: 'ConversationEvent', title: 'ConversationEvent' });
