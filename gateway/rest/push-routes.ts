import type { NatsConnection } from '@nats-io/nats-core';
import { conversationNotFound, ParleyError } from '../../lib/errors.js';
import type { Names } from '../../lib/names.js';
import { endpointProblem } from '../../lib/push-endpoint.js';
import { authSecretProblem, p256dhProblem } from '../../lib/push-keys.js';
import { readPushLog } from '../../lib/push-log.js';
import type { PushMuteStore } from '../../lib/push-mutes.js';
import type { PushSubscriptionStore } from '../../lib/push-subscriptions.js';
import { compile, PushSubscriptionBody } from '../../schemas/index.js';
import { idParam, sendEmpty, sendJson } from './http.js';
import type { Route } from './routes.js';

export type PushRouteDeps = {
  store: PushSubscriptionStore;
  mutes: PushMuteStore;
  /** Whether the user is a member of the conversation (the read models); none: not checked. */
  isMember?: (conversationId: string, userId: string) => Promise<boolean>;
  /** The VAPID public key browsers subscribe with; none: push is not configured on this installation. */
  vapidPublicKey?: string;
  allowInsecure: boolean;
  nc: NatsConnection;
  names: Names;
};

const validateBody = compile(PushSubscriptionBody);

/** A mute with an end may end at most this far ahead (without one it lasts until unmuted). */
const MUTE_MAX_MS = 366 * 86_400_000;

/** GET /v1/push/log returns at most this many records (the newest). */
const LOG_LIMIT_MAX = 200;

/**
 * /v1/push: a user's Web Push subscriptions (PROTOCOL.md "Push to offline users") and the record
 * of what was pushed to them. Everything a client sends is checked before it is stored: the push
 * projector later POSTs to the endpoint, so an unchecked one is a way into the private network
 * (lib/push-endpoint.ts), and an unusable key would fail every push for it in silence.
 */
export function mountPushRoutes(route: Route, deps: PushRouteDeps): void {
  route('get', '/v1/push/vapid-public-key', async (ctx) => {
    if (deps.vapidPublicKey === undefined) throw new ParleyError('unavailable', 'Web Push is not configured on this server (no VAPID keys)');
    sendJson(ctx.res, ctx.request, 200, { publicKey: deps.vapidPublicKey });
  });

  route('post', '/v1/push/subscriptions', async (ctx) => {
    const checked = validateBody(ctx.body ?? {});
    if (!checked.ok) throw new ParleyError('validation_error', checked.message);
    const body = checked.value;
    const problem = endpointProblem(body.endpoint, deps.allowInsecure) ?? p256dhProblem(body.keys.p256dh) ?? authSecretProblem(body.keys.auth);
    if (problem !== undefined) throw new ParleyError('validation_error', problem);
    const { id, created } = await deps.store.add(
      ctx.identity.userId,
      { endpoint: body.endpoint, keys: body.keys, ...(body.deviceId !== undefined ? { deviceId: body.deviceId } : {}), ...(body.preview === false ? { preview: false } : {}) },
      Date.now(),
    );
    sendJson(ctx.res, ctx.request, created ? 201 : 200, { id });
  });

  route('get', '/v1/push/subscriptions', async (ctx) => {
    const subscriptions = await deps.store.list(ctx.identity.userId);
    // The keys stay with us: a listing is for telling devices apart, not for taking their keys elsewhere.
    sendJson(ctx.res, ctx.request, 200, {
      subscriptions: subscriptions.map((s) => ({ id: s.id, endpoint: s.endpoint, ...(s.deviceId !== undefined ? { deviceId: s.deviceId } : {}), preview: s.preview !== false, createdAt: s.createdAt })),
    });
  });

  route('del', '/v1/push/subscriptions/:id', async (ctx) => {
    const id = idParam(ctx.request, 0, 'the subscription id');
    if (!(await deps.store.remove(ctx.identity.userId, id))) throw new ParleyError('not_found', `no push subscription ${id}`);
    sendEmpty(ctx.res, ctx.request, 204);
  });

  // Muting is about pushes only: messages still arrive on every open connection and in the inbox.
  const member = async (conversationId: string, userId: string) => {
    if (deps.isMember && !(await deps.isMember(conversationId, userId))) {
      const { code, message } = conversationNotFound(conversationId);
      throw new ParleyError(code, message);
    }
  };

  route('post', '/v1/conversations/:id/mute', async (ctx) => {
    const conversationId = idParam(ctx.request, 0, 'the conversation id');
    const body = (ctx.body ?? {}) as { until?: unknown };
    if (typeof body !== 'object' || Array.isArray(body) || Object.keys(body).some((k) => k !== 'until')) {
      throw new ParleyError('validation_error', 'the body is { until? } (an ISO 8601 time; none: until unmuted)');
    }
    let until: number | undefined;
    if (body.until !== undefined && body.until !== null) {
      until = typeof body.until === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(body.until) ? Date.parse(body.until) : Number.NaN;
      if (!Number.isFinite(until) || until <= Date.now() || until > Date.now() + MUTE_MAX_MS) {
        throw new ParleyError('validation_error', 'until must be an ISO 8601 time in the future, within a year');
      }
    }
    await member(conversationId, ctx.identity.userId);
    await deps.mutes.mute(ctx.identity.userId, conversationId, until, Date.now());
    sendJson(ctx.res, ctx.request, 200, { conversationId, mutedUntil: until === undefined ? null : new Date(until).toISOString() });
  });

  route('del', '/v1/conversations/:id/mute', async (ctx) => {
    const conversationId = idParam(ctx.request, 0, 'the conversation id');
    await member(conversationId, ctx.identity.userId);
    sendJson(ctx.res, ctx.request, 200, { conversationId, changed: await deps.mutes.unmute(ctx.identity.userId, conversationId, Date.now()) });
  });

  route('get', '/v1/push/log', async (ctx) => {
    const raw = ctx.request.query.get('limit');
    let limit = 50;
    if (raw !== null && raw !== '') {
      if (!/^\d{1,4}$/.test(raw) || Number(raw) < 1 || Number(raw) > LOG_LIMIT_MAX) throw new ParleyError('validation_error', `limit must be a number from 1 to ${LOG_LIMIT_MAX}`);
      limit = Number(raw);
    }
    sendJson(ctx.res, ctx.request, 200, { records: await readPushLog(deps.nc, deps.names, ctx.identity.userId, limit) });
  });
}
