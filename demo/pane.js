// One user's side of the demo: its own ParleyClient (its token from POST /demo/token, its inbox
// cursor in localStorage under parley.cursor.<userId>) and the pane that shows what it does.
import { newTempId, ParleyClient, StorageCursorStore, tokenExpiry } from './parley-client.js';
import { ChatStore, isDraft } from './chat-store.js';
import { clear, el } from './dom.js';

const TICKS = { sending: '… sending', sent: '✓ sent', delivered: '✓✓ delivered', read: '✓✓ read', failed: '✕ failed' };
const LOG_LINES = 4;

export class Pane {
  constructor(userId, root) {
    this.userId = userId;
    this.root = root;
    this.store = new ChatStore(userId);
    /** Message ids in the order message.new brought them: the tests check nothing comes twice. */
    this.received = [];
    /** Every connection event logged, oldest first (the pane shows the last few). */
    this.events = [];
    this.openId = undefined;
    this.q = (selector) => root.querySelector(selector);
    this.client = new ParleyClient({
      url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`,
      token: cachedDevToken(userId),
      cursorStore: new StorageCursorStore(localStorage, `parley.cursor.${userId}`),
      reconnect: { firstMs: 250, maxMs: 3_000 },
    });
    this.#listen();
    this.#bindForms();
    this.q('.pane-user').textContent = userId;
    root.dataset.user = userId;
    this.#renderState();
  }

  /** Connect and load the conversation list; resolves once both are done. */
  async start() {
    await this.client.connect();
    await this.reloadConversations();
  }

  messages(conversationId) {
    return this.store.messages(conversationId);
  }

  conversations() {
    return this.store.list().map((c) => ({ ...c, unread: this.client.unread.of(c.id) }));
  }

  async reloadConversations() {
    const list = await this.client.rest.conversations();
    for (const c of list) this.store.upsertConversation(c);
    this.#subscribePresence(list.filter((c) => c.kind === 'direct').map((c) => this.store.peerOf(c.id)));
    this.#renderList();
  }

  /** Show a conversation: its latest history page first, then mark it read. */
  async open(conversationId) {
    this.openId = conversationId;
    this.#render();
    if (!isDraft(conversationId) && !this.store.pages.get(conversationId)) await this.loadOlder(conversationId);
    this.#markReadIfOpen();
    this.q('.composer input').focus();
  }

  /** The next older history page (the first call: the latest page). */
  async loadOlder(conversationId) {
    const page = this.store.pages.get(conversationId);
    const before = page?.nextBefore;
    const got = await this.client.rest.history(conversationId, { ...(before !== undefined ? { before } : {}), limit: 30 });
    for (const m of got.messages) this.store.addStored(m);
    this.store.pages.set(conversationId, { hasMore: got.hasMore, nextBefore: got.nextBefore });
    if (this.openId === conversationId) this.#renderChat({ keepScroll: page !== undefined });
  }

  log(text) {
    const at = new Date().toLocaleTimeString();
    this.events.push(text);
    const list = this.q('.log');
    list.append(el('li', '', `${at} ${text}`));
    while (list.children.length > LOG_LINES) list.firstChild.remove();
  }

  #listen() {
    const c = this.client;
    c.on('state', () => this.#renderState());
    c.on('connection.success', (p) => {
      this.log(p.resumed ? `resumed from inbox seq ${p.cursor}` : `connected (inbox seq ${p.cursor})`);
      // Presence subscriptions belong to a connection: ask again on each one.
      this.#subscribePresence([...this.store.conversations.keys()].map((id) => this.store.peerOf(id)));
    });
    c.on('disconnected', ({ code, reason }) => this.log(`disconnected: code ${code}${reason ? ` (${reason})` : ''}`));
    c.on('resync', (info) => {
      this.log(`could not resume (${info.reason}): reloading`);
      this.store.pages.clear();
      this.reloadConversations().catch((err) => this.log(`reload failed: ${err.code ?? err.message}`));
      if (this.openId && !isDraft(this.openId)) this.loadOlder(this.openId).catch(() => undefined);
    });
    c.on('conversation.created', ({ conversation }) => {
      // Its every message follows this frame in the inbox: no history to fetch (and the read side,
      // which REST reads, may not have stored the conversation yet).
      if (!this.store.pages.has(conversation.id)) this.store.pages.set(conversation.id, { hasMore: false });
      this.#addConversation(conversation);
    });
    c.on('conversation.member_joined', ({ conversation }) => conversation && this.#addConversation(conversation));
    c.on('message.new', ({ message }) => {
      this.received.push(message.id);
      if (!this.store.conversations.has(message.conversationId)) this.reloadConversations().catch(() => undefined);
      this.store.addStored(message);
      if (message.conversationId === this.openId && message.senderId !== this.userId) this.client.markRead(message.conversationId, message.seq);
      this.#render();
    });
    c.on('message.sent', ({ tempId, message }) => {
      // The first message of a new direct chat names its conversation: the draft becomes it.
      const draft = [...this.store.byConversation.entries()].find(([id, list]) => isDraft(id) && list.some((m) => m.tempId === tempId))?.[0];
      if (draft) {
        this.store.settleDraft(draft, message.conversationId);
        if (this.openId === draft) this.openId = message.conversationId;
      }
      this.store.addStored(message);
      this.#render();
    });
    c.on('message.status', (p) => {
      this.store.receipt(p.conversationId, p.upToSeq, p.newStatus);
      if (p.conversationId === this.openId) this.#renderChat();
    });
    c.on('send_failed', (err, payload) => {
      this.store.failed(payload.tempId);
      this.log(`send failed: ${err.code}`);
      this.#render();
    });
    c.on('unread', () => {
      this.#markReadIfOpen();
      this.#renderList();
    });
    c.on('typing', (conversationId) => conversationId === this.openId && this.#renderTyping());
    c.on('presence', () => this.#render());
  }

  #bindForms() {
    const composer = this.q('.composer');
    const input = composer.elements.text;
    composer.addEventListener('submit', (e) => {
      e.preventDefault();
      const text = input.value.trim();
      if (!text || !this.openId) return;
      input.value = '';
      this.send(this.openId, text);
    });
    input.addEventListener('input', () => {
      if (this.openId && !isDraft(this.openId) && input.value) this.client.typing(this.openId);
    });

    const direct = this.q('.new-direct');
    direct.addEventListener('submit', (e) => {
      e.preventDefault();
      const peer = direct.elements.peer.value.trim();
      if (!peer || peer === this.userId) return;
      direct.reset();
      this.#subscribePresence([peer]);
      this.open(this.store.directWith(peer) ?? this.store.openDraft(peer)).catch((err) => this.log(`open failed: ${err.code ?? err.message}`));
    });

    const group = this.q('.new-group');
    group.addEventListener('submit', (e) => {
      e.preventDefault();
      const title = group.elements.title.value.trim();
      const members = [...new Set(group.elements.members.value.split(/[\s,]+/).filter((m) => m && m !== this.userId))];
      if (!title || members.length === 0) return;
      group.reset();
      this.client.rest
        .createConversation({ kind: 'group', title, members })
        .then((conversation) => {
          // Nothing to page through yet (and the read side may not have stored it this instant).
          this.store.pages.set(conversation.id, { hasMore: false });
          this.#addConversation(conversation);
          return this.open(conversation.id);
        })
        .catch((err) => this.log(`group not created: ${err.code ?? err.message}`));
    });

    this.q('.drop').addEventListener('click', () => {
      this.log('dropping the connection');
      this.client.dropConnection();
    });
    this.q('.older').addEventListener('click', () => {
      if (this.openId) this.loadOlder(this.openId).catch((err) => this.log(`history failed: ${err.code ?? err.message}`));
    });
    this.q('.conversations').addEventListener('click', (e) => {
      const item = e.target.closest('[data-conversation-id]');
      if (item) this.open(item.dataset.conversationId).catch((err) => this.log(`open failed: ${err.code ?? err.message}`));
    });
  }

  /** Shown at once as "sending"; message.sent (the event) turns it into the stored message. */
  send(conversationId, text) {
    const tempId = newTempId();
    this.store.addLocal(conversationId, tempId, text);
    const target = isDraft(conversationId) ? { toUserId: this.store.peerOf(conversationId) } : { conversationId };
    if (!isDraft(conversationId)) this.client.stopTyping(conversationId);
    this.#render();
    // A rejection is also the send_failed event, which marks it failed.
    return this.client.send(target, text, { tempId }).catch(() => undefined);
  }

  #addConversation(conversation) {
    this.store.upsertConversation(conversation);
    if (conversation.kind === 'direct') this.#subscribePresence([this.store.peerOf(conversation.id)]);
    this.#renderList();
  }

  #markReadIfOpen() {
    const id = this.openId;
    if (id && !isDraft(id) && this.client.unread.of(id) > 0) this.client.markRead(id);
  }

  #subscribePresence(userIds) {
    const ids = [...new Set(userIds.filter((u) => u && u !== this.userId))];
    if (ids.length === 0 || this.client.state !== 'open') return;
    this.client.subscribePresence(ids).then(() => this.#render(), () => undefined);
  }

  #render() {
    this.#renderList();
    this.#renderChat();
  }

  #renderState() {
    const state = this.client.state;
    const badge = this.q('.state');
    badge.textContent = state;
    badge.className = `badge state state-${state}`;
    this.root.dataset.state = state;
  }

  #presenceDot(userId) {
    const status = userId ? this.client.presence.get(userId) : undefined;
    const dot = el('span', `presence ${status ? (status.isOnline ? 'online' : 'offline') : 'unknown'}`);
    dot.title = status ? (status.isOnline ? `${userId} is online` : `${userId} is offline`) : '';
    return dot;
  }

  #renderList() {
    const list = this.q('.conversations');
    clear(list);
    for (const c of this.store.list()) {
      const item = el('li', c.id === this.openId ? 'conversation open' : 'conversation');
      item.dataset.conversationId = c.id;
      const top = el('div', 'conversation-top');
      if (c.kind === 'direct') top.append(this.#presenceDot(this.store.peerOf(c.id)));
      top.append(el('span', 'conversation-name', this.store.name(c.id)));
      const unread = this.client.unread.of(c.id);
      if (unread > 0) top.append(el('span', 'badge unread', unread));
      item.append(top, el('div', 'conversation-last', c.lastText));
      list.append(item);
    }
    const total = this.q('.total-unread');
    total.textContent = this.client.unread.total > 0 ? `${this.client.unread.total} unread` : '';
    total.hidden = this.client.unread.total === 0;
  }

  #renderChat({ keepScroll = false } = {}) {
    const id = this.openId;
    const list = this.q('.messages');
    const fromBottom = list.scrollHeight - list.scrollTop;
    clear(list);
    this.q('.composer input').disabled = !id;
    const head = this.q('.chat-head');
    clear(head);
    if (!id) {
      head.append(el('span', 'chat-title', 'No conversation open'));
      return;
    }
    const conversation = this.store.conversations.get(id);
    if (conversation?.kind === 'direct') head.append(this.#presenceDot(this.store.peerOf(id)));
    head.append(el('span', 'chat-title', this.store.name(id)));
    this.q('.older').hidden = !this.store.pages.get(id)?.hasMore;
    for (const m of this.store.messages(id)) {
      const mine = m.senderId === this.userId;
      const item = el('li', mine ? 'message mine' : 'message theirs');
      if (m.id) item.dataset.id = m.id;
      item.dataset.tempId = m.tempId;
      if (!mine && conversation?.kind === 'group') item.append(el('span', 'sender', m.senderId));
      item.append(el('span', 'text', m.content));
      if (m.status) {
        const status = el('span', `status status-${m.status}`, TICKS[m.status]);
        item.dataset.status = m.status;
        item.append(status);
      }
      list.append(item);
    }
    list.scrollTop = keepScroll ? list.scrollHeight - fromBottom : list.scrollHeight;
    this.#renderTyping();
  }

  #renderTyping() {
    const typists = this.openId ? this.client.typingState.in(this.openId).filter((u) => u !== this.userId) : [];
    this.q('.typing').textContent = typists.length ? `${typists.join(', ')} ${typists.length > 1 ? 'are' : 'is'} typing…` : '';
  }
}

/** POST /demo/token; the server mints tokens only in development mode. */
async function devToken(userId) {
  const res = await fetch('/demo/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok || typeof body.token !== 'string') throw new Error(body.error?.message ?? `no token for ${userId} (HTTP ${res.status})`);
  return body.token;
}

/** A token source that asks the server again only when the token it has is near its end. */
function cachedDevToken(userId) {
  let token;
  let renewAt = 0;
  return async () => {
    if (!token || Date.now() >= renewAt) {
      token = await devToken(userId);
      renewAt = (tokenExpiry(token) ?? Date.now() + 600_000) - 300_000;
    }
    return token;
  };
}
