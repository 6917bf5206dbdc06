// What one pane knows of its user's chats, without any DOM: conversations, their messages (from
// history pages, live frames and the user's own optimistic sends), and how far each conversation's
// receipts have gone. pane.js renders it; window.ParleyDemo exposes it to the browser tests.

/** A direct chat not started yet: its id until the first message.sent names the real one. */
export const draftId = (peer) => `draft:${peer}`;
export const isDraft = (conversationId) => conversationId.startsWith('draft:');

const RANK = { sent: 1, delivered: 2, read: 3 };

export class ChatStore {
  constructor(me) {
    this.me = me;
    /** id → { id, kind, title, members: userId[], lastText, lastAt } */
    this.conversations = new Map();
    /** conversationId → messages: { id?, tempId, seq?, senderId, content, createdAt, state: 'sending' | 'stored' | 'failed' } */
    this.byConversation = new Map();
    /** conversationId → { delivered, read }: the highest conversation seq each receipt has reached. */
    this.receipts = new Map();
    /** conversationId → { hasMore, nextBefore, loaded } for "load older". */
    this.pages = new Map();
  }

  /** A WireConversation or a REST summary (members as { userId, role }). */
  upsertConversation(c) {
    const known = this.conversations.get(c.id);
    const last = c.lastMessage ?? undefined;
    this.conversations.set(c.id, {
      id: c.id,
      kind: c.kind,
      title: c.title,
      members: (c.members ?? []).map((m) => (typeof m === 'string' ? m : m.userId)),
      lastText: last?.content ?? known?.lastText ?? '',
      lastAt: c.lastActivityAt ?? last?.createdAt ?? known?.lastAt ?? c.createdAt ?? '',
    });
  }

  /** The direct peer (the other member), or undefined for a group. */
  peerOf(conversationId) {
    const c = this.conversations.get(conversationId);
    if (!c || c.kind !== 'direct') return undefined;
    return c.members.find((m) => m !== this.me) ?? c.members[0];
  }

  name(conversationId) {
    const c = this.conversations.get(conversationId);
    if (!c) return conversationId;
    return c.kind === 'direct' ? this.peerOf(conversationId) ?? 'direct' : c.title || 'group';
  }

  /** A direct conversation with `peer` already known (to open rather than start a draft). */
  directWith(peer) {
    for (const c of this.conversations.values()) if (c.kind === 'direct' && this.peerOf(c.id) === peer && !isDraft(c.id)) return c.id;
    return undefined;
  }

  openDraft(peer) {
    const id = draftId(peer);
    if (!this.conversations.has(id)) this.conversations.set(id, { id, kind: 'direct', title: undefined, members: [this.me, peer], lastText: '', lastAt: new Date().toISOString() });
    return id;
  }

  /** Newest activity first. */
  list() {
    return [...this.conversations.values()].sort((a, b) => (a.lastAt < b.lastAt ? 1 : a.lastAt > b.lastAt ? -1 : 0));
  }

  #list(conversationId) {
    let list = this.byConversation.get(conversationId);
    if (!list) this.byConversation.set(conversationId, (list = []));
    return list;
  }

  #touch(conversationId, text, at) {
    const c = this.conversations.get(conversationId);
    if (!c) return;
    c.lastText = text ?? '';
    if (at > c.lastAt) c.lastAt = at;
  }

  /** The user's own message, shown at once as "sending". */
  addLocal(conversationId, tempId, content) {
    const at = new Date().toISOString();
    this.#list(conversationId).push({ tempId, senderId: this.me, content, createdAt: at, state: 'sending' });
    this.#touch(conversationId, content, at);
  }

  /**
   * A stored message (message.new, message.sent, a history page): added once, by id, or merged
   * into the optimistic one with its tempId. False when it was already there.
   */
  addStored(message) {
    const list = this.#list(message.conversationId);
    const known = list.find((m) => m.id === message.id || (m.id === undefined && m.senderId === message.senderId && m.tempId === message.tempId));
    if (known?.id === message.id) return false;
    const stored = { id: message.id, tempId: message.tempId, seq: message.seq, senderId: message.senderId, content: message.content ?? `[${message.type}]`, createdAt: message.createdAt, state: 'stored' };
    if (known) Object.assign(known, stored);
    else list.push(stored);
    list.sort(bySeq);
    this.#touch(message.conversationId, stored.content, message.createdAt);
    return true;
  }

  /** The first message.sent of a draft names the real conversation: its messages move there. */
  settleDraft(draft, conversationId) {
    const moved = this.byConversation.get(draft) ?? [];
    this.byConversation.delete(draft);
    const c = this.conversations.get(draft);
    this.conversations.delete(draft);
    if (!this.conversations.has(conversationId) && c) this.conversations.set(conversationId, { ...c, id: conversationId });
    const list = this.#list(conversationId);
    for (const m of moved) if (!list.some((k) => k.tempId === m.tempId && k.senderId === m.senderId)) list.push(m);
    list.sort(bySeq);
  }

  failed(tempId) {
    for (const list of this.byConversation.values()) for (const m of list) if (m.tempId === tempId && m.state === 'sending') m.state = 'failed';
  }

  /** message.status: receipts only move forward, and cover every message up to upToSeq. */
  receipt(conversationId, upToSeq, status) {
    const r = this.receipts.get(conversationId) ?? { delivered: 0, read: 0 };
    if (RANK[status] >= RANK.delivered) r.delivered = Math.max(r.delivered, upToSeq);
    if (status === 'read') r.read = Math.max(r.read, upToSeq);
    this.receipts.set(conversationId, r);
  }

  /** What the user's own message shows: sending, failed, sent, delivered or read; undefined for others' messages. */
  statusOf(conversationId, m) {
    if (m.senderId !== this.me) return undefined;
    if (m.state !== 'stored') return m.state;
    const r = this.receipts.get(conversationId);
    if (r && m.seq <= r.read) return 'read';
    if (r && m.seq <= r.delivered) return 'delivered';
    return 'sent';
  }

  /** The conversation's messages in order, as plain objects (what the tests read). */
  messages(conversationId) {
    return (this.byConversation.get(conversationId) ?? []).map((m) => ({ ...m, status: this.statusOf(conversationId, m) }));
  }
}

/** Stored messages by their conversation seq; sends not stored yet after them, in the order typed. */
function bySeq(a, b) {
  if (a.seq === undefined || b.seq === undefined) return a.seq === undefined ? (b.seq === undefined ? 0 : 1) : -1;
  return a.seq - b.seq;
}
