import t from 'tap';
import fc from 'fast-check';
import pg from 'pg';
import { AckPolicy } from '@nats-io/jetstream';
import { readinessOf, type Readiness } from '../../app/readiness.js';
import type { Running } from '../../app/roles.js';
import { makeNames } from '../../lib/names.js';
import { jetstreamManager } from '../../lib/nats.js';
import { freePort, startNatsServer } from '../helpers/nats-server.js';
import { rawRequest } from '../helpers/raw-http.js';
import { startSystem, testConfig } from '../helpers/system.js';

/**
 * GET /ready (app/readiness.ts): 200 while the process can take work, 503 while NATS is gone,
 * while it drains, while Postgres does not answer; back to 200 when NATS is back. The projector
 * role has no gateway port (its /ready is on the ops server, app/ops-server.ts): its readiness is
 * tested here through readinessOf, in-process.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
t.setTimeout(180_000);

type Answer = { status: number; body: Readiness };
const failing = (r: Readiness) => r.checks.filter((c) => !c.ok).map((c) => c.name);

t.test('/ready: 200, 503 naming nats while NATS is down, 200 again once it is back; never 200 while draining', async (t) => {
  // Our own server, registered first so that it is torn down last (the system's teardown needs it).
  const nats = await startNatsServer(t);
  const sys = await startSystem(t, { natsUrl: [nats.url] });
  const base = sys.url.replace('ws://', 'http://').replace(/\/ws$/, '');
  const ready = async (): Promise<Answer> => {
    const res = await fetch(`${base}/ready`);
    return { status: res.status, body: (await res.json()) as Readiness };
  };
  const until = async (want: number, withinMs: number): Promise<Answer> => {
    const deadline = Date.now() + withinMs;
    let last = await ready();
    while (last.status !== want && Date.now() < deadline) {
      await sleep(200);
      last = await ready();
    }
    return last;
  };

  const up = await until(200, 10_000);
  t.equal(up.status, 200, '/ready is 200 on a running system');
  t.equal(up.body.ready, true);
  const names = up.body.checks.map((c) => c.name);
  for (const name of ['draining', 'nats', 'nats-commands', 'postgres', 'delivery']) t.ok(names.includes(name), `role all checks ${name}`);
  t.equal((await fetch(`${base}/health`)).status, 200, '/health (liveness) is there too');

  // A second process of role projector: no gateway, so readinessOf directly (what the ops server serves).
  const projector = await sys.start('projector');
  const projectorReady = readinessOf(projector, sys.config);
  const p = await projectorReady();
  t.equal(p.ready, true, `the projector role is ready: ${JSON.stringify(p)}`);
  t.same(
    p.checks.find((c) => c.name === 'postgres-projector'),
    { name: 'postgres-projector', ok: true, detail: 'standby' },
    'its postgres projector stands by (the first process holds the lease): a healthy spare',
  );

  t.test('hostile requests to /ready never crash the gateway', async (t) => {
    // No space: a request line with one more is not a path (uWS waits for the rest of it).
    const pathChar = fc.constantFrom(...'abcz.-_~/%\\:;@!$&\'()*+,=?#[]"<>^`{|}'.split(''), '%00', '%2f', '..', '\u00e9');
    await fc.assert(
      fc.asyncProperty(
        fc.array(pathChar, { maxLength: 20 }).map((a) => `/ready${a.join('')}`),
        fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'GETT', 'get'),
        fc.dictionary(fc.stringMatching(/^[a-z-]{1,20}$/), fc.string({ maxLength: 100 }).map((s) => s.replace(/[\r\n]/g, '')), { maxKeys: 4 }),
        fc.boolean(),
        async (path, method, headers, hangUp) => {
          const status = await rawRequest(base, { method, path, headers, hangUp });
          if (status >= 500 && status !== 503) throw new Error(`${status} for ${method} ${JSON.stringify(path)}`);
        },
      ),
      { numRuns: 200 },
    );
    const after = await ready();
    t.equal(after.status, 200, 'still ready afterwards');
  });

  t.test('NATS stopped: 503 naming nats; restarted: 200 again', async (t) => {
    await nats.kill('SIGKILL');
    const stopped = Date.now();
    const down = await until(503, 15_000);
    t.equal(down.status, 503, `/ready went 503 within ${Date.now() - stopped} ms`);
    t.equal(down.body.ready, false);
    t.ok(failing(down.body).includes('nats'), `the nats check fails: ${JSON.stringify(down.body.checks)}`);
    const pDown = await projectorReady();
    t.equal(pDown.ready, false, 'the projector role too');
    t.ok(failing(pDown).includes('nats'), `its nats check fails: ${JSON.stringify(pDown.checks)}`);

    await nats.start();
    const restarted = Date.now();
    const back = await until(200, 30_000);
    t.equal(back.status, 200, `/ready back to 200 within ${Date.now() - restarted} ms: ${JSON.stringify(back.body.checks)}`);
    let pBack = await projectorReady();
    for (const deadline = Date.now() + 15_000; !pBack.ready && Date.now() < deadline; pBack = await projectorReady()) await sleep(200);
    t.equal(pBack.ready, true, `the projector role too: ${JSON.stringify(pBack.checks)}`);
  });

  t.test('a projector stuck behind the log: not ready, naming it and its partition', async (t) => {
    // Events in the log, then a durable nobody consumes, presented as this process's delivery
    // partition 5: it is behind, and does not move. Bounds: any lag, unmoved for 1 s. (Its own name:
    // the running delivery projector removes durables named like other layouts of its partitions.)
    const alice = await sys.connect('alice');
    alice.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: 'r1', content: 'into the log' } });
    await alice.next('message.sent');
    const all = sys.running[0]!;
    const jsm = await jetstreamManager(all.nc);
    const durable = 'readiness_stuck';
    const names = { ...all.names, consumers: { ...all.names.consumers, deliveryPartition: () => durable } };
    await jsm.consumers.add(all.names.streams.events, { durable_name: durable, ack_policy: AckPolicy.All });
    const config = { ...sys.config, delivery: { ...sys.config.delivery, partitions: 8 }, ready: { maxLagEvents: 0, maxLagMs: 1_000 } };
    const stuck = { ...all, names, push: undefined, postgres: undefined, delivery: { stats: () => ({ events: 0, writes: 0, failed: 0, lastEventSeq: 0, partitions: [5] }), stop: async () => undefined } };
    const ready = readinessOf(stuck as unknown as Running, config);
    t.equal((await ready()).ready, true, 'behind, but not yet unmoved for 1 s');
    await sleep(2_100);
    const r = await ready();
    t.equal(r.ready, false, 'unmoved for more than 1 s');
    const check = r.checks.find((c) => c.name === 'delivery');
    t.equal(check?.ok, false);
    t.match(check?.detail, /^partition 5: \d+ events behind, unmoved for \d+ s$/, `named: ${check?.detail}`);
    await jsm.consumers.delete(all.names.streams.events, durable);
    await sleep(1_100);
    t.equal((await ready()).ready, true, 'no durable (nothing to judge): ready again');
  });

  t.test('draining: from the moment stop begins, /ready never answers 200', async (t) => {
    const all = sys.running[0]!;
    const allReady = readinessOf(all, sys.config);
    t.equal((await allReady()).ready, true, 'ready before the stop');
    const stopping = all.stop();
    const during = await allReady();
    t.equal(during.ready, false, 'not ready once the stop began');
    t.ok(failing(during).includes('draining'), `the draining check fails: ${JSON.stringify(during.checks)}`);
    // The listening socket closes as the gateway's stop begins: a new request is refused or answered 503.
    const status = await fetch(`${base}/ready`).then(
      (res) => res.status,
      () => 0,
    );
    t.not(status, 200, `GET /ready during the stop: ${status === 0 ? 'refused' : status}`);
    await stopping;
  });
});

t.test('Postgres not answering: the postgres check fails with the reason, within the probe timeout', async (t) => {
  // A role cannot start on an unreachable DATABASE_URL (start-up fails first), so the probe is
  // given a process whose database went away: a pool on a closed port.
  const pool = new pg.Pool({ host: '127.0.0.1', port: await freePort(), user: 'nobody', database: 'nothing', connectionTimeoutMillis: 5_000 });
  t.teardown(() => pool.end());
  const config = testConfig();
  const running = {
    names: makeNames(config.prefix),
    nc: undefined,
    db: { pool, embedded: false, close: async () => undefined },
    natsUp: { up: true },
    stopping: false,
  } as unknown as Running;
  const ready = readinessOf(running, config);
  const started = Date.now();
  const r = await ready();
  t.ok(Date.now() - started < 2_000, 'answered within the probe timeout');
  t.equal(r.ready, false);
  const check = r.checks.find((c) => c.name === 'postgres');
  t.equal(check?.ok, false);
  t.match(check?.detail, /SELECT 1 failed|no answer/, `with the reason: ${check?.detail}`);
  t.equal(r.checks.find((c) => c.name === 'nats')?.ok, true, 'only postgres is named');
});

