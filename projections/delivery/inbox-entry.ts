import type { ConversationEvent, InboxEntry, MessageStatus, UserEvent } from '../../schemas/index.js';
import { sendersBetween, type ConversationState } from '../../lib/conversation-state.js';
import { toWireConversation, toWireConversationNow, toWireDeleted, toWireEdited, toWireJoined, toWireLeft, toWireMessage, toWireReaction, toWireUpdated } from '../../lib/wire.js';

export type Delivery = { recipients: string[]; entry: InboxEntry };

/** What the projector knew just before the event: members, and the acting member's watermarks. */
export type Before = { members: string[]; delivered: number; read: number };

export function beforeOf(state: ConversationState, userId: string | undefined): Before {
  return {
    members: [...state.members.keys()],
    delivered: userId ? (state.delivered.get(userId) ?? 0) : 0,
    read: userId ? (state.read.get(userId) ?? 0) : 0,
  };
}

/** The member a receipt event is about. */
export function subjectUserOf(event: ConversationEvent): string | undefined {
  return event.type === 'MessageDelivered' || event.type === 'MessageRead' ? event.data.userId : undefined;
}

/**
 * Who sees a conversation event, given what was known before it and the state after it. Pure.
 * A leaver (or a removed member) gets their own `member_left` (their other devices learn of it); receipts go to the
 * senders of the messages they cover (never to the reader for their own messages), and a read
 * is confirmed to the reader's devices.
 */
export function deliveriesFor(event: ConversationEvent, eventSeq: number, before: Before, after: ConversationState): Delivery[] {
  const origin = event.origin ? { origin: event.origin } : {};
  const members = () => [...after.members.keys()];
  switch (event.type) {
    case 'ConversationCreated':
      return [{ recipients: members(), entry: { type: 'conversation.created', payload: { conversation: toWireConversation(event) }, eventSeq, ...origin } }];
    // The members before hear who came; the new ones also get the group as it is now, which
    // nothing else tells them (they were not there for its conversation.created or updates).
    case 'MembersAdded': {
      const joined = toWireJoined(event);
      const newcomers = new Set(event.data.members.map((m) => m.userId).filter((u) => after.members.has(u)));
      const existing = before.members.filter((u) => !newcomers.has(u));
      const deliveries: Delivery[] = [];
      if (newcomers.size > 0) {
        const payload = { ...joined, conversation: toWireConversationNow(after) };
        deliveries.push({ recipients: [...newcomers], entry: { type: 'conversation.member_joined', payload, eventSeq, ...origin } });
      }
      if (existing.length > 0) deliveries.push({ recipients: existing, entry: { type: 'conversation.member_joined', payload: joined, eventSeq, ...origin } });
      return deliveries;
    }
    // The one who left or was removed is told too: the last thing they get from the conversation.
    case 'MemberLeft':
    case 'MemberRemoved':
      return [{ recipients: before.members, entry: { type: 'conversation.member_left', payload: toWireLeft(event), eventSeq, ...origin } }];
    case 'ConversationUpdated':
    case 'MemberRoleChanged':
      return [{ recipients: members(), entry: { type: 'conversation.updated', payload: toWireUpdated(event), eventSeq, ...origin } }];
    case 'MessageSent':
      return [{ recipients: members(), entry: { type: 'message.new', payload: { message: toWireMessage(event) }, eventSeq, ...origin } }];
    case 'MessageEdited':
      return [{ recipients: members(), entry: { type: 'message.edited', payload: toWireEdited(event), eventSeq, ...origin } }];
    case 'MessageDeleted':
      return [{ recipients: members(), entry: { type: 'message.deleted', payload: toWireDeleted(event), eventSeq, ...origin } }];
    case 'ReactionAdded':
      return [{ recipients: members(), entry: { type: 'reaction.added', payload: toWireReaction(event), eventSeq, ...origin } }];
    case 'ReactionRemoved':
      return [{ recipients: members(), entry: { type: 'reaction.removed', payload: toWireReaction(event), eventSeq, ...origin } }];
    case 'MessageDelivered':
      return statusChanges(event, eventSeq, after, [[before.delivered, event.data.upToSeq, 'sent']], 'delivered');
    case 'MessageRead': {
      const { userId, upToSeq } = event.data;
      // Messages already delivered go delivered → read; the rest go straight from sent.
      const deliveredTo = Math.min(Math.max(before.delivered, before.read), upToSeq);
      const ranges: [number, number, MessageStatus][] = [
        [before.read, deliveredTo, 'delivered'],
        [Math.max(before.read, deliveredTo), upToSeq, 'sent'],
      ];
      const deliveries = statusChanges(event, eventSeq, after, ranges, 'read');
      const senders = [...sendersBetween(after, before.read, upToSeq, userId).keys()].filter((s) => s && after.members.has(s));
      if (senders.length > 0) {
        deliveries.push({
          recipients: senders,
          entry: { type: 'message.read_update', payload: { conversationId: event.conversationId, readBy: userId, upToSeq, readAt: event.at }, eventSeq },
        });
      }
      deliveries.push({
        recipients: [userId],
        entry: { type: 'message.read_ack', payload: { conversationId: event.conversationId, upToSeq, readAt: event.at }, eventSeq, ...origin },
      });
      return deliveries;
    }
    default: {
      const exhaustive: never = event;
      throw new Error(`no delivery for ${(exhaustive as { type: string }).type}`);
    }
  }
}

/** `message.status` to the senders of the messages in each range (after, upTo], per old status. */
function statusChanges(
  event: Extract<ConversationEvent, { type: 'MessageDelivered' | 'MessageRead' }>,
  eventSeq: number,
  after: ConversationState,
  ranges: [number, number, MessageStatus][],
  newStatus: MessageStatus,
): Delivery[] {
  const out: Delivery[] = [];
  for (const [from, upTo, oldStatus] of ranges) {
    if (upTo <= from) continue;
    const senders = [...sendersBetween(after, from, upTo, event.data.userId).keys()].filter((s) => s && after.members.has(s));
    if (senders.length === 0) continue;
    out.push({
      recipients: senders,
      entry: {
        type: 'message.status',
        payload: {
          conversationId: event.conversationId,
          fromSeq: from + 1,
          upToSeq: upTo,
          oldStatus,
          newStatus,
          updatedBy: event.data.userId,
          timestamp: event.at,
        },
        eventSeq,
      },
    });
  }
  return out;
}

/** A block is news to the blocker's own devices only: the blocked user is not told. */
export function userDeliveriesFor(event: UserEvent, eventSeq: number): Delivery[] {
  const type = event.type === 'UserBlocked' ? 'block.added' : 'block.removed';
  const origin = event.origin ? { origin: event.origin } : {};
  return [{ recipients: [event.userId], entry: { type, payload: { userId: event.data.blockedUserId, at: event.at }, eventSeq, ...origin } }];
}

/** Members whose unread count for the conversation an event may have changed. */
export function unreadAffected(event: ConversationEvent, before: Before): string[] {
  switch (event.type) {
    case 'MessageSent':
      return before.members.filter((m) => m !== event.data.sender.id);
    case 'MessageRead':
      return [event.data.userId];
    // Those who had it unread lose one; recounting the others changes nothing, so no filter here.
    case 'MessageDeleted':
      return before.members.filter((m) => m !== event.data.sender);
    case 'MembersAdded':
      return event.data.members.map((m) => m.userId);
    case 'MemberLeft':
    case 'MemberRemoved':
      return [event.data.userId];
    default:
      return [];
  }
}
