import t from 'tap';
import fc from 'fast-check';
import { request } from 'node:http';
import { randomBytes } from 'node:crypto';
import { startSystem } from '../helpers/system.js';
import { startRoleProcess } from '../helpers/processes.js';
import { scrape, valueOf, type Sample } from '../helpers/prometheus.js';

/** Poll `check` until it holds (or 15 s pass); returns the last scrape. */
async function until(url: string, check: (s: Sample[]) => boolean): Promise<Sample[]> {
  let samples = await scrape(url);
  for (let i = 0; i < 300 && !check(samples); i++) {
    await new Promise((r) => setTimeout(r, 50));
    samples = await scrape(url);
  }
  return samples;
}

t.test('/metrics on every role: series move as messages flow, and no label holds an id', async (t) => {
  const sys = await startSystem(t, {}, []);
  // The engine first: it makes the streams the others then only check.
  const engine = await startRoleProcess(t, 'engine', sys.config);
  const projector = await startRoleProcess(t, 'projector', sys.config);
  const gateway = await startRoleProcess(t, 'gateway', sys.config);
  t.ok(engine.opsUrl && projector.opsUrl, 'roles without a gateway print their ops server in the ready line');
  t.notOk(gateway.opsUrl, 'a gateway serves /metrics on its own port');
  const urls = { gateway: gateway.url.replace(/^ws/, 'http').replace(/\/ws$/, ''), engine: engine.opsUrl!, projector: projector.opsUrl! };

  const before = { gateway: await scrape(urls.gateway), engine: await scrape(urls.engine), projector: await scrape(urls.projector) };
  for (const [role, samples] of Object.entries(before)) {
    t.ok(valueOf(samples, 'parley_nodejs_eventloop_lag_seconds') >= 0 && samples.some((s) => s.name === 'parley_nodejs_eventloop_lag_seconds'), `${role}: event-loop lag`);
    t.ok(samples.some((s) => s.name === 'parley_process_resident_memory_bytes'), `${role}: memory`);
    t.equal(valueOf(samples, 'parley_nats_connected', { connection: `parley-${role}` }), 1, `${role}: its NATS connection is up`);
  }

  // Ids no metric may carry: random, so a match is not a coincidence.
  const alice = `alice${randomBytes(4).toString('hex')}`;
  const bob = `bob${randomBytes(4).toString('hex')}`;
  const a = await sys.connect(alice, { url: gateway.url });
  const b = await sys.connect(bob, { url: gateway.url });
  const sent = 5;
  for (let i = 1; i <= sent; i++) a.send({ type: 'message.send', payload: { toUserId: bob, tempId: `m${i}`, content: `hello ${i}` } });
  const got = await b.collect('message.new', sent);
  const conversationId = got[0]!.payload.message.conversationId as string;
  a.send({ type: 'no.such.frame', payload: {} });
  await a.next('error');

  const gw = await until(urls.gateway, (s) => valueOf(s, 'parley_gateway_frames_in_total', { type: 'other' }) > valueOf(before.gateway, 'parley_gateway_frames_in_total', { type: 'other' }));
  const delta = (after: Sample[], was: Sample[], name: string, labels: Record<string, string> = {}) => valueOf(after, name, labels) - valueOf(was, name, labels);
  t.equal(delta(gw, before.gateway, 'parley_gateway_frames_in_total', { type: 'message.send' }), sent, 'frames in: message.send');
  t.equal(delta(gw, before.gateway, 'parley_gateway_frames_in_total', { type: 'other' }), 1, 'an unknown frame type counts as other');
  t.ok(delta(gw, before.gateway, 'parley_gateway_frames_out_total', { type: 'message.new' }) >= sent, 'frames out: message.new');
  t.ok(delta(gw, before.gateway, 'parley_gateway_frames_out_total', { type: 'connection.success' }) >= 2, 'frames out: connection.success');
  t.equal(delta(gw, before.gateway, 'parley_gateway_errors_sent_total', { code: 'unknown_type' }), 1, 'errors by code');
  t.equal(delta(gw, before.gateway, 'parley_gateway_sends_total', { result: 'admitted' }), sent, 'sends admitted');
  t.equal(valueOf(gw, 'parley_gateway_connections'), 2, 'connections');
  t.equal(valueOf(gw, 'parley_gateway_users'), 2, 'users');
  t.ok(delta(gw, before.gateway, 'parley_gateway_sessions_total', { start: 'fresh' }) >= 2, 'sessions started');

  const en = await until(urls.engine, (s) => delta(s, before.engine, 'parley_engine_commands_total', { command: 'message.send', outcome: 'accepted' }) >= sent);
  t.ok(delta(en, before.engine, 'parley_engine_commands_total', { command: 'message.send', outcome: 'accepted' }) >= sent, 'engine: sends accepted');
  t.ok(delta(en, before.engine, 'parley_engine_decide_seconds_count', { command: 'message.send' }) >= sent, 'engine: decide latency observed');

  const pr = await until(
    urls.projector,
    (s) => delta(s, before.projector, 'parley_projector_events_total', { projector: 'delivery' }) >= sent && delta(s, before.projector, 'parley_projector_events_total', { projector: 'postgres' }) >= sent,
  );
  t.ok(delta(pr, before.projector, 'parley_projector_events_total', { projector: 'delivery' }) >= sent, 'projector: delivery events');
  t.ok(delta(pr, before.projector, 'parley_projector_events_total', { projector: 'postgres' }) >= sent, 'projector: postgres events');
  t.ok(delta(pr, before.projector, 'parley_projector_batch_size_count', { projector: 'postgres' }) >= 1, 'projector: batch sizes');
  t.ok(pr.some((s) => s.name === 'parley_projector_lag_events' && s.labels.projector === 'delivery'), 'projector: lag in events');
  t.ok(pr.some((s) => s.name === 'parley_projector_lag_seconds' && s.labels.projector === 'postgres'), 'projector: lag in seconds');

  for (const [role, samples] of Object.entries({ gateway: gw, engine: en, projector: pr })) {
    const leaks = samples.filter((s) => Object.values(s.labels).some((v) => v.includes(alice) || v.includes(bob) || v.includes(conversationId)));
    t.same(leaks, [], `${role}: no label value holds a user or conversation id`);
  }

  // The ops server answers /health and /ready too, and stops with its role on SIGTERM.
  const health = await fetch(`${urls.engine}/health`);
  t.equal(health.status, 200);
  t.match(await health.json(), { role: 'engine', nats: { connected: true } });
  t.equal((await fetch(`${urls.engine}/ready`)).status, 200);
  t.equal((await fetch(`${urls.engine}/nope`)).status, 404);
  t.equal(await engine.kill('SIGTERM'), 0, 'the engine stops cleanly on SIGTERM');
  await t.rejects(fetch(`${urls.engine}/metrics`), 'its ops server is gone with it');
  t.equal(await projector.kill('SIGTERM'), 0);
  t.equal(await gateway.kill('SIGTERM'), 0);
});

t.test('GET /metrics on the gateway port: hostile methods and paths are answered, never crash it', async (t) => {
  const sys = await startSystem(t);
  const { hostname, port } = new URL(sys.url);
  const ask = (method: string, path: string) =>
    new Promise<{ status: number; type: string | undefined }>((resolve) => {
      const req = request({ host: hostname, port, method, path, agent: false, timeout: 5_000 }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'] }));
      });
      // A method or path the server refuses at the parser: the socket closes; not a crash.
      req.on('error', () => resolve({ status: -1, type: undefined }));
      req.on('timeout', () => req.destroy());
      req.end();
    });
  const ok = await ask('GET', '/metrics');
  t.equal(ok.status, 200);
  t.match(ok.type, /^text\/plain; version=0\.0\.4/, "prom-client's content type");
  const method = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'FOO');
  const path = fc
    .tuple(fc.constantFrom('/metrics', '/metrics/', '/METRICS', '/metrics/..', '/./metrics', '//metrics', '/metrics%00', '/health/../metrics'), fc.stringMatching(/^[A-Za-z0-9=&%?/.-]{0,24}$/))
    .map(([p, rest]) => p + rest);
  await fc.assert(
    fc.asyncProperty(method, path, async (m, p) => {
      const { status } = await ask(m, p);
      t.ok(status === -1 || (status >= 200 && status < 500), `${m} ${p}: ${status}`);
    }),
    { numRuns: 150 },
  );
  t.equal((await ask('GET', '/metrics')).status, 200, 'still serving');
  t.equal((await fetch(sys.url.replace('ws://', 'http://').replace('/ws', '/health'))).status, 200);
});
