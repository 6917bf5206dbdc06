import { closeCodes, ParleyError } from '../lib/errors.js';
import { encodeJson } from '../lib/json.js';
import type { JetStreamPublisher } from '../lib/js-publisher.js';
import type { Logger } from '../lib/log.js';
import type { Names } from '../lib/names.js';
import { partitionOf } from '../lib/partition.js';
import {
  isClientFrameType,
  validateClientEnvelope,
  validateClientPayload,
  type ClientFrameType,
  type ConversationCommand,
} from '../schemas/index.js';
import type { TokenVerifier } from './auth.js';
import { buildCreateConversation, buildMembership, buildSendMessage, type Built, type CommandContext } from './commands.js';
import type { Connection } from './connection.js';

export type FrameHandlerDeps = {
  names: Names;
  partitions: number;
  gatewayId: string;
  publisher: JetStreamPublisher;
  verifier: TokenVerifier;
  log: Logger;
  /** Called once a socket's identity is established (upgrade or `authenticate` frame). */
  onAuthenticated: (conn: Connection) => void;
  /** Re-arm the token expiry timer after auth.refresh. */
  onTokenRefreshed: (conn: Connection) => void;
};

/**
 * One decoded client frame → validation → a reply, a command on the command stream, or an error.
 * A bad frame gets an `error` and the socket stays usable; too many of them close it with 4008.
 */
export class FrameHandler {
  readonly #d: FrameHandlerDeps;

  constructor(deps: FrameHandlerDeps) {
    this.#d = deps;
  }

  /** `raw` is what the codec decoded; `undefined` with `decodeError` when it could not. */
  handle(conn: Connection, raw: unknown, decodeError?: string): void {
    if (decodeError !== undefined) return this.#bad(conn, 'bad_frame', decodeError);
    const envelope = validateClientEnvelope(raw);
    if (!envelope.ok) return this.#bad(conn, 'bad_frame', envelope.message);
    const { type, ref } = envelope.value;
    if (!isClientFrameType(type)) return this.#bad(conn, 'unknown_type', `unknown frame type ${JSON.stringify(type)}`, ref);
    const payload = validateClientPayload[type](envelope.value.payload ?? {});
    if (!payload.ok) {
      const tempId = (envelope.value.payload as { tempId?: unknown } | undefined)?.tempId;
      return this.#bad(conn, 'validation_error', payload.message, ref, typeof tempId === 'string' ? tempId : undefined);
    }
    if (!conn.frames.take()) {
      conn.sendError('rate_limited', 'too many frames; slow down', ref !== undefined ? { ref } : {});
      return;
    }
    this.#dispatch(conn, type, payload.value, ref);
  }

  #bad(conn: Connection, code: 'bad_frame' | 'unknown_type' | 'validation_error', message: string, ref?: string, tempId?: string): void {
    conn.sendError(code, message, { ...(ref !== undefined ? { ref } : {}), ...(tempId !== undefined ? { tempId } : {}) });
    if (conn.badFrames.add()) conn.close(closeCodes.policy, 'too many bad frames');
  }

  #dispatch(conn: Connection, type: ClientFrameType, payload: unknown, ref: string | undefined): void {
    const refs = ref !== undefined ? { ref } : {};
    if (type === 'authenticate') return void this.#authenticate(conn, (payload as { token: string }).token, ref);
    if (!conn.identity) {
      conn.sendError('unauthorized', 'authenticate first', refs);
      return;
    }
    switch (type) {
      case 'auth.refresh':
        return void this.#refresh(conn, (payload as { token: string }).token, ref);
      case 'ping':
        conn.send({ type: 'pong', ...refs, payload: { ...(payload as object), serverTime: new Date().toISOString() } });
        return;
      case 'ack':
        // Receipts from acks come with the delivery-guarantees work; the cursor is the client's to keep.
        return;
      default:
        return this.#command(conn, type, payload, ref);
    }
  }

  #command(conn: Connection, type: ClientFrameType, payload: unknown, ref: string | undefined): void {
    const ctx: CommandContext = {
      identity: conn.identity!,
      origin: { gatewayId: this.#d.gatewayId, connectionId: conn.id, ...(ref !== undefined ? { ref } : {}) },
      now: Date.now(),
    };
    let built: Built;
    switch (type) {
      case 'conversation.create':
        built = buildCreateConversation(payload as never, ctx);
        break;
      case 'conversation.join':
      case 'conversation.leave':
        built = buildMembership(type, payload as never, ctx);
        break;
      case 'message.send':
        built = buildSendMessage(payload as never, ctx);
        break;
      default:
        conn.sendError('unknown_type', `frame type ${type} is not handled here`, ref !== undefined ? { ref } : {});
        return;
    }
    const tempId = type === 'message.send' ? (payload as { tempId: string }).tempId : undefined;
    const extra = { ...(ref !== undefined ? { ref } : {}), ...(tempId !== undefined ? { tempId } : {}) };
    if (!built.ok) {
      this.#bad(conn, 'validation_error', built.message, ref, tempId);
      return;
    }
    this.publish(built.command).catch((err: unknown) => {
      this.#d.log.warn({ err, commandId: built.command.id }, 'command publish failed');
      conn.sendError('send_failed', 'the command could not be queued; retry with the same tempId', extra);
    });
  }

  /** Queue a command for the engine; resolves once the command stream has stored it. */
  publish(command: ConversationCommand): Promise<unknown> {
    const subject = this.#d.names.subjects.command(partitionOf(command.conversationId, this.#d.partitions));
    return this.#d.publisher.publish(subject, encodeJson(command));
  }

  async #authenticate(conn: Connection, token: string, ref: string | undefined): Promise<void> {
    if (conn.identity) {
      conn.sendError('validation_error', 'already authenticated; use auth.refresh', ref !== undefined ? { ref } : {});
      return;
    }
    try {
      conn.identity = await this.#d.verifier.verify(token);
    } catch (err) {
      if (conn.closed) return;
      const code = err instanceof ParleyError ? err.code : 'unauthorized';
      conn.sendError(code, (err as Error).message, ref !== undefined ? { ref } : {});
      conn.close(closeCodes.unauthorized, code);
      return;
    }
    if (!conn.closed) this.#d.onAuthenticated(conn);
  }

  async #refresh(conn: Connection, token: string, ref: string | undefined): Promise<void> {
    try {
      const identity = await this.#d.verifier.verify(token);
      if (identity.userId !== conn.identity!.userId) throw new ParleyError('unauthorized', 'token is for another user');
      conn.identity = identity;
      this.#d.onTokenRefreshed(conn);
    } catch (err) {
      if (conn.closed) return;
      const code = err instanceof ParleyError ? err.code : 'unauthorized';
      conn.sendError(code, (err as Error).message, ref !== undefined ? { ref } : {});
      if (code === 'token_expired') conn.close(closeCodes.unauthorized, code);
    }
  }
}
