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
   * No longer sent: a non-member hears conversation_not_found, as for an id that does not exist
   * (conversationNotFound). Kept so that clients which know the code still find it here.
   */
  not_a_member: { http: 403, temporary: false },
  already_a_member: { http: 409, temporary: false },
  blocked: { http: 403, temporary: false },
  forbidden: { http: 403, temporary: false },
  not_found: { http: 404, temporary: false },
  send_failed: { http: 503, temporary: true },
  overloaded: { http: 503, temporary: true },
  internal: { http: 500, temporary: true },
} as const;

export type ErrorCode = keyof typeof errorCodes;

/**
 * The one answer to "no such conversation" and to "not yours" alike, word for word, from the
 * engine and from REST reads: any difference would tell a stranger that the id exists.
 */
export const conversationNotFound = (conversationId: string) =>
  ({ code: 'conversation_not_found', message: `conversation ${conversationId} not found` }) as const;

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
