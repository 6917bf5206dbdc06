import type { HttpResponse, TemplatedApp, WebSocketBehavior } from 'uWebSockets.js';
import { errorBody } from '../lib/errors.js';
import type { Faults } from '../lib/faults.js';
import type { Readiness } from '../lib/readiness.js';
import { metricsText } from '../lib/metrics.js';
import type { SocketData } from './connection.js';
import { mountDemoRoutes, type DemoRouteDeps } from './demo-routes.js';
import type { GatewayHealth } from './gateway.js';
import { guardHttp } from './guard.js';
import { mountRest, type RestDeps } from './rest/routes.js';

/**
 * Every route of the gateway's uWS app: REST under /v1, the socket at /ws, /health, /ready, /metrics, the browser
 * demo under /demo when it is on, and a 404 for anything else.
 */
export function mountRoutes(
  app: TemplatedApp,
  routes: {
    rest: RestDeps;
    socket: WebSocketBehavior<SocketData>;
    health: () => GatewayHealth;
    ready: () => Promise<Readiness>;
    demo?: DemoRouteDeps;
    faults: Faults;
  },
): void {
  const { faults, health, ready } = routes;
  mountRest(app, routes.rest);
  if (routes.demo) mountDemoRoutes(app, routes.demo);
  app.ws<SocketData>('/ws', routes.socket);
  app.get(
    '/health',
    guardHttp(faults, 'health', (res) => {
      const h = health();
      json(res, h.status === 'ok' ? '200 OK' : '503 Service Unavailable', h);
    }),
  );
  // Readiness (app/readiness.ts): 503 while draining, while NATS or Postgres is unreachable, or while
  // a projector is stuck. Asynchronous: the answer waits for the probes (each at most ~1 s, cached).
  app.get(
    '/ready',
    guardHttp(faults, 'ready', (res) => {
      let aborted = false;
      res.onAborted(() => (aborted = true));
      // Answered later: nothing thrown here may escape as an unhandled rejection (it would end the process).
      const answer = (status: string, body: unknown) => {
        if (aborted) return;
        try {
          json(res, status, body);
        } catch (err) {
          faults.report(err, 'ready (answering)');
        }
      };
      ready().then(
        (r) => answer(r.ready ? '200 OK' : '503 Service Unavailable', r),
        (err: unknown) => {
          faults.report(err, 'ready');
          answer('500 Internal Server Error', { error: errorBody('internal', 'internal error') });
        },
      );
    }),
  );
  app.get(
    '/metrics',
    guardHttp(faults, 'metrics', (res) => {
      // The registry is read asynchronously (gauges collected at scrape time): the response may be gone by then.
      let aborted = false;
      res.onAborted(() => (aborted = true));
      metricsText().then(
        ({ contentType, body }) => {
          if (!aborted) res.cork(() => res.writeStatus('200 OK').writeHeader('content-type', contentType).end(body));
        },
        (err: unknown) => {
          faults.report(err, 'metrics');
          if (!aborted) json(res, '500 Internal Server Error', { error: errorBody('internal', 'internal error') });
        },
      );
    }),
  );
  app.any(
    '/*',
    guardHttp(faults, 'no route', (res) => json(res, '404 Not Found', { error: errorBody('not_found', 'no such route') })),
  );
}

function json(res: HttpResponse, status: string, body: unknown): void {
  res.cork(() => res.writeStatus(status).writeHeader('content-type', 'application/json').end(JSON.stringify(body)));
}
