/**
 * Errors the SDK hands to the application: one class with a stable `code`, so an app switches on
 * codes and never on message text.
 *
 * The protocol's codes are copied from the server's table (lib/errors.ts, docs/protocol.md "Error
 * codes") rather than imported: the SDK is published alone and imports nothing of the server.
 */

/** Codes the server sends in `error` frames, with whether retrying the same frame may succeed. */
export const protocolErrorCodes = {
  unauthorized: { temporary: false },
  token_expired: { temporary: false },
  bad_frame: { temporary: false },
  unknown_type: { temporary: false },
  validation_error: { temporary: false },
  payload_too_large: { temporary: false },
  unsupported_media_type: { temporary: false },
  rate_limited: { temporary: true },
  conversation_not_found: { temporary: false },
  conversation_exists: { temporary: false },
  not_a_member: { temporary: false },
  already_a_member: { temporary: false },
  blocked: { temporary: false },
  forbidden: { temporary: false },
  not_found: { temporary: false },
  limit_reached: { temporary: false },
  message_not_found: { temporary: false },
  send_failed: { temporary: true },
  overloaded: { temporary: true },
  unavailable: { temporary: true },
  internal: { temporary: true },
} as const;

/** Codes the SDK itself raises: no server sends them. */
export const clientErrorCodes = {
  /** No answer came within the time allowed (a send retries it as a temporary failure). */
  timeout: { temporary: true },
  /** The client was closed (or the outbox cleared) before the operation finished. */
  closed: { temporary: false },
} as const;

export type ProtocolErrorCode = keyof typeof protocolErrorCodes;
export type ClientErrorCode = keyof typeof clientErrorCodes;
export type ErrorCode = ProtocolErrorCode | ClientErrorCode;
/**
 * A code as received: a newer server may send a code this SDK does not know yet, so the type
 * stays open while still offering the known ones.
 */
export type AnyErrorCode = ErrorCode | (string & {});

export function isKnownErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(protocolErrorCodes, code) || Object.hasOwn(clientErrorCodes, code);
}

/**
 * Whether retrying may succeed. An unknown code is temporary only if the server said so (its
 * `temporary` flag), since retrying a permanent refusal forever would be worse than giving up.
 */
export function isTemporaryCode(code: string, serverSays?: boolean): boolean {
  if (Object.hasOwn(protocolErrorCodes, code)) return protocolErrorCodes[code as ProtocolErrorCode].temporary;
  if (Object.hasOwn(clientErrorCodes, code)) return clientErrorCodes[code as ClientErrorCode].temporary;
  return serverSays === true;
}

export type ParleyErrorDetails = {
  /** The server's `temporary` flag, when it sent one; otherwise taken from the code. */
  temporary?: boolean;
  /** On `rate_limited`: how long until the same frame can succeed. */
  retryAfterMs?: number;
  cause?: unknown;
};

export class ParleyError extends Error {
  override readonly name: string = 'ParleyError';
  readonly code: AnyErrorCode;
  /** Retrying the same operation later may succeed. */
  readonly temporary: boolean;
  readonly retryAfterMs: number | undefined;

  constructor(code: AnyErrorCode, message: string, details: ParleyErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.temporary = details.temporary ?? isTemporaryCode(code);
    this.retryAfterMs = details.retryAfterMs;
  }
}

/**
 * A send the outbox stopped trying: refused for good by the server, or still failing after the
 * retry bound. `code` is the last failure's code (`timeout` when no answer ever came). The
 * message may still have been stored (a `send_failed` "may still be stored later"): adding it
 * again with the same tempId is safe, the server never makes a second message of it.
 */
export class SendFailedError extends ParleyError {
  override readonly name: string = 'SendFailedError';
  readonly tempId: string;
  /** How many times the send went out. */
  readonly attempts: number;

  constructor(tempId: string, attempts: number, code: AnyErrorCode, message: string, details: ParleyErrorDetails = {}) {
    super(code, message, details);
    this.tempId = tempId;
    this.attempts = attempts;
  }
}
