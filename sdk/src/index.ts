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
export { newTempId, ParleyClient, type ClientEvents, type ClientState, type ParleyClientOptions } from './client.js';
export { decodeFrame, jsonCodec, msgpackCodec, type FrameCodec, type Msgpack } from './codec.js';
export { PresenceState } from './presence-state.js';
export * from './protocol.js';
export { RestClient, restUrlOf, type ConversationSummary, type FetchLike, type HistoryMessage, type HistoryPage } from './rest.js';
export { refreshDelay, tokenExpiry, type TokenSource } from './token.js';
export { TypingSender, type TypingSenderOptions } from './typing-sender.js';
export { TypingState } from './typing-state.js';
export { UnreadState } from './unread-state.js';
export { globalWebSocket, type SocketFactory, type WebSocketConstructor, type WebSocketLike } from './websocket.js';
