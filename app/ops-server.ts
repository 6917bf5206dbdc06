/**
 * The ops HTTP server of roles without a gateway (engine, projector, backend, push): GET /metrics
 * (Prometheus text), /health (liveness: 200 with the role's health JSON while the process works)
 * and /ready (200 with the readiness JSON when ready, 503 when not), on PARLEY_METRICS_PORT. Roles
 * with a gateway serve the same three on the gateway's port (gateway/app-routes.ts).
 *
 * It answers operators and orchestrators, not the internet, and listens on 127.0.0.1 unless told
 * otherwise; still, everything else is a 404, a method other than GET/HEAD a 405, and nothing a
 * request holds is echoed or parsed beyond its path.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../lib/log.js';

/** What /ready answers (app/readiness.ts defines the same shape). */
export type OpsReadiness = { ready: boolean; checks: { name: string; ok: boolean; detail?: string }[] };

export type OpsHandlers = {
  /** The Prometheus text and its content type (lib/metrics.ts metricsText). */
  metrics: () => Promise<{ contentType: string; body: string }>;
  /** The role's health JSON (liveness: answered 200 whatever it says). */
  health: () => unknown;
  ready: () => Promise<OpsReadiness>;
};

export type OpsServer = { url: string; port: number; stop(): Promise<void> };

/** Start it on `host:port` (0: a free port). */
export async function startOpsServer(opts: { host: string; port: number; handlers: OpsHandlers; log: Logger }): Promise<OpsServer> {
  const { handlers, log } = opts;
  const server: Server = createServer((req, res) => {
    answer(req, res, handlers).catch((err: unknown) => {
      log.error({ err, path: pathOf(req.url) }, 'ops request failed');
      if (!res.headersSent) send(res, req, 500, 'application/json', JSON.stringify({ error: 'internal' }));
      else res.destroy();
    });
  });
  // A slow or idle client cannot hold a socket for long (this server answers in milliseconds).
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 5_000;
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const url = `http://${host}:${port}`;
  log.info({ url }, 'ops server listening (/metrics, /health, /ready)');
  return {
    url,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The path alone: no query, no fragment; undefined when there is none to speak of. */
function pathOf(url: string | undefined): string | undefined {
  if (url === undefined || !url.startsWith('/')) return undefined;
  const end = url.search(/[?#]/);
  return end === -1 ? url : url.slice(0, end);
}

async function answer(req: IncomingMessage, res: ServerResponse, handlers: OpsHandlers): Promise<void> {
  const path = pathOf(req.url);
  const known = path === '/metrics' || path === '/health' || path === '/ready';
  if (!known) return send(res, req, 404, 'application/json', JSON.stringify({ error: 'not_found' }));
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return send(res, req, 405, 'application/json', JSON.stringify({ error: 'method_not_allowed' }));
  }
  if (path === '/metrics') {
    const { contentType, body } = await handlers.metrics();
    return send(res, req, 200, contentType, body);
  }
  if (path === '/health') return send(res, req, 200, 'application/json', JSON.stringify(handlers.health()));
  const readiness = await handlers.ready();
  send(res, req, readiness.ready ? 200 : 503, 'application/json', JSON.stringify(readiness));
}

function send(res: ServerResponse, req: IncomingMessage, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}
