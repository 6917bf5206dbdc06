import { closeForToken, closes, ParleyError, type ErrorCode } from '../lib/errors.js';
import { encodeJson } from '../lib/json.js';
import type { JetStreamPublisher } from '../lib/js-publisher.js';
import type { Logger } from '../lib/log.js';
import type { Names } from '../lib/names.js';
import { commandPartition } from '../lib/partition.js';
import { textProblem, wireValueProblem } from '../lib/wire-value.js';
import {
  isClientFrameType,
  isTempId,
  plannedClientFrames,
  validateClientEnvelope,
  validateClientPayload,
  type AnyCommand,
  type ClientFrameType,
} from '../schemas/index.js';
import type { TokenVerifier } from './auth.js';
import {
  buildBlock,
  buildCreateConversation,
  buildMembership,
  buildDeleteMessage,
  buildEditMessage,
  buildGroupAdmin,
  buildReaction,
  buildReceipt,
  buildSendMessage,
  type Built,
  type CommandContext,
} from './commands.js';
import type { Connection } from './connection.js';
import { framesIn, sends } from './metrics.js';
import type { PresenceSubscriptions } from './presence-subscriptions.js';
import type { TypingRelay } from './typing-relay.js';
import { FAN_OUT_COMMANDS, FAN_OUT_LIMITED_MESSAGE, type UserRateLimits } from './user-limits.js';
import { commandLogIds } from '../lib/log-ids.js';

export type FrameHandlerDeps = {
  names: Names;
  partitions: number;
  gatewayId: string;
  publisher: JetStreamPublisher;
  verifier: TokenVerifier;
  log: Logger;
  /** Called once a socket's identity is established by an `authenticate` frame (with its ref). */
  onAuthenticated: (conn: Connection, ref: string | undefined) => void;
  /** Re-arm the token expiry timer after auth.refresh. */
  onTokenRefreshed: (conn: Connection, ref: string | undefined) => void;
  /** Whether a send of this user may go in now (command-backlog.ts); one that may is counted. */
  admitSend: (userId: string) => boolean;
  /** Per-user buckets shared by the user's connections (user-limits.ts). */
  userLimits: UserRateLimits;
  /** typing.start / typing.stop: relayed to the other members over core NATS (typing-relay.ts). */
  typing: Pick<TypingRelay, 'start' | 'stop'>;
  /** presence.subscribe / presence.unsubscribe (presence-subscriptions.ts). */
  presence: Pick<PresenceSubscriptions, 'subscribe' | 'unsubscribe'>;
};

type Refs = { ref?: string; tempId?: string; retryAfterMs?: number };

export const OVERLOADED_MESSAGE = 'the server is behind on messages; retry this send (same tempId) in a moment';

/**
 * One decoded client frame → validation → a reply, a command on the command stream, or an error.
 * A bad frame gets an `error` and the socket stays usable; too many of them (or too many frames
 * over the rate or size limits) close it with 4008.
 */
export class FrameHandler {
  readonly #d: FrameHandlerDeps;

  constructor(deps: FrameHandlerDeps) {
    this.#d = deps;
  }

  /** `raw` is what the codec decoded; `undefined` with `decodeError` when it could not. */
  handle(conn: Connection, raw: unknown, decodeError?: string): void {
    if (decodeError !== undefined) {
      framesIn.inc(undefined);
      return this.reject(conn, 'bad_frame', decodeError);
    }
    const envelope = validateClientEnvelope(raw);
    // Unknown types are `other` (metrics.ts): a label never holds what a client made up.
    framesIn.inc(envelope.ok ? envelope.value.type : undefined);
    if (!envelope.ok) return this.reject(conn, 'bad_frame', typeof raw === 'object' && raw !== null ? envelope.message : 'a frame is an object');
    const { type, ref } = envelope.value;
    const tempId = (envelope.value.payload as { tempId?: unknown } | undefined)?.tempId;
    // Echoed only when they are clean text; what else the frame holds is checked next.
    const refs: Refs = {
      ...(ref !== undefined && textProblem(ref) === undefined ? { ref } : {}),
      ...(typeof tempId === 'string' && isTempId(tempId) ? { tempId } : {}),
    };
    const problem = wireValueProblem(raw);
    if (problem !== undefined) return this.reject(conn, 'validation_error', problem, refs);
    if (!isClientFrameType(type)) {
      if (plannedClientFrames.has(type)) return void conn.sendError('unknown_type', `${type} is not served by this version yet`, refs);
      return this.reject(conn, 'unknown_type', `unknown frame type ${JSON.stringify(type)}`, refs);
    }
    const payload = validateClientPayload[type](envelope.value.payload ?? {});
    if (!payload.ok) return this.reject(conn, 'validation_error', payload.message, refs);
    if (!conn.frames.take()) return this.reject(conn, 'rate_limited', 'too many frames on this connection; slow down', { ...refs, retryAfterMs: conn.frames.retryAfterMs() });
    // The user's own bucket, shared by all of its connections: more connections, or a reconnect
    // after 4008, do not make more room.
    const userId = conn.userId;
    if (userId !== undefined) {
      const wait = this.#d.userLimits.takeFrame(userId);
      if (wait > 0) return this.reject(conn, 'rate_limited', 'too many frames from this user; slow down', { ...refs, retryAfterMs: wait });
    }
    this.#dispatch(conn, type, payload.value, refs);
  }

  /** An error for this frame; it also counts toward closing a socket that keeps misbehaving. */
  reject(conn: Connection, code: ErrorCode, message: string, refs: Refs = {}): void {
    conn.sendError(code, message, refs);
    if (conn.badFrames.add()) conn.close(closes.tooManyBadFrames);
  }

  #dispatch(conn: Connection, type: ClientFrameType, payload: unknown, refs: Refs): void {
    if (type === 'authenticate') return void this.#authenticate(conn, (payload as { token: string }).token, refs.ref);
    if (!conn.identity) return void conn.sendError('unauthorized', 'authenticate first', refs);
    const ctx = (): CommandContext => ({
      identity: conn.identity!,
      origin: { gatewayId: this.#d.gatewayId, connectionId: conn.id, ...(refs.ref !== undefined ? { ref: refs.ref } : {}) },
      now: Date.now(),
    });
    switch (type) {
      case 'auth.refresh':
        return void this.#refresh(conn, (payload as { token: string }).token, refs.ref);
      case 'ping': {
        const timestamp = (payload as { timestamp?: number }).timestamp;
        conn.send({ type: 'pong', ...(refs.ref !== undefined ? { ref: refs.ref } : {}), payload: { ...(timestamp !== undefined ? { timestamp } : {}), serverTime: new Date().toISOString() } });
        return;
      }
      case 'ack':
        return this.#ack(conn, (payload as { seq: number }).seq, ctx());
      case 'conversation.create':
        return this.#submit(conn, buildCreateConversation(payload as never, ctx()), refs);
      case 'conversation.join':
      case 'conversation.leave':
        return this.#submit(conn, buildMembership(type, payload as never, ctx()), refs);
      case 'conversation.update':
      case 'conversation.add_members':
      case 'conversation.remove_member':
      case 'conversation.set_role':
        return this.#submit(conn, buildGroupAdmin(type, payload as never, ctx()), refs);
      case 'message.send': {
        const wait = this.#d.userLimits.takeSend(conn.identity.userId);
        if (wait > 0) {
          sends.inc('rate_limited');
          return this.reject(conn, 'rate_limited', 'too many messages from this user; retry this send (same tempId) later', { ...refs, retryAfterMs: wait });
        }
        // Not a bad frame: the client did nothing wrong, and retries the same tempId later.
        if (!this.#d.admitSend(conn.identity.userId)) return void conn.sendError('overloaded', OVERLOADED_MESSAGE, refs);
        return this.#submit(conn, buildSendMessage(payload as never, ctx()), refs);
      }
      case 'message.edit':
        return this.#submit(conn, buildEditMessage(payload as never, ctx()), refs);
      case 'message.delete':
        return this.#submit(conn, buildDeleteMessage(payload as never, ctx()), refs);
      case 'reaction.add':
      case 'reaction.remove':
        return this.#submit(conn, buildReaction(type, payload as never, ctx()), refs);
      case 'message.delivered':
        return this.#submit(conn, buildReceipt('receipt.delivered', payload as never, ctx()), refs);
      case 'message.read':
        return this.#submit(conn, buildReceipt('receipt.read', payload as never, ctx()), refs);
      case 'block.add':
      case 'block.remove':
        return this.#submit(conn, buildBlock(type, payload as never, ctx()), refs);
      case 'typing.start':
        return this.#d.typing.start(conn, (payload as { conversationId: string }).conversationId, refs);
      case 'typing.stop':
        return this.#d.typing.stop(conn, (payload as { conversationId: string }).conversationId, refs);
      case 'presence.subscribe':
        return void this.#d.presence.subscribe(conn, (payload as { userIds: string[] }).userIds, refs.ref !== undefined ? { ref: refs.ref } : {});
      case 'presence.unsubscribe':
        return this.#d.presence.unsubscribe(conn, (payload as { userIds: string[] }).userIds, refs.ref !== undefined ? { ref: refs.ref } : {});
      default: {
        const exhaustive: never = type;
        conn.sendError('unknown_type', `frame type ${String(exhaustive)} is not handled here`, refs);
      }
    }
  }

  #submit(conn: Connection, built: Built, refs: Refs): void {
    if (!built.ok) return this.reject(conn, built.code, built.message, refs);
    if (FAN_OUT_COMMANDS.has(built.command.type)) {
      const wait = this.#d.userLimits.takeSend(built.command.actor.id);
      if (wait > 0) return this.reject(conn, 'rate_limited', FAN_OUT_LIMITED_MESSAGE, { ...refs, retryAfterMs: wait });
    }
    let published: Promise<unknown>;
    try {
      published = this.publish(built.command);
    } catch (err) {
      // The frame passed every check and still cannot be written as a command: a gap in the checks,
      // answered for this frame alone.
      this.#d.log.error({ err, ...commandLogIds(built.command), connectionId: conn.id }, 'command could not be encoded');
      return this.reject(conn, 'validation_error', 'this frame cannot be stored', refs);
    }
    published.catch((err: unknown) => {
      this.#d.log.warn({ err, ...commandLogIds(built.command), connectionId: conn.id }, 'command publish failed');
      conn.sendError('send_failed', 'the command could not be queued; retry (with the same tempId for a send)', refs);
    });
  }

  /**
   * The client acknowledges everything up to inbox seq N: the messages from others among them
   * were received by a device, so they become delivery receipts (one watermark per conversation).
   */
  #ack(conn: Connection, seq: number, ctx: CommandContext): void {
    for (const [conversationId, upToSeq] of conn.takeReceipts(seq)) {
      this.#submit(conn, buildReceipt('receipt.delivered', { conversationId, upToSeq }, { ...ctx, origin: undefined }), {});
    }
  }

  /** Queue a command for the engine; resolves once the command stream has stored it. */
  publish(command: AnyCommand): Promise<unknown> {
    const subject = this.#d.names.subjects.command(commandPartition(command, this.#d.partitions));
    return this.#d.publisher.publish(subject, encodeJson(command));
  }

  async #authenticate(conn: Connection, token: string, ref: string | undefined): Promise<void> {
    const refs = ref !== undefined ? { ref } : {};
    if (conn.identity) return void conn.sendError('validation_error', 'already authenticated; use auth.refresh', refs);
    try {
      conn.identity = await this.#d.verifier.verify(token);
    } catch (err) {
      if (conn.closed) return;
      const code = err instanceof ParleyError ? err.code : 'unauthorized';
      conn.sendError(code, (err as Error).message, refs);
      conn.close(closeForToken(code));
      return;
    }
    if (!conn.closed) this.#d.onAuthenticated(conn, ref);
  }

  async #refresh(conn: Connection, token: string, ref: string | undefined): Promise<void> {
    try {
      const identity = await this.#d.verifier.verify(token);
      if (identity.userId !== conn.identity!.userId) throw new ParleyError('unauthorized', 'token is for another user');
      conn.identity = identity;
      this.#d.onTokenRefreshed(conn, ref);
    } catch (err) {
      if (conn.closed) return;
      const code = err instanceof ParleyError ? err.code : 'unauthorized';
      conn.sendError(code, (err as Error).message, ref !== undefined ? { ref } : {});
      if (code === 'token_expired') conn.close(closes.tokenRefused);
    }
  }
}
