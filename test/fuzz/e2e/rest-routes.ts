import type { TemplatedApp } from 'uWebSockets.js';
import { Faults } from '../../../lib/faults.js';
import { mountRest, type RestDeps } from '../../../gateway/rest/routes.js';
import type { ClientFrameType } from '../../../schemas/index.js';
import { testLog } from '../../helpers/system.js';

export type Route = { method: string; pattern: string };

/**
 * The REST routes as the gateway mounts them, read off mountRest itself by a stand-in app that
 * records each registration: a route added there is fuzzed without being listed anywhere else.
 */
export function restRoutes(): Route[] {
  const routes: Route[] = [];
  const app: TemplatedApp = new Proxy({} as TemplatedApp, {
    get: (_target, method) => (pattern: string) => {
      // uWebSockets.js calls DELETE `del`.
      routes.push({ method: method === 'del' ? 'DELETE' : String(method).toUpperCase(), pattern });
      return app;
    },
  });
  // Only what mountRest touches while registering: each handler's guard, and whether to mount the admin and push routes.
  mountRest(app, { faults: new Faults(testLog), admin: {}, push: {} } as RestDeps);
  return routes;
}

/** The client frame whose payload a route's body is (the body a client would send), where there is one. */
export const bodyOfRoute: Record<string, ClientFrameType> = {
  'POST /v1/messages': 'message.send',
  'POST /v1/conversations': 'conversation.create',
  'POST /v1/conversations/:id/read': 'message.read',
  'PATCH /v1/conversations/:id/messages/:messageId': 'message.edit',
  'PATCH /v1/conversations/:id': 'conversation.update',
  'POST /v1/conversations/:id/members': 'conversation.add_members',
  'PATCH /v1/conversations/:id/members/:userId': 'conversation.set_role',
};
