import type { HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { conversationNotFound, isErrorCode, ParleyError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { validateClientPayload, type AnyCommand, type ClientFrameType, type CommandOutcome, type WireMessage } from '../../schemas/index.js';
import type { Identity, TokenVerifier } from '../auth.js';
import type { Faults } from '../../lib/faults.js';
import { guardHttp } from '../guard.js';
import { OVERLOADED_MESSAGE } from '../frame-handler.js';
import { sends } from '../metrics.js';
import {
  buildCreateConversation,
  buildDeleteMessage,
  buildEditMessage,
  buildGroupAdmin,
  buildMembership,
  buildReaction,
  buildReceipt,
  buildSendMessage,
  type Built,
  type CommandContext,
} from '../commands.js';
import type { GatewayAdmin } from '../admin.js';
import { ALLOWED_METHODS, type OriginPolicy } from '../origins.js';
import { mountAdminRoutes } from './admin-routes.js';
import { mountPushRoutes, type PushRouteDeps } from './push-routes.js';
import { bearer, capture, idParam, readJson, sendError, sendFailure, sendJson, type Request } from './http.js';
import type { OutcomeWaiter } from './outcome-waiter.js';
import { FAN_OUT_COMMANDS, FAN_OUT_LIMITED_MESSAGE, type UserRateLimits } from '../user-limits.js';
import type { AskPresence } from '../presence-query.js';
import { presenceUsersParam } from './presence-params.js';
import { conversationsOf, memberSince, messagesPage, unreadOf, type ReadDb } from './read-models.js';

export type RestDeps = {
  verifier: TokenVerifier;
  /** Queue a command (the same path as WebSocket frames). */
  submit: (command: AnyCommand) => Promise<unknown>;
  waiter: OutcomeWaiter;
  db?: ReadDb;
  gatewayId: string;
  maxBodyBytes: number;
  /** How long a write waits for the engine's answer. */
  timeoutMs: number;
  /** Whether a send of this user may go in now (command-backlog.ts); one that may is counted. */
  admitSend: (userId: string) => boolean;
  /** The same per-user buckets as the user's WebSocket frames and sends (user-limits.ts). */
  userLimits: UserRateLimits;
  /** GET /v1/presence: the presence service's answer, blocks applied (presence-query.ts). */
  askPresence?: AskPresence;
  /** Which browser origins may call (PARLEY_ALLOWED_ORIGINS); answers carry CORS headers for them. */
  origins: OriginPolicy;
  /** The admin controls (routes under /v1/admin, for tokens with the parley:admin scope). */
  admin?: GatewayAdmin;
  /** Web Push subscriptions and the push record (routes under /v1/push). */
  push?: PushRouteDeps;
  log: Logger;
  faults: Faults;
};

export type Ctx = { res: HttpResponse; request: Request; identity: Identity; body: unknown };
/** uWebSockets.js's method names: `del` is DELETE. */
export type Route = (method: 'get' | 'post' | 'put' | 'patch' | 'del', pattern: string, handler: (ctx: Ctx) => Promise<void>) => void;

const METHOD_NAMES = { get: 'GET', post: 'POST', put: 'PUT', patch: 'PATCH', del: 'DELETE' } as const;

/**
 * REST on the gateway port, same JWT as the WebSocket (Authorization: Bearer). Writes take the
 * command path and answer once the engine has decided (so 201 means "in the log"); reads come
 * from the Postgres read models.
 */
export function mountRest(app: TemplatedApp, deps: RestDeps): void {
  // CORS preflight: a browser asks before a cross-origin call with a token or a JSON body.
  app.options('/v1/*', guardHttp(deps.faults, 'OPTIONS /v1/*', (res, req) => {
    const origin = req.getHeader('origin');
    if (!deps.origins.allows(origin)) {
      // Refused as a call from that origin is: the protocol's error body, no CORS headers.
      const request = capture(res, req);
      request.headers = deps.origins.responseHeaders(origin);
      return sendError(res, request, 'forbidden', 'origin not allowed');
    }
    const headers = origin === '' ? { allow: `${ALLOWED_METHODS}, OPTIONS` } : deps.origins.preflightHeaders(origin);
    res.cork(() => {
      res.writeStatus('204 No Content');
      for (const [k, v] of Object.entries(headers)) res.writeHeader(k, v);
      res.endWithoutBody();
    });
  }));

  const route: Route = (method, pattern, handler) => {
    const params = (pattern.match(/:/g) ?? []).length;
    app[method](pattern, guardHttp(deps.faults, `${METHOD_NAMES[method]} ${pattern}`, (res, req) => {
      const request = capture(res, req, params);
      const origin = req.getHeader('origin');
      request.headers = deps.origins.responseHeaders(origin);
      const body = method === 'post' || method === 'patch' ? readJson(res, deps.maxBodyBytes, req.getHeader('content-type')) : Promise.resolve(undefined);
      body.catch(() => undefined);
      (async () => {
        let userId: string | undefined; // for the log line of a failure: who asked (never the token)
        try {
          // Another site's page: refused before anything is done for it (its browser would not let
          // it read the answer, but a POST it may send without asking would still act).
          if (!deps.origins.allows(origin)) return sendError(res, request, 'forbidden', 'origin not allowed');
          const identity = await deps.verifier.verify(bearer(request.authorization));
          userId = identity.userId;
          // A request is a frame of the user's, for the per-user limit (what a connection may not do, a REST loop may not either).
          const wait = deps.userLimits.takeFrame(identity.userId);
          if (wait > 0) throw new ParleyError('rate_limited', 'too many requests from this user; slow down', { retryAfterMs: wait });
          await handler({ res, request, identity, body: await body });
        } catch (err) {
          if (!(err instanceof ParleyError)) deps.log.error({ err, method: METHOD_NAMES[method], url: request.url, userId }, 'REST handler failed');
          sendFailure(res, request, err);
        }
      })().catch((err: unknown) => deps.faults.report(err, 'REST answer', { url: request.url }));
    }));
  };

  const validate = <T extends ClientFrameType>(type: T, body: unknown) => {
    const checked = validateClientPayload[type](body ?? {});
    if (!checked.ok) throw new ParleyError('validation_error', checked.message);
    return checked.value as never;
  };

  /** Submit a command and wait for the engine's decision. */
  const decide = async (ctx: Ctx, build: (c: CommandContext) => Built): Promise<CommandOutcome> => {
    const { connectionId, outcome } = deps.waiter.expect(deps.timeoutMs);
    const built = build({ identity: ctx.identity, origin: { gatewayId: deps.gatewayId, connectionId, awaitsAcceptance: true }, now: Date.now() });
    if (!built.ok) {
      deps.waiter.cancel(connectionId);
      throw new ParleyError(built.code, built.message);
    }
    const wait = FAN_OUT_COMMANDS.has(built.command.type) ? deps.userLimits.takeSend(ctx.identity.userId) : 0;
    if (wait > 0) {
      deps.waiter.cancel(connectionId);
      throw new ParleyError('rate_limited', FAN_OUT_LIMITED_MESSAGE, { retryAfterMs: wait });
    }
    try {
      await deps.submit(built.command);
    } catch (err) {
      deps.waiter.cancel(connectionId);
      throw new ParleyError('send_failed', 'the command could not be queued; retry', { cause: err });
    }
    const o = await outcome;
    if (!o) throw new ParleyError('send_failed', 'no decision in time; retry (with the same tempId for a message)');
    if (o.outcome === 'rejected') {
      const code = o.error?.code;
      throw new ParleyError(isErrorCode(code) ? code : 'internal', o.error?.message ?? 'rejected');
    }
    return o;
  };

  const readDb = (): ReadDb => {
    if (!deps.db) throw new ParleyError('internal', 'no read-model database on this gateway');
    return deps.db;
  };

  /**
   * Members only, and a non-member hears the same as for an id that does not exist (as the engine
   * answers them: lib/errors.ts conversationNotFound). Returns where the member's history starts.
   */
  const memberOnly = async (db: ReadDb, conversationId: string, userId: string): Promise<number> => {
    const since = await memberSince(db, conversationId, userId);
    if (since === null) {
      const { code, message } = conversationNotFound(conversationId);
      throw new ParleyError(code, message);
    }
    return since;
  };

  route('post', '/v1/messages', async (ctx) => {
    const payload = validate('message.send', ctx.body);
    const wait = deps.userLimits.takeSend(ctx.identity.userId);
    if (wait > 0) sends.inc('rate_limited');
    if (wait > 0) throw new ParleyError('rate_limited', 'too many messages from this user; retry this send (same tempId) later', { retryAfterMs: wait });
    if (!deps.admitSend(ctx.identity.userId)) throw new ParleyError('overloaded', OVERLOADED_MESSAGE);
    const o = await decide(ctx, (c) => buildSendMessage(payload, c));
    const m = o.result as WireMessage;
    sendJson(ctx.res, ctx.request, 201, { id: m.id, conversationId: m.conversationId, seq: m.seq, tempId: m.tempId, status: 'sent', createdAt: m.createdAt, message: m }, o.outcome === 'duplicate' ? { 'idempotent-replay': 'true' } : {});
  });

  route('post', '/v1/conversations', async (ctx) => {
    const payload = validate('conversation.create', ctx.body);
    const o = await decide(ctx, (c) => buildCreateConversation(payload, c));
    sendJson(ctx.res, ctx.request, o.outcome === 'duplicate' ? 200 : 201, { conversation: o.result });
  });

  route('get', '/v1/conversations', async (ctx) => {
    const limit = intParam(ctx.request.query.get('limit'), 50, 1, 200);
    sendJson(ctx.res, ctx.request, 200, { conversations: await conversationsOf(readDb(), ctx.identity.userId, limit) });
  });

  route('get', '/v1/conversations/:id/messages', async (ctx) => {
    const conversationId = idParam(ctx.request, 0, 'the conversation id');
    const before = ctx.request.query.has('before') ? intParam(ctx.request.query.get('before'), 0, 1, 2 ** 31 - 1) : undefined;
    const limit = intParam(ctx.request.query.get('limit'), 50, 1, 200);
    const db = readDb();
    const afterSeq = await memberOnly(db, conversationId, ctx.identity.userId);
    sendJson(ctx.res, ctx.request, 200, await messagesPage(db, conversationId, { afterSeq, ...(before !== undefined ? { before } : {}), limit }, ctx.identity.userId));
  });

  // Edit and delete: the rules of message.edit / message.delete (the engine's), answered once decided.
  route('patch', '/v1/conversations/:id/messages/:messageId', async (ctx) => {
    const conversationId = idParam(ctx.request, 0, 'the conversation id');
    const messageId = idParam(ctx.request, 1, 'the message id');
    const payload = validate('message.edit', { ...(ctx.body as object), conversationId, messageId });
    const o = await decide(ctx, (c) => buildEditMessage(payload, c));
    sendJson(ctx.res, ctx.request, 200, o.result, o.outcome === 'duplicate' ? { 'idempotent-replay': 'true' } : {});
  });

  route('del', '/v1/conversations/:id/messages/:messageId', async (ctx) => {
    const conversationId = idParam(ctx.request, 0, 'the conversation id');
    const messageId = idParam(ctx.request, 1, 'the message id');
    const payload = validate('message.delete', { conversationId, messageId });
    const o = await decide(ctx, (c) => buildDeleteMessage(payload, c));
    sendJson(ctx.res, ctx.request, 200, o.result, o.outcome === 'duplicate' ? { 'idempotent-replay': 'true' } : {});
  });

  // Reactions: the rules of reaction.add / reaction.remove. The emoji is the URL-decoded last path
  // segment, validated as the frame's. A reaction already there (or one not there to remove) is not
  // an error: 200 with changed false, as nothing changed.
  for (const [method, type] of [['put', 'reaction.add'], ['del', 'reaction.remove']] as const) {
    route(method, '/v1/conversations/:id/messages/:messageId/reactions/:emoji', async (ctx) => {
      const conversationId = idParam(ctx.request, 0, 'the conversation id');
      const messageId = idParam(ctx.request, 1, 'the message id');
      const payload = validate(type, { conversationId, messageId, emoji: ctx.request.params[2] });
      const o = await decide(ctx, (c) => buildReaction(type, payload, c));
      sendJson(ctx.res, ctx.request, 200, o.outcome === 'accepted' ? { changed: true, reaction: o.result } : { changed: false });
    });
  }

  // Running a group: the rules of conversation.update / add_members / remove_member / set_role and
  // join / leave (the engine's). What changes nothing (an update to the values it has, adding
  // members already in, the role a member has) is not an error: 200 with changed false.
  const changed = (o: CommandOutcome, key: string) => (o.outcome === 'noop' ? { changed: false } : { changed: true, [key]: o.result });

  route('patch', '/v1/conversations/:id', async (ctx) => {
    const conversationId = idParam(ctx.request, 0, 'the conversation id');
    const payload = validate('conversation.update', { ...(ctx.body as object), conversationId });
    sendJson(ctx.res, ctx.request, 200, changed(await decide(ctx, (c) => buildGroupAdmin('conversation.update', payload, c)), 'update'));
  });

  route('post', '/v1/conversations/:id/members', async (ctx) => {
    const conversationId = idParam(ctx.request, 0, 'the conversation id');
    const payload = validate('conversation.add_members', { ...(ctx.body as object), conversationId });
    sendJson(ctx.res, ctx.request, 200, changed(await decide(ctx, (c) => buildGroupAdmin('conversation.add_members', payload, c)), 'joined'));
  });

  // Removing yourself is leaving (conversation.leave); anyone else, conversation.remove_member.
  route('del', '/v1/conversations/:id/members/:userId', async (ctx) => {
    const conversationId = idParam(ctx.request, 0, 'the conversation id');
    const userId = idParam(ctx.request, 1, 'the user id');
    const o =
      userId === ctx.identity.userId
        ? await decide(ctx, (c) => buildMembership('conversation.leave', validate('conversation.leave', { conversationId }), c))
        : await decide(ctx, (c) => buildGroupAdmin('conversation.remove_member', validate('conversation.remove_member', { conversationId, userId }), c));
    sendJson(ctx.res, ctx.request, 200, changed(o, 'left'));
  });

  route('patch', '/v1/conversations/:id/members/:userId', async (ctx) => {
    const conversationId = idParam(ctx.request, 0, 'the conversation id');
    const userId = idParam(ctx.request, 1, 'the user id');
    const payload = validate('conversation.set_role', { ...(ctx.body as object), conversationId, userId });
    sendJson(ctx.res, ctx.request, 200, changed(await decide(ctx, (c) => buildGroupAdmin('conversation.set_role', payload, c)), 'update'));
  });

  route('post', '/v1/conversations/:id/join', async (ctx) => {
    const conversationId = idParam(ctx.request, 0, 'the conversation id');
    const payload = validate('conversation.join', { conversationId });
    sendJson(ctx.res, ctx.request, 200, changed(await decide(ctx, (c) => buildMembership('conversation.join', payload, c)), 'joined'));
  });

  route('post', '/v1/conversations/:id/read', async (ctx) => {
    const conversationId = idParam(ctx.request, 0, 'the conversation id');
    const body = validate('message.read', { ...(ctx.body as object), conversationId }) as { conversationId: string; upToSeq?: number };
    const o = await decide(ctx, (c) => buildReceipt('receipt.read', body, c));
    sendJson(ctx.res, ctx.request, 200, { conversationId, changed: o.outcome === 'accepted' });
  });

  route('get', '/v1/unread', async (ctx) => {
    sendJson(ctx.res, ctx.request, 200, await unreadOf(readDb(), ctx.identity.userId));
  });

  // Presence of any users (a group's member list), as the asker may see them: a user either of the
  // two blocks is offline and never seen, like an id nobody has. 503 unavailable when the presence
  // service does not answer within 2 s.
  route('get', '/v1/presence', async (ctx) => {
    const users = presenceUsersParam(ctx.request.query);
    if (!deps.askPresence) throw new ParleyError('unavailable', 'presence is not available on this gateway');
    sendJson(ctx.res, ctx.request, 200, { users: await deps.askPresence(ctx.identity.userId, users) });
  });

  if (deps.admin) mountAdminRoutes(route, deps.admin);
  if (deps.push) mountPushRoutes(route, deps.push);
}

function intParam(raw: string | null, fallback: number, min: number, max: number): number {
  if (raw === null || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new ParleyError('validation_error', `expected a whole number, got ${JSON.stringify(raw)}`);
  const n = Number(raw);
  if (n < min || n > max) throw new ParleyError('validation_error', `expected a number from ${min} to ${max}`);
  return n;
}
