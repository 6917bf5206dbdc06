import t from 'tap';
import fc from 'fast-check';
import { request } from 'node:http';
import { startOpsServer, type OpsReadiness } from '../../app/ops-server.js';
import { metricsText } from '../../lib/metrics.js';
import { createLogger } from '../../lib/log.js';

const log = createLogger({ level: 'silent' });

/** A raw request (method and path as given, not normalised by a client library). */
function ask(port: number, method: string, path: string): Promise<{ status: number; type: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, timeout: 5_000, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

t.test('the three routes, and nothing else', async (t) => {
  let readiness: OpsReadiness = { ready: true, checks: [] };
  const server = await startOpsServer({
    host: '127.0.0.1',
    port: 0,
    handlers: { metrics: metricsText, health: () => ({ status: 'ok' }), ready: async () => readiness },
    log,
  });
  t.teardown(() => server.stop());
  t.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);

  const metrics = await ask(server.port, 'GET', '/metrics');
  t.equal(metrics.status, 200);
  t.match(metrics.type, /^text\/plain/);
  t.match(metrics.body, /parley_nodejs_eventloop_lag_seconds/, 'event-loop lag from the default metrics, prefixed');
  t.match(metrics.body, /parley_process_resident_memory_bytes|parley_nodejs_heap_size_used_bytes/, 'memory');

  t.same(JSON.parse((await ask(server.port, 'GET', '/health')).body), { status: 'ok' });
  t.equal((await ask(server.port, 'GET', '/ready')).status, 200);
  readiness = { ready: false, checks: [{ name: 'nats', ok: false, detail: 'disconnected' }] };
  const notReady = await ask(server.port, 'GET', '/ready?x=1');
  t.equal(notReady.status, 503);
  t.same(JSON.parse(notReady.body), readiness);

  t.equal((await ask(server.port, 'HEAD', '/health')).body, '', 'HEAD: no body');
  t.equal((await ask(server.port, 'POST', '/metrics')).status, 405);
  t.equal((await ask(server.port, 'GET', '/')).status, 404);
  t.equal((await ask(server.port, 'GET', '/metrics/x')).status, 404);
});

t.test('a handler that throws is a 500, and the server goes on', async (t) => {
  const server = await startOpsServer({
    host: '127.0.0.1',
    port: 0,
    handlers: {
      metrics: () => Promise.reject(new Error('boom')),
      health: () => {
        throw new Error('boom');
      },
      ready: () => Promise.reject(new Error('boom')),
    },
    log,
  });
  t.teardown(() => server.stop());
  for (const path of ['/metrics', '/health', '/ready']) t.equal((await ask(server.port, 'GET', path)).status, 500, path);
  t.equal((await ask(server.port, 'GET', '/nope')).status, 404);
});

t.test('hostile methods and paths never crash it; only /metrics, /health and /ready answer 200 or 503', async (t) => {
  const server = await startOpsServer({
    host: '127.0.0.1',
    port: 0,
    handlers: { metrics: metricsText, health: () => ({ status: 'ok' }), ready: async () => ({ ready: false, checks: [] }) },
    log,
  });
  t.teardown(() => server.stop());
  const token = fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}$/);
  const method = fc.oneof(fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT'), token);
  const segment = fc.oneof(
    fc.constantFrom('metrics', 'health', 'ready', '..', '.', '%2e%2e', 'metrics%00', 'METRICS', ''),
    fc.stringMatching(/^[A-Za-z0-9._~%!$&'()*+,;=:@-]{0,20}$/),
  );
  const path = fc.tuple(fc.array(segment, { minLength: 0, maxLength: 4 }), fc.option(fc.stringMatching(/^[A-Za-z0-9=&%?/-]{0,20}$/))).map(
    ([parts, query]) => `/${parts.join('/')}${query !== null ? `?${query}` : ''}`,
  );
  await fc.assert(
    fc.asyncProperty(method, path, async (m, p) => {
      const answer = await ask(server.port, m, p).catch((err: Error) => ({ status: -1, type: undefined, body: err.message }));
      // CONNECT and odd methods may be refused by Node's parser (the socket is destroyed): never a crash.
      if (answer.status === -1) return;
      const route = p.split('?')[0];
      const served = route === '/metrics' || route === '/health' || route === '/ready';
      if (answer.status === 200 || answer.status === 503) {
        t.ok(served && (m === 'GET' || m === 'HEAD'), `${m} ${p} answered ${answer.status}`);
      } else {
        t.ok([400, 404, 405].includes(answer.status), `${m} ${p} answered ${answer.status}`);
      }
    }),
    { numRuns: 300 },
  );
  // Still answering after all that.
  t.equal((await ask(server.port, 'GET', '/health')).status, 200);
});
