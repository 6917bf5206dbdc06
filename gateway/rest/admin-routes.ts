import { ParleyError } from '../../lib/errors.js';
import type { GatewayAdmin } from '../admin.js';
import { ADMIN_SCOPE } from '../auth.js';
import { idParam, sendJson } from './http.js';
import type { Ctx, Route } from './routes.js';

/**
 * /v1/admin: a user's connections on every gateway, disconnect them, revoke their tokens. Only for
 * tokens whose `scope` holds parley:admin (403 `forbidden` for others, 401 without a token).
 */
export function mountAdminRoutes(route: Route, admin: GatewayAdmin): void {
  /** The user id of the path, once the caller is known to be an administrator. */
  const target = (ctx: Ctx): string => {
    if (!ctx.identity.admin) throw new ParleyError('forbidden', `this route needs a token with the ${ADMIN_SCOPE} scope`);
    return idParam(ctx.request, 0, 'the user id');
  };

  route('get', '/v1/admin/users/:id/connections', async (ctx) => {
    const userId = target(ctx);
    const { connections, gateways } = await overNats(() => admin.listConnections(userId));
    sendJson(ctx.res, ctx.request, 200, { userId, connections, gateways });
  });

  route('post', '/v1/admin/users/:id/disconnect', async (ctx) => {
    const userId = target(ctx);
    const { disconnected, gateways } = await overNats(() => admin.disconnectEverywhere(userId));
    sendJson(ctx.res, ctx.request, 200, { userId, disconnected, gateways });
  });

  route('post', '/v1/admin/users/:id/revoke', async (ctx) => {
    const userId = target(ctx);
    const result = await overNats(() => admin.revoke(userId, ctx.identity.userId));
    sendJson(ctx.res, ctx.request, 200, { userId, revokedAt: new Date(result.revokedAt).toISOString(), disconnected: result.disconnected, gateways: result.gateways });
  });
}

/** NATS trouble (no connection, the bucket unwritable) is temporary: `send_failed`, retry. */
async function overNats<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof ParleyError) throw err;
    throw new ParleyError('send_failed', 'the gateways could not be reached; retry', { cause: err });
  }
}
