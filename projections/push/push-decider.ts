import type { ConversationEvent, StoredPushSubscription } from '../../schemas/index.js';
import type { ConversationState } from '../../lib/conversation-state.js';

/** What the push projector knows of one recipient when a message reaches them. */
export type RecipientFacts = {
  online: boolean;
  /** The recipient blocks the sender (groups: a block does not keep messages out, but no push for them). */
  blocksSender: boolean;
  /** The recipient muted this conversation until after the message. */
  muted: boolean;
  subscriptions: readonly StoredPushSubscription[];
  /** When (event time, ms) this recipient was last pushed for this conversation, if within memory. */
  lastPushedAt?: number;
};

export type PushPayload = {
  type: 'message.new';
  conversationId: string;
  messageId: string;
  seq: number;
  sender: { id: string; name?: string };
  preview?: string;
  /** The recipient's unread messages in this conversation after this one. */
  unread: number;
};

export type RecipientDecision =
  | { userId: string; decision: 'push'; payload: PushPayload; subscriptions: readonly StoredPushSubscription[] }
  | { userId: string; decision: 'skipped_online' | 'skipped_muted' | 'skipped_blocked' }
  /** Would be pushed, but has no Web Push subscription: the app's backend may reach them another way (webhooks). */
  | { userId: string; decision: 'skipped_no_subscription'; payload: PushPayload }
  /** Pushed for this conversation less than coalesceMs ago: folded into that push, not recorded one by one. */
  | { userId: string; decision: 'coalesced' };

export type PushSettings = { previewChars: number; coalesceMs: number };

/**
 * Who gets a push for a new message, and what it says. Pure: the projector gathers the facts
 * (presence, blocks, mutes, subscriptions, when each was last pushed) and does the I/O. The order
 * of the checks is the order of the reasons a user would give: they were there, they muted it,
 * they block the sender, they were told a moment ago; then whether Parley has a browser to push
 * to (without one, the app's backend may still reach a phone: webhooks).
 */
export function decidePushes(
  event: Extract<ConversationEvent, { type: 'MessageSent' }>,
  after: ConversationState,
  facts: (userId: string) => RecipientFacts,
  settings: PushSettings,
): RecipientDecision[] {
  const sender = event.data.sender.id;
  const at = Date.parse(event.at);
  const decisions: RecipientDecision[] = [];
  for (const userId of after.members.keys()) {
    if (userId === sender) continue;
    const f = facts(userId);
    if (f.online) decisions.push({ userId, decision: 'skipped_online' });
    else if (f.muted) decisions.push({ userId, decision: 'skipped_muted' });
    else if (f.blocksSender) decisions.push({ userId, decision: 'skipped_blocked' });
    else if (f.lastPushedAt !== undefined && at - f.lastPushedAt < settings.coalesceMs) decisions.push({ userId, decision: 'coalesced' });
    else if (f.subscriptions.length === 0) decisions.push({ userId, decision: 'skipped_no_subscription', payload: payloadFor(event, after, userId, settings) });
    else decisions.push({ userId, decision: 'push', payload: payloadFor(event, after, userId, settings), subscriptions: f.subscriptions });
  }
  return decisions;
}

function payloadFor(event: Extract<ConversationEvent, { type: 'MessageSent' }>, after: ConversationState, userId: string, settings: PushSettings): PushPayload {
  const { messageId, seq, sender, content, type } = event.data;
  const preview = settings.previewChars > 0 ? previewOf(content, type, settings.previewChars) : undefined;
  return {
    type: 'message.new',
    conversationId: event.conversationId,
    messageId,
    seq,
    sender: { id: sender.id, ...(sender.name !== undefined ? { name: sender.name } : {}) },
    ...(preview !== undefined ? { preview } : {}),
    unread: after.unread.get(userId) ?? 0,
  };
}

/**
 * The start of the text, cut at a code point (never half a surrogate pair) with an ellipsis; a
 * message without text says what it is (`[image]`).
 */
export function previewOf(content: string | undefined, type: string, maxChars: number): string {
  const points = Array.from((content ?? '').replace(/\s+/g, ' ').trim());
  if (points.length === 0) return `[${type}]`;
  return points.length <= maxChars ? points.join('') : `${points.slice(0, maxChars).join('')}…`;
}
