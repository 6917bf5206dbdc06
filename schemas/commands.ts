import { Type, type Static, type TProperties, type TSchema } from '@sinclair/typebox';
import { Actor, Avatar, Role, ConversationId, ConversationKind, Emoji, Id, JoinPolicy, Media, MessageType, Origin, TempId, UserId, limits } from './common.js';

/** A command's data: exactly these fields (commands become events, kept for good). */
const Data = <P extends TProperties>(fields: P) => Type.Object(fields, { additionalProperties: false });

/**
 * Commands on the <PREFIX>_CMD_<partition> streams (`<prefix>.cmd.<partition>`), JSON. The gateway fills in the
 * metadata (id, actor, at, origin) so the engine's decider stays pure.
 */
function command<T extends string, D extends TSchema>(type: T, data: D) {
  return Type.Object(
    {
      type: Type.Literal(type),
      id: Type.String({ minLength: 1, maxLength: 300, description: 'command id; Nats-Msg-Id of the command and of its events' }),
      conversationId: ConversationId,
      actor: Actor,
      at: Type.Integer({ description: 'ms since the epoch, stamped by the gateway' }),
      origin: Type.Optional(Origin),
      data,
    },
    { $id: `command.${type}`, title: `command ${type}`, additionalProperties: false },
  );
}

export const CreateConversation = command(
  'conversation.create',
  Data({
    kind: ConversationKind,
    title: Type.Optional(Type.String({ maxLength: limits.titleMaxLength })),
    /** All members, creator included. */
    members: Type.Array(UserId, { minItems: 1, maxItems: limits.groupMaxMembers }),
    /** Groups only; absent: invite. */
    joinPolicy: Type.Optional(JoinPolicy),
  }),
);

export const JoinConversation = command('conversation.join', Data({}));
export const LeaveConversation = command('conversation.leave', Data({}));

/**
 * Running a group (owner or admin; set_role owner only: role owner hands the group over). An update names only what it changes;
 * `avatar: null` removes the picture.
 */
export const UpdateConversation = command(
  'conversation.update',
  Data({
    title: Type.Optional(Type.String({ maxLength: limits.titleMaxLength })),
    avatar: Type.Optional(Type.Union([Avatar, Type.Null()])),
    joinPolicy: Type.Optional(JoinPolicy),
  }),
);
export const AddMembers = command('conversation.add_members', Data({ userIds: Type.Array(UserId, { minItems: 1, maxItems: limits.addMembersMax }) }));
export const RemoveMember = command('conversation.remove_member', Data({ userId: UserId }));
export const SetRole = command('conversation.set_role', Data({ userId: UserId, role: Role }));

export const SendMessage = command(
  'message.send',
  Data({
    messageId: Id,
    tempId: TempId,
    type: MessageType,
    content: Type.Optional(Type.String({ maxLength: limits.contentMaxLength })),
    media: Type.Optional(Type.Array(Media, { maxItems: limits.mediaMaxItems })),
    replyToId: Type.Optional(Id),
    mentions: Type.Optional(Type.Array(UserId, { maxItems: limits.mentionsMaxItems })),
    /** Set when the client addressed a user (toUserId): create the direct conversation if it is new. */
    directWith: Type.Optional(UserId),
  }),
);

/**
 * Edit and delete name the message by its id. An edit's command id comes from the client's
 * `editId` when given (scoped to the user, like a send's tempId), so a retried edit is decided once.
 */
export const EditMessage = command(
  'message.edit',
  Data({ messageId: Id, content: Type.String({ maxLength: limits.contentMaxLength }) }),
);
export const DeleteMessage = command('message.delete', Data({ messageId: Id }));

/** A reaction is one (user, message, emoji): adding it twice or removing it when absent changes nothing. */
export const AddReaction = command('reaction.add', Data({ messageId: Id, emoji: Emoji }));
export const RemoveReaction = command('reaction.remove', Data({ messageId: Id, emoji: Emoji }));

/** Receipts: watermarks that never move backwards; a stale one is a no-op, not an error. */
export const MarkDelivered = command('receipt.delivered', Data({ upToSeq: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) }));
export const MarkRead = command(
  'receipt.read',
  Data({ upToSeq: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'omitted: everything so far' })) }),
);

export const commandSchemas = {
  CreateConversation,
  JoinConversation,
  LeaveConversation,
  UpdateConversation,
  AddMembers,
  RemoveMember,
  SetRole,
  SendMessage,
  EditMessage,
  DeleteMessage,
  AddReaction,
  RemoveReaction,
  MarkDelivered,
  MarkRead,
} as const;

/** Commands on a user's own stream (`<prefix>.ev.user.<userId>`); `userId` is the acting user. */
function userCommand<T extends string, D extends TSchema>(type: T, data: D) {
  return Type.Object(
    {
      type: Type.Literal(type),
      id: Type.String({ minLength: 1, maxLength: 300 }),
      userId: UserId,
      actor: Actor,
      at: Type.Integer(),
      origin: Type.Optional(Origin),
      data,
    },
    { $id: `command.${type}`, title: `command ${type}`, additionalProperties: false },
  );
}

export const BlockUser = userCommand('block.add', Data({ blockedUserId: UserId }));
export const UnblockUser = userCommand('block.remove', Data({ blockedUserId: UserId }));
export const userCommandSchemas = { BlockUser, UnblockUser } as const;
export type BlockUser = Static<typeof BlockUser>;
export type UnblockUser = Static<typeof UnblockUser>;
export type UserCommand = BlockUser | UnblockUser;

export type CreateConversation = Static<typeof CreateConversation>;
export type JoinConversation = Static<typeof JoinConversation>;
export type LeaveConversation = Static<typeof LeaveConversation>;
export type UpdateConversation = Static<typeof UpdateConversation>;
export type AddMembers = Static<typeof AddMembers>;
export type RemoveMember = Static<typeof RemoveMember>;
export type SetRole = Static<typeof SetRole>;
export type SendMessage = Static<typeof SendMessage>;
export type EditMessage = Static<typeof EditMessage>;
export type DeleteMessage = Static<typeof DeleteMessage>;
export type AddReaction = Static<typeof AddReaction>;
export type RemoveReaction = Static<typeof RemoveReaction>;
export type MarkDelivered = Static<typeof MarkDelivered>;
export type MarkRead = Static<typeof MarkRead>;
export type ConversationCommand =
  | CreateConversation
  | JoinConversation
  | LeaveConversation
  | UpdateConversation
  | AddMembers
  | RemoveMember
  | SetRole
  | SendMessage
  | EditMessage
  | DeleteMessage
  | AddReaction
  | RemoveReaction
  | MarkDelivered
  | MarkRead;
export const ConversationCommand = Type.Union(Object.values(commandSchemas), { $id: 'ConversationCommand' });
export type AnyCommand = ConversationCommand | UserCommand;
export const AnyCommand = Type.Union([...Object.values(commandSchemas), ...Object.values(userCommandSchemas)], { $id: 'Command' });

/**
 * What the engine answers to the origin gateway (`<prefix>.reply.<gatewayId>`, core NATS):
 * accepted (with what was appended), duplicate (the original result) or rejected (a stable code).
 */
export const CommandOutcome = Type.Object(
  {
    commandId: Type.String(),
    connectionId: Id,
    ref: Type.Optional(Type.String()),
    commandType: Type.String(),
    /** noop: valid, but nothing changed (a stale receipt, blocking someone already blocked). */
    outcome: Type.Union([Type.Literal('accepted'), Type.Literal('duplicate'), Type.Literal('rejected'), Type.Literal('noop')]),
    conversationId: Type.Optional(ConversationId),
    userId: Type.Optional(UserId),
    tempId: Type.Optional(TempId),
    /** What the command made, as clients see it: the message of a send, the conversation of a create. */
    result: Type.Optional(Type.Unknown()),
    error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
  },
  { $id: 'CommandOutcome' },
);
export type CommandOutcome = Static<typeof CommandOutcome>;
