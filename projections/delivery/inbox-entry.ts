import type { ConversationEvent, Origin, ServerPayload } from '../../schemas/index.js';
import { toWireConversation, toWireMessage } from '../../lib/wire.js';

/**
 * What the delivery projector writes to a user's inbox for one event: the frame clients get, minus
 * its `seq` (the inbox stream sequence is the seq). The same bytes go to every recipient, so the
 * entry is encoded once per event. `origin` lets the gateway turn the sender's own copy into
 * `message.sent` on the connection that sent it.
 */
export type InboxEntry =
  | { type: 'message.new'; payload: ServerPayload<'message.new'>; origin?: Origin; eventSeq: number }
  | { type: 'conversation.created'; payload: ServerPayload<'conversation.created'>; origin?: Origin; eventSeq: number }
  | { type: 'conversation.member_joined'; payload: ServerPayload<'conversation.member_joined'>; origin?: Origin; eventSeq: number }
  | { type: 'conversation.member_left'; payload: ServerPayload<'conversation.member_left'>; origin?: Origin; eventSeq: number };

export type Delivery = { recipients: string[]; entry: InboxEntry };

/**
 * Who sees an event, given the members just before and just after it. Pure.
 * A leaver gets their own `member_left` (their other devices learn of it); a joiner gets
 * `member_joined` like everyone else.
 */
export function deliveryFor(event: ConversationEvent, eventSeq: number, before: Iterable<string>, after: Iterable<string>): Delivery {
  const origin = event.origin ? { origin: event.origin } : {};
  switch (event.type) {
    case 'ConversationCreated':
      return {
        recipients: [...after],
        entry: { type: 'conversation.created', payload: { conversation: toWireConversation(event) }, eventSeq, ...origin },
      };
    case 'MembersAdded':
      return {
        recipients: [...after],
        entry: {
          type: 'conversation.member_joined',
          payload: { conversationId: event.conversationId, members: event.data.members, at: event.at },
          eventSeq,
          ...origin,
        },
      };
    case 'MemberLeft':
      return {
        recipients: [...before],
        entry: {
          type: 'conversation.member_left',
          payload: { conversationId: event.conversationId, userId: event.data.userId, at: event.at },
          eventSeq,
          ...origin,
        },
      };
    case 'MessageSent':
      return { recipients: [...after], entry: { type: 'message.new', payload: { message: toWireMessage(event) }, eventSeq, ...origin } };
    default: {
      const exhaustive: never = event;
      throw new Error(`no delivery for ${(exhaustive as { type: string }).type}`);
    }
  }
}
