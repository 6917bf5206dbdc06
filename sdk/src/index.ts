/**
 * @parley/client: the public surface. Only what is exported here is the SDK's API; the rest of
 * src/ may change freely.
 */
export { Backoff, defaultBackoffOptions, type BackoffOptions } from './backoff.js';
export { systemClock, type CancelTimer, type Clock } from './clock.js';
export { isCursor, MemoryCursorStore, StorageCursorStore, type CursorStore, type StorageLike } from './cursor-store.js';
export { InboxDedupe } from './dedupe.js';
export {
  clientErrorCodes,
  isKnownErrorCode,
  isTemporaryCode,
  ParleyError,
  protocolErrorCodes,
  SendFailedError,
  type AnyErrorCode,
  type ClientErrorCode,
  type ErrorCode,
  type ParleyErrorDetails,
  type ProtocolErrorCode,
} from './errors.js';
export { defaultOutboxOptions, Outbox, type OutboxOptions, type PendingSend, type PendingState, type Transmit } from './outbox.js';
