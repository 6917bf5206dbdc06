/**
 * Stable error codes: what clients see in `error` frames and REST bodies, and what the engine uses
 * for rejections. One table, so a code is never spelled two ways.
 */
export const errorCodes = {
  unauthorized: { http: 401, temporary: false },
  token_expired: { http: 401, temporary: false },
  bad_frame: { http: 400, temporary: false },
  unknown_type: { http: 400, temporary: false },
  validation_error: { http: 400, temporary: false },
  payload_too_large: { http: 413, temporary: false },
  /** REST: a request body that is not declared `application/json`. */
  unsupported_media_type: { http: 415, temporary: false },
  rate_limited: { http: 429, temporary: true },
  conversation_not_found: { http: 404, temporary: false },
  conversation_exists: { http: 409, temporary: false },
  /**
   * Not for the actor: a non-member hears conversation_not_found, as for an id that does not exist
   * (conversationNotFound). Only for the member an owner or admin names (remove_member,
   * set_role) when that user is not in the group: they know the members already.
   */
  not_a_member: { http: 403, temporary: false },
  already_a_member: { http: 409, temporary: false },
  blocked: { http: 403, temporary: false },
  forbidden: { http: 403, temporary: false },
  not_found: { http: 404, temporary: false },
  /** A per-user bound is reached (push subscriptions): remove something first. */
  limit_reached: { http: 409, temporary: false },
  /**
   * message.edit / message.delete of a message this conversation does not have, has deleted, or no
   * longer remembers (older than the last MESSAGES_KEPT messages: lib/conversation-state.ts).
   */
  message_not_found: { http: 404, temporary: false },
  send_failed: { http: 503, temporary: true },
  overloaded: { http: 503, temporary: true },
  /** A service the request needs (the presence service) did not answer in time: retry. */
  unavailable: { http: 503, temporary: true },
  internal: { http: 500, temporary: true },
} as const;

export type ErrorCode = keyof typeof errorCodes;

/**
 * The one answer to "no such conversation" and to "not yours" alike, word for word, from the
 * engine and from REST reads: any difference would tell a stranger that the id exists.
 */
export const conversationNotFound = (conversationId: string) =>
  ({ code: 'conversation_not_found', message: `conversation ${conversationId} not found` }) as const;

/** The `error` object of an error frame and of a REST error body: the one shape clients parse. */
export function errorBody(code: ErrorCode, message: string, extra: object = {}) {
  return { code, message, temporary: errorCodes[code].temporary, ...extra };
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(errorCodes, value);
}

/** WebSocket close codes (PROTOCOL.md). */
export const closeCodes = {
  goingAway: 1001,
  /** A text frame that is not UTF-8 (RFC 6455 7.4.1): the socket cannot be read any further. */
  invalidPayload: 1007,
  /** The server cannot serve the socket right now (its inbox is unreadable): reconnect with the cursor. */
  internalError: 1011,
  unauthorized: 4001,
  /** An administrator disconnected the user (POST /v1/admin/users/:id/disconnect); reconnecting is allowed. */
  disconnectedByAdmin: 4003,
  policy: 4008,
  slowConsumer: 4009,
} as const;

/** A close as clients see it: its code and the reason sent with it. */
export type Close = { readonly code: number; readonly reason: string };

/**
 * Every way the gateway closes a socket, with the reason it sends: the one table behind
 * docs/protocol.md "Close codes", so that no reason is spelled two ways.
 */
export const closes = {
  goingAway: { code: closeCodes.goingAway, reason: 'server going away' },
  invalidText: { code: closeCodes.invalidPayload, reason: 'text frame is not UTF-8' },
  /** The inbox could not be read when the socket was authenticated. */
  inboxUnavailable: { code: closeCodes.internalError, reason: 'inbox unavailable' },
  /** The inbox could not be read during a replay or a gap repair. */
  inboxUnreadable: { code: closeCodes.internalError, reason: 'inbox unavailable, resume from your cursor' },
  unauthorized: { code: closeCodes.unauthorized, reason: 'unauthorized' },
  /** An expired token at upgrade, `authenticate` or `auth.refresh` (the reason is the error code). */
  tokenRefused: { code: closeCodes.unauthorized, reason: 'token_expired' },
  authTimeout: { code: closeCodes.unauthorized, reason: 'authentication timeout' },
  /** The token expired while connected. */
  tokenExpired: { code: closeCodes.unauthorized, reason: 'token expired' },
  tokenRevoked: { code: closeCodes.unauthorized, reason: 'token revoked' },
  disconnectedByAdmin: { code: closeCodes.disconnectedByAdmin, reason: 'disconnected by an administrator' },
  tooManyBadFrames: { code: closeCodes.policy, reason: 'too many bad frames' },
  rateLimited: { code: closeCodes.policy, reason: 'rate limited' },
  slowConsumer: { code: closeCodes.slowConsumer, reason: 'slow consumer: resume from your cursor' },
} as const satisfies Record<string, Close>;

/** The close for a refused token: its error code is the reason (`unauthorized` or `token_expired`). */
export function closeForToken(code: ErrorCode): Close {
  return code === 'token_expired' ? closes.tokenRefused : closes.unauthorized;
}

export class ParleyError extends Error {
  readonly code: ErrorCode;
  readonly temporary: boolean;
  /** For `rate_limited`: how long until a retry can succeed (REST: also the Retry-After header). */
  readonly retryAfterMs?: number;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryAfterMs?: number }) {
    super(message, options);
    this.name = 'ParleyError';
    this.code = code;
    this.temporary = errorCodes[code].temporary;
    if (options?.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
  }
}
