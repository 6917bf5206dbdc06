/**
 * The frames of Parley's WebSocket protocol (docs/protocol.md), as TypeScript types. Written out
 * here rather than imported from the server's schemas (schemas/*.ts) so that the SDK depends on
 * nothing of the server; test/unit/sdk-protocol.test.ts fails to compile if a type here and the
 * server's schema disagree in either direction, and fails if a frame type is missing on one side.
 */

/** ISO 8601 in UTC, e.g. `2026-11-22T03:57:59.923Z`. */
export type Timestamp = string;
export type MessageType = 'text' | 'image' | 'video' | 'audio' | 'file';
export type MessageStatus = 'sent' | 'delivered' | 'read';
export type Role = 'owner' | 'admin' | 'member';
export type JoinPolicy = 'open' | 'invite';
export type ConversationKind = 'direct' | 'group';

export type Media = {
  url: string;
  type?: string;
  thumbnail?: string;
  mimeType?: string;
  name?: string;
  width?: number;
  height?: number;
  size?: number;
  durationMs?: number;
};

export type Actor = { id: string; name?: string; avatar?: string };
export type Member = { userId: string; role: Role };

export type WireMessage = {
  id: string;
  conversationId: string;
  /** The conversation's message number (1, 2, …), not the inbox seq. */
  seq: number;
  senderId: string;
  sender: Actor;
  type: MessageType;
  content?: string;
  media?: Media[];
  replyToId?: string;
  mentions?: string[];
  tempId: string;
  status: 'sent';
  createdAt: Timestamp;
};

export type WireConversation = {
  id: string;
  kind: ConversationKind;
  title?: string;
  avatar?: string;
  joinPolicy?: JoinPolicy;
  members: Member[];
  createdBy: string;
  createdAt: Timestamp;
};

export type WireReaction = { conversationId: string; messageId: string; seq: number; userId: string; emoji: string; at: Timestamp };

export type PresenceStatus = { userId: string; isOnline: boolean; lastSeen: Timestamp | null };

export type ConnectionLimits = {
  framesPerSecond: number;
  frameBurst: number;
  badFramesPerMinute: number;
  maxPayloadBytes: number;
  userSendsPerSecond: number;
  userSendBurst: number;
  userFramesPerSecond: number;
  userFrameBurst: number;
};

/** The payload of every server frame but `error`, by frame type. */
export type ServerPayloads = {
  'connection.success': {
    userId: string;
    deviceId: string;
    connectionId: string;
    cursor: number;
    resumed: boolean;
    serverTime: Timestamp;
    limits: ConnectionLimits;
  };
  'message.sent': { tempId: string; message: WireMessage };
  'message.new': { message: WireMessage };
  'message.edited': { conversationId: string; messageId: string; seq: number; content: string; editedAt: Timestamp; editedBy: string };
  'message.deleted': { conversationId: string; messageId: string; seq: number; deletedAt: Timestamp; deletedBy: string };
  'reaction.added': WireReaction;
  'reaction.removed': WireReaction;
  'conversation.created': { conversation: WireConversation };
  'conversation.updated': {
    conversationId: string;
    title?: string;
    avatar?: string | null;
    joinPolicy?: JoinPolicy;
    roles?: Member[];
    updatedBy: string;
    at: Timestamp;
  };
  'conversation.member_joined': { conversationId: string; members: Member[]; addedBy?: string; conversation?: WireConversation; at: Timestamp };
  'conversation.member_left': { conversationId: string; userId: string; removedBy?: string; at: Timestamp };
  'message.status': {
    conversationId: string;
    fromSeq: number;
    upToSeq: number;
    oldStatus: MessageStatus;
    newStatus: MessageStatus;
    updatedBy: string;
    timestamp: Timestamp;
  };
  'message.read_update': { conversationId: string; readBy: string; upToSeq: number; readAt: Timestamp };
  'message.read_ack': { conversationId: string; upToSeq: number; readAt: Timestamp };
  'unread.update': { conversationId: string; unread: number; totalUnread: number };
  'unread.summary': { conversations: { conversationId: string; unread: number }[]; totalUnread: number };
  'block.added': { userId: string; at?: Timestamp };
  'block.removed': { userId: string; at?: Timestamp };
  'resume.reset': { requestedCursor: number; cursor: number; reason: string };
  'auth.refreshed': { expiresAt: Timestamp };
  'user.online': PresenceStatus;
  'user.offline': PresenceStatus;
  'status.bulk': { users: PresenceStatus[] };
  'presence.unsubscribed': { userIds: string[] };
  pong: { timestamp?: number; serverTime: Timestamp };
  'typing.start': { conversationId: string; userId: string };
  'typing.stop': { conversationId: string; userId: string };
};

export type ServerFrameType = keyof ServerPayloads;

/** A server frame but `error`. `seq` (the inbox position) only on durable frames. */
export type ServerFrame = { [K in ServerFrameType]: { type: K; seq?: number; ref?: string; payload: ServerPayloads[K] } }[ServerFrameType];

export type ErrorBody = { code: string; message: string; temporary?: boolean; tempId?: string; retryAfterMs?: number };
export type ErrorFrame = { type: 'error'; ref?: string; error: ErrorBody };

export type AnyServerFrame = ServerFrame | ErrorFrame;

/** Every server frame type, at run time (the SDK's event names). */
export const serverFrameTypes = [
  'connection.success',
  'message.sent',
  'message.new',
  'message.edited',
  'message.deleted',
  'reaction.added',
  'reaction.removed',
  'conversation.created',
  'conversation.updated',
  'conversation.member_joined',
  'conversation.member_left',
  'message.status',
  'message.read_update',
  'message.read_ack',
  'unread.update',
  'unread.summary',
  'block.added',
  'block.removed',
  'resume.reset',
  'auth.refreshed',
  'user.online',
  'user.offline',
  'status.bulk',
  'presence.unsubscribed',
  'pong',
  'typing.start',
  'typing.stop',
] as const satisfies readonly ServerFrameType[];

type SendTarget = { conversationId: string; toUserId?: never } | { toUserId: string; conversationId?: never };

/** What a message.send carries besides its tempId. */
export type SendContent = {
  type?: MessageType;
  content?: string;
  media?: Media[];
  replyToId?: string;
  mentions?: string[];
};

export type SendPayload = SendTarget & SendContent & { tempId: string };

/** The payload of every client frame, by frame type. */
export type ClientPayloads = {
  authenticate: { token: string };
  'auth.refresh': { token: string };
  'conversation.create': { kind: 'direct'; userId: string } | { kind: 'group'; title: string; members: string[]; joinPolicy?: JoinPolicy };
  'conversation.join': { conversationId: string };
  'conversation.leave': { conversationId: string };
  'conversation.update': { conversationId: string; title?: string; avatar?: string | null; joinPolicy?: JoinPolicy };
  'conversation.add_members': { conversationId: string; userIds: string[] };
  'conversation.remove_member': { conversationId: string; userId: string };
  'conversation.set_role': { conversationId: string; userId: string; role: Role };
  'message.send': { conversationId?: string; toUserId?: string; tempId: string } & SendContent;
  'message.edit': { conversationId: string; messageId: string; content: string; editId?: string };
  'message.delete': { conversationId: string; messageId: string };
  'reaction.add': { conversationId: string; messageId: string; emoji: string };
  'reaction.remove': { conversationId: string; messageId: string; emoji: string };
  'message.delivered': { conversationId: string; upToSeq: number };
  'message.read': { conversationId: string; upToSeq?: number };
  'block.add': { userId: string };
  'block.remove': { userId: string };
  ack: { seq: number };
  ping: { timestamp?: number };
  'typing.start': { conversationId: string };
  'typing.stop': { conversationId: string };
  'presence.subscribe': { userIds: string[] };
  'presence.unsubscribe': { userIds: string[] };
};

export type ClientFrameType = keyof ClientPayloads;
export type ClientFrame = { [K in ClientFrameType]: { type: K; ref?: string; payload: ClientPayloads[K] } }[ClientFrameType];

export const clientFrameTypes = [
  'authenticate',
  'auth.refresh',
  'conversation.create',
  'conversation.join',
  'conversation.leave',
  'conversation.update',
  'conversation.add_members',
  'conversation.remove_member',
  'conversation.set_role',
  'message.send',
  'message.edit',
  'message.delete',
  'reaction.add',
  'reaction.remove',
  'message.delivered',
  'message.read',
  'block.add',
  'block.remove',
  'ack',
  'ping',
  'typing.start',
  'typing.stop',
  'presence.subscribe',
  'presence.unsubscribe',
] as const satisfies readonly ClientFrameType[];

/** The socket's close codes the client acts on (docs/protocol.md, "Close codes"). */
export const closeCodes = {
  /** The token is invalid or expired: reconnecting needs a new token. */
  unauthorized: 4001,
  /** Too many bad frames: this client is sending what the server refuses; reconnecting repeats it. */
  tooManyBadFrames: 4008,
} as const;
