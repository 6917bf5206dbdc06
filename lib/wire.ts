import {
  DEFAULT_JOIN_POLICY,
  type ConversationCreated,
  type ConversationUpdated,
  type MemberLeft,
  type MemberRemoved,
  type MemberRoleChanged,
  type MembersAdded,
  type MessageDeleted,
  type MessageEdited,
  type MessageSent,
  type ReactionAdded,
  type ReactionRemoved,
  type ServerPayload,
  type WireConversation,
  type WireMessage,
} from '../schemas/index.js';
import type { ConversationState } from './conversation-state.js';

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

/** A conversation as it is now, from its folded state: what a new member is shown of it. */
export function toWireConversationNow(state: ConversationState): WireConversation {
  return {
    id: state.id,
    kind: state.kind,
    ...(state.title !== undefined ? { title: state.title } : {}),
    ...(state.avatar !== undefined ? { avatar: state.avatar } : {}),
    ...(state.kind === 'group' ? { joinPolicy: state.joinPolicy ?? DEFAULT_JOIN_POLICY } : {}),
    members: [...state.members].map(([userId, role]) => ({ userId, role })),
    createdBy: state.createdBy,
    createdAt: state.createdAt,
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

/** conversation.updated: the settings that changed, or the member whose role did. */
export function toWireUpdated(event: ConversationUpdated | MemberRoleChanged): ServerPayload<'conversation.updated'> {
  return { conversationId: event.conversationId, ...changesOf(event), updatedBy: event.actor.id, at: event.at };
}

function changesOf(event: ConversationUpdated | MemberRoleChanged) {
  if (event.type === 'ConversationUpdated') {
    // Only what the event holds: `avatar: null` (removed) is a change too.
    const { title, avatar, joinPolicy } = event.data;
    return { ...(title !== undefined ? { title } : {}), ...(avatar !== undefined ? { avatar } : {}), ...(joinPolicy !== undefined ? { joinPolicy } : {}) };
  }
  const { userId, role, previousOwner } = event.data;
  // A handover changes two roles: the new owner's, and the previous owner's to admin.
  const handover = role === 'owner' && previousOwner !== undefined ? [{ userId: previousOwner, role: 'admin' as const }] : [];
  return { roles: [{ userId, role }, ...handover] };
}

/** conversation.member_joined: `addedBy` when someone else added them (add_members), not for a join. */
export function toWireJoined(event: MembersAdded): ServerPayload<'conversation.member_joined'> {
  const joined = event.data.members.length === 1 && event.data.members[0]!.userId === event.actor.id;
  return { conversationId: event.conversationId, members: event.data.members, ...(joined ? {} : { addedBy: event.actor.id }), at: event.at };
}

/** conversation.member_left: `removedBy` when an owner or admin removed them. */
export function toWireLeft(event: MemberLeft | MemberRemoved): ServerPayload<'conversation.member_left'> {
  return {
    conversationId: event.conversationId,
    userId: event.data.userId,
    ...(event.type === 'MemberRemoved' ? { removedBy: event.actor.id } : {}),
    at: event.at,
  };
}
