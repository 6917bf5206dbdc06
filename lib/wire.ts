import { DEFAULT_JOIN_POLICY, type ConversationCreated, type MessageSent, type WireConversation, type WireMessage } from '../schemas/index.js';

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
