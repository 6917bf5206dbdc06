import { Type, type Static } from '@sinclair/typebox';

/** Ids are single NATS subject tokens: they appear in subjects, so no '.', '*', '>' or spaces. */
export const Id = Type.String({ pattern: '^[A-Za-z0-9_-]{1,128}$', description: 'letters, digits, _ and -, 1–128 chars' });
export const UserId = Type.String({ pattern: '^[A-Za-z0-9_-]{1,128}$', description: "a user id (the JWT's sub)" });
export const ConversationId = Type.String({ pattern: '^[A-Za-z0-9_-]{1,128}$' });
/** The client's id for a send; it travels in a NATS header, so visible ASCII only. */
export const TempId = Type.String({ pattern: '^[\\x21-\\x7e]{1,128}$', description: 'client-chosen, visible ASCII, 1–128 chars' });
export const Ref = Type.String({ maxLength: 64 });
export const Timestamp = Type.String({ format: 'date-time', description: 'ISO 8601, UTC' });

export const MessageType = Type.Union(
  [Type.Literal('text'), Type.Literal('image'), Type.Literal('video'), Type.Literal('audio'), Type.Literal('file')],
  { default: 'text' },
);
export type MessageType = Static<typeof MessageType>;

export const Media = Type.Object({
  url: Type.String({ minLength: 1, maxLength: 2048 }),
  type: Type.Optional(Type.String({ maxLength: 32 })),
  thumbnail: Type.Optional(Type.String({ maxLength: 2048 })),
  mimeType: Type.Optional(Type.String({ maxLength: 128 })),
  name: Type.Optional(Type.String({ maxLength: 256 })),
  width: Type.Optional(Type.Integer({ minimum: 0 })),
  height: Type.Optional(Type.Integer({ minimum: 0 })),
  size: Type.Optional(Type.Integer({ minimum: 0 })),
  durationMs: Type.Optional(Type.Integer({ minimum: 0 })),
});
export type Media = Static<typeof Media>;

/** Who did it: the JWT's sub, with display name and avatar from its claims. */
export const Actor = Type.Object({
  id: UserId,
  name: Type.Optional(Type.String({ maxLength: 256 })),
  avatar: Type.Optional(Type.String({ maxLength: 2048 })),
});
export type Actor = Static<typeof Actor>;

/** Where a command came from, so its outcome can go back to that one connection. */
export const Origin = Type.Object({
  gatewayId: Id,
  connectionId: Id,
  ref: Type.Optional(Ref),
  /**
   * The origin waits for the outcome even when the command is accepted (a REST request). A socket
   * does not: it hears of an accepted command through its inbox, so the engine answers it only
   * with rejections and repeats.
   */
  awaitsAcceptance: Type.Optional(Type.Boolean()),
});
export type Origin = Static<typeof Origin>;

export const Role = Type.Union([Type.Literal('owner'), Type.Literal('member')]);
export type Role = Static<typeof Role>;

export const Member = Type.Object({ userId: UserId, role: Role });
export type Member = Static<typeof Member>;

export const ConversationKind = Type.Union([Type.Literal('direct'), Type.Literal('group')]);
export type ConversationKind = Static<typeof ConversationKind>;

export const limits = {
  contentMaxLength: 16_384,
  mediaMaxItems: 10,
  mentionsMaxItems: 50,
  groupMaxMembers: 1_000,
  titleMaxLength: 256,
} as const;
