import { ParleyError } from './errors.js';
import type { Member, Role, WireConversation, WireMessage } from './protocol.js';

/** The part of `fetch` the REST helper uses (the global one in browsers and Node 18+). */
export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string },
) => Promise<{ status: number; ok: boolean; json(): Promise<unknown> }>;

/** A conversation as GET /v1/conversations lists it: the current state, with your role and unread. */
export type ConversationSummary = WireConversation & {
  role: Role;
  messageCount: number;
  lastMessage: WireMessage | null;
  lastActivityAt: string;
  unread: number;
  readSeq: number;
  deliveredSeq: number;
};

/** A message as history pages hold it: with its reactions. */
export type HistoryMessage = WireMessage & { reactions?: { emoji: string; count: number; me: boolean }[]; editedAt?: string; deletedAt?: string };

export type HistoryPage = { messages: HistoryMessage[]; hasMore: boolean; nextBefore?: number };

/**
 * The REST API (README "REST") for what the socket does not give: the conversation list and history
 * pages (to fill a screen, or to resync after `resume.reset`), and the unread totals. Errors are
 * ParleyErrors with the protocol's codes, as on the socket.
 */
export class RestClient {
  readonly baseUrl: string;
  readonly #token: () => Promise<string>;
  readonly #fetch: FetchLike;

  constructor(baseUrl: string, token: () => Promise<string>, fetchImpl?: FetchLike) {
    const global = (globalThis as { fetch?: FetchLike }).fetch;
    // Bound: a browser's fetch called as another object's method throws "Illegal invocation".
    const f = fetchImpl ?? global?.bind(globalThis);
    if (!f) throw new ParleyError('unavailable', 'no fetch here: pass one in the options (fetch)');
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.#token = token;
    this.#fetch = f;
  }

  /** Your conversations, newest activity first. */
  async conversations(limit = 50): Promise<ConversationSummary[]> {
    const body = await this.request<{ conversations: ConversationSummary[] }>('GET', `/v1/conversations?limit=${limit}`);
    return body.conversations;
  }

  /** A page of history, oldest → newest; follow `nextBefore` while `hasMore`. */
  history(conversationId: string, page: { before?: number; limit?: number } = {}): Promise<HistoryPage> {
    const query = [
      ...(page.before !== undefined ? [`before=${page.before}`] : []),
      ...(page.limit !== undefined ? [`limit=${page.limit}`] : []),
    ].join('&');
    return this.request('GET', `/v1/conversations/${encodeURIComponent(conversationId)}/messages${query ? `?${query}` : ''}`);
  }

  async createConversation(
    payload: { kind: 'direct'; userId: string } | { kind: 'group'; title: string; members: string[]; joinPolicy?: 'open' | 'invite' },
  ): Promise<WireConversation> {
    const body = await this.request<{ conversation: WireConversation }>('POST', '/v1/conversations', payload);
    return body.conversation;
  }

  addMembers(conversationId: string, userIds: string[]): Promise<{ changed: boolean; joined?: { members: Member[] } }> {
    return this.request('POST', `/v1/conversations/${encodeURIComponent(conversationId)}/members`, { userIds });
  }

  unread(): Promise<{ conversations: { conversationId: string; unread: number }[]; totalUnread: number }> {
    return this.request('GET', '/v1/unread');
  }

  /** Any route: the JSON answer, or a ParleyError with the server's code. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${await this.#token()}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res;
    try {
      res = await this.#fetch(`${this.baseUrl}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    } catch (err) {
      throw new ParleyError('unavailable', `${method} ${path}: ${(err as Error).message}`, { temporary: true, cause: err });
    }
    const answer = (await res.json().catch(() => undefined)) as { error?: { code?: string; message?: string; temporary?: boolean; retryAfterMs?: number } } | undefined;
    if (res.ok) return answer as T;
    const e = answer?.error;
    throw new ParleyError(e?.code ?? 'internal', e?.message ?? `${method} ${path}: HTTP ${res.status}`, {
      ...(e?.temporary !== undefined ? { temporary: e.temporary } : {}),
      ...(e?.retryAfterMs !== undefined ? { retryAfterMs: e.retryAfterMs } : {}),
    });
  }
}

/** The REST base for a socket URL: `ws://host:8080/ws` → `http://host:8080`. */
export function restUrlOf(socketUrl: string): string {
  const m = /^(wss?):\/\/([^/?#]+)([^?#]*)/i.exec(socketUrl);
  if (!m) throw new TypeError(`not a WebSocket URL: ${socketUrl}`);
  const path = m[3]!.replace(/\/ws\/?$/, '').replace(/\/+$/, '');
  return `${m[1]!.toLowerCase() === 'wss' ? 'https' : 'http'}://${m[2]}${path}`;
}
