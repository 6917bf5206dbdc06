import {
  DEFAULT_JOIN_POLICY,
  type ConversationCreated,
  type MessageDeleted,
  type MessageEdited,
  type MessageSent,
  type ReactionAdded,
  type ReactionRemoved,
  type ServerPayload,
  type WireConversation,
  type WireMessage,
} from '../schemas/index.js';

/** How events look to clients. The delivery projector and the engine's duplicate answers share it. */
export function toWireMessage(event: MessageSent): WireMessage {
  const d = event.data;
  return {
    id: d.messageId,
    conversationId: event.conversationId,
    seq: d.seq,
    senderId: d.sender.id,
    sender: d.sender,
    type: d.type,
    ...(d.content !== undefined ? { content: d.content } : {}),
    ...(d.media ? { media: d.media } : {}),
    ...(d.replyToId ? { replyToId: d.replyToId } : {}),
    ...(d.mentions ? { mentions: d.mentions } : {}),
    tempId: d.tempId,
    status: 'sent',
    createdAt: event.at,
  };
}

export function toWireConversation(event: ConversationCreated): WireConversation {
  return {
    id: event.conversationId,
    kind: event.data.kind,
    ...(event.data.title !== undefined ? { title: event.data.title } : {}),
    ...(event.data.kind === 'group' ? { joinPolicy: event.data.joinPolicy ?? DEFAULT_JOIN_POLICY } : {}),
    members: event.data.members,
    createdBy: event.actor.id,
    createdAt: event.at,
  };
}

export function toWireEdited(event: MessageEdited): ServerPayload<'message.edited'> {
  const d = event.data;
  return { conversationId: event.conversationId, messageId: d.messageId, seq: d.seq, content: d.content, editedAt: event.at, editedBy: event.actor.id };
}

export function toWireDeleted(event: MessageDeleted): ServerPayload<'message.deleted'> {
  const d = event.data;
  return { conversationId: event.conversationId, messageId: d.messageId, seq: d.seq, deletedAt: event.at, deletedBy: event.actor.id };
}

export function toWireReaction(event: ReactionAdded | ReactionRemoved): ServerPayload<'reaction.added'> {
  const d = event.data;
  return { conversationId: event.conversationId, messageId: d.messageId, seq: d.seq, userId: event.actor.id, emoji: d.emoji, at: event.at };
}
