import type { ServerPayloads } from './protocol.js';

/**
 * The user's unread counts as the server last said them: `unread.summary` at every connect (the
 * whole state: conversations not in it have 0), then `unread.update` as counts change. The server
 * computes them; the client never counts messages itself, so a count cannot drift from the
 * server's (the complaint of every hand-written client: badges that disagree across devices).
 */
export class UnreadState {
  #byConversation = new Map<string, number>();
  #total = 0;

  get total(): number {
    return this.#total;
  }

  /** Conversations with at least one unread message. */
  get byConversation(): ReadonlyMap<string, number> {
    return this.#byConversation;
  }

  of(conversationId: string): number {
    return this.#byConversation.get(conversationId) ?? 0;
  }

  summary(payload: ServerPayloads['unread.summary']): void {
    this.#byConversation = new Map(payload.conversations.filter((c) => c.unread > 0).map((c) => [c.conversationId, c.unread]));
    this.#total = payload.totalUnread;
  }

  update(payload: ServerPayloads['unread.update']): void {
    if (payload.unread > 0) this.#byConversation.set(payload.conversationId, payload.unread);
    else this.#byConversation.delete(payload.conversationId);
    this.#total = payload.totalUnread;
  }
}
