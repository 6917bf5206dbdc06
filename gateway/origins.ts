/**
 * Which browser origins may use this gateway (PARLEY_ALLOWED_ORIGINS), and the CORS headers that
 * say so. A browser sends `Origin` on every WebSocket upgrade and on cross-origin fetches; other
 * clients send none, and are never refused for it: the check keeps other sites' pages out, it is
 * not authentication (tokens are).
 */
export class OriginPolicy {
  readonly #allowed: Set<string> | '*';

  constructor(allowed: readonly string[] | '*') {
    this.#allowed = allowed === '*' ? '*' : new Set(allowed);
  }

  /** `origin` is the header's value, '' when absent (as uWebSockets.js gives a missing header). */
  allows(origin: string): boolean {
    return origin === '' || this.#allowed === '*' || this.#allowed.has(origin);
  }

  /**
   * Headers for an answer to a /v1 request. The origin is echoed rather than `*`, even when any is
   * allowed, so that one rule serves both settings; hence `Vary: Origin` on every answer, or a
   * cache could hand one origin's answer to another.
   */
  responseHeaders(origin: string): Record<string, string> {
    if (origin === '' || !this.allows(origin)) return { vary: 'Origin' };
    return { vary: 'Origin', 'access-control-allow-origin': origin, 'access-control-expose-headers': EXPOSED_HEADERS };
  }

  /** Headers for a preflight (`OPTIONS /v1/…`) from an allowed origin. */
  preflightHeaders(origin: string): Record<string, string> {
    return {
      vary: 'Origin',
      'access-control-allow-origin': origin,
      'access-control-allow-methods': ALLOWED_METHODS,
      'access-control-allow-headers': ALLOWED_HEADERS,
      'access-control-max-age': String(PREFLIGHT_MAX_AGE_SEC),
    };
  }
}

export const ALLOWED_METHODS = 'GET, POST, PUT, PATCH, DELETE';
/** What a browser may send: the token and the JSON body's type. Idempotency travels in the body (`tempId`). */
export const ALLOWED_HEADERS = 'authorization, content-type';
/** What browser code may read besides the simple headers: the mark of a repeated send. */
export const EXPOSED_HEADERS = 'idempotent-replay';
/** Ten minutes: browsers cap it anyway (Chromium at two hours), and a changed list takes effect soon. */
export const PREFLIGHT_MAX_AGE_SEC = 600;
