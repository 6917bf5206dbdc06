import t from 'tap';
import fc from 'fast-check';
import { defaultConfig, loadConfig } from '../../lib/config.js';
import { cachedProbe } from '../../lib/cached-probe.js';
import { decideReadiness, isStuck, StallClock, type ReadinessInputs } from '../../lib/readiness.js';

const bounds = { maxLagEvents: 10_000, maxLagMs: 30_000 };
const healthy: ReadinessInputs = { stopping: false, nats: [{ name: 'nats', up: true }] };
const check = (r: ReturnType<typeof decideReadiness>, name: string) => r.checks.find((c) => c.name === name);

t.test('decideReadiness', async (t) => {
  t.test('ready when nothing is wrong; each check named', async (t) => {
    const r = decideReadiness({ ...healthy, postgres: { ok: true }, projectors: { positions: [{ projector: 'delivery', partition: 0, lag: 3, stalledMs: 60_000 }], standby: [] } }, bounds);
    t.equal(r.ready, true);
    t.same(r.checks.map((c) => c.name), ['draining', 'nats', 'postgres', 'delivery']);
  });
  t.test('stopping (draining) is not ready', async (t) => {
    const r = decideReadiness({ ...healthy, stopping: true }, bounds);
    t.equal(r.ready, false);
    t.equal(check(r, 'draining')?.ok, false);
  });
  t.test('a NATS connection down is not ready, and named', async (t) => {
    const r = decideReadiness({ stopping: false, nats: [{ name: 'nats', up: true }, { name: 'nats-commands', up: false }] }, bounds);
    t.equal(r.ready, false);
    t.equal(check(r, 'nats')?.ok, true);
    t.equal(check(r, 'nats-commands')?.ok, false);
    t.match(check(r, 'nats-commands')?.detail, /disconnected/);
  });
  t.test('Postgres not answering is not ready, with the reason', async (t) => {
    const r = decideReadiness({ ...healthy, postgres: { ok: false, detail: 'SELECT 1 failed: ECONNREFUSED' } }, bounds);
    t.equal(r.ready, false);
    t.same(check(r, 'postgres'), { name: 'postgres', ok: false, detail: 'SELECT 1 failed: ECONNREFUSED' });
  });
  t.test('no postgres check where the role has no database', async (t) => {
    t.equal(check(decideReadiness(healthy, bounds), 'postgres'), undefined);
  });
  t.test('a projector far behind and not moving is stuck; its partition named', async (t) => {
    const r = decideReadiness(
      {
        ...healthy,
        projectors: {
          positions: [
            { projector: 'delivery', partition: 0, lag: 0, stalledMs: 0 },
            { projector: 'delivery', partition: 1, lag: 20_000, stalledMs: 45_000 },
            { projector: 'push', partition: 1, lag: 20_000, stalledMs: 1_000 },
          ],
          standby: [],
        },
      },
      bounds,
    );
    t.equal(r.ready, false);
    t.same(check(r, 'delivery'), { name: 'delivery', ok: false, detail: 'partition 1: 20000 events behind, unmoved for 45 s' });
    t.same(check(r, 'push'), { name: 'push', ok: true }, 'far behind but moving: catching up is ready');
  });
  t.test('far behind and moving, or stalled with a small lag: ready', async (t) => {
    t.equal(isStuck({ projector: 'x', lag: 1_000_000, stalledMs: 29_999 }, bounds), false);
    t.equal(isStuck({ projector: 'x', lag: 10_000, stalledMs: 1e9 }, bounds), false);
    t.equal(isStuck({ projector: 'x', lag: 10_001, stalledMs: 30_000 }, bounds), true);
    t.equal(isStuck({ projector: 'x', lag: null, stalledMs: 1e9 }, bounds), false, 'no durable yet: nothing to judge');
    t.equal(isStuck({ projector: 'x', lag: 1, stalledMs: 30_000 }, { maxLagEvents: 0, maxLagMs: 30_000 }), true, 'maxLagEvents 0: any lag');
  });
  t.test('a singleton projector standing by is ready (a healthy spare)', async (t) => {
    const r = decideReadiness({ ...healthy, projectors: { positions: [], standby: ['postgres-projector'] } }, bounds);
    t.equal(r.ready, true);
    t.same(check(r, 'postgres-projector'), { name: 'postgres-projector', ok: true, detail: 'standby' });
  });
  t.test('positions that cannot be read are not ready', async (t) => {
    const r = decideReadiness({ ...healthy, projectors: { positions: [], standby: [], error: 'timeout' } }, bounds);
    t.equal(r.ready, false);
    t.match(check(r, 'projectors')?.detail, /timeout/);
  });
  t.test('property: ready exactly when every check is ok, and any failing input makes it not ready', async (t) => {
    const position = fc.record({
      projector: fc.constantFrom('delivery', 'push', 'postgres-projector'),
      partition: fc.option(fc.nat(7), { nil: undefined }),
      lag: fc.option(fc.nat(50_000), { nil: null }),
      stalledMs: fc.nat(100_000),
    });
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(fc.record({ name: fc.constantFrom('nats', 'nats-commands'), up: fc.boolean() }), { maxLength: 2 }),
        fc.option(fc.record({ ok: fc.boolean() }), { nil: undefined }),
        fc.array(position, { maxLength: 6 }),
        (stopping, nats, postgres, positions) => {
          const clean = positions.map(({ partition, ...p }) => ({ ...p, ...(partition !== undefined ? { partition } : {}) }));
          const r = decideReadiness({ stopping, nats, ...(postgres ? { postgres } : {}), projectors: { positions: clean, standby: [] } }, bounds);
          const expected = !stopping && nats.every((n) => n.up) && (postgres?.ok ?? true) && !clean.some((p) => isStuck(p, bounds));
          return r.ready === expected && r.ready === r.checks.every((c) => c.ok);
        },
      ),
    );
  });
});

t.test('StallClock', async (t) => {
  const clock = new StallClock();
  t.same(clock.observe([{ key: 'a', ackFloor: 5, lag: 100 }], 0), [0], 'first sight: no stall yet');
  t.same(clock.observe([{ key: 'a', ackFloor: 5, lag: 120 }], 10_000), [10_000], 'unmoved while behind');
  t.same(clock.observe([{ key: 'a', ackFloor: 6, lag: 119 }], 20_000), [0], 'moved: the stall starts afresh');
  t.same(clock.observe([{ key: 'a', ackFloor: 6, lag: 119 }], 25_000), [5_000]);
  t.same(clock.observe([{ key: 'a', ackFloor: 6, lag: 0 }], 60_000), [0], 'caught up: not stalled');
  t.same(clock.observe([{ key: 'a', ackFloor: 6, lag: 50_000 }], 61_000), [1_000], 'a burst after idling is measured from when it was last caught up');
  t.same(clock.observe([{ key: 'b', ackFloor: 1, lag: 1 }], 62_000), [0], 'a new position');
  t.same(clock.observe([{ key: 'a', ackFloor: 6, lag: 50_000 }], 63_000), [0], 'a forgotten position (it moved away) starts again');
  t.same(clock.observe([{ key: 'a', ackFloor: null, lag: null }], 64_000), [0], 'no durable: no stall');
});

t.test('cachedProbe', async (t) => {
  t.test('one probe per period, however many ask', async (t) => {
    let calls = 0;
    let now = 0;
    const probe = cachedProbe(async () => ++calls, { ttlMs: 1_000, timeoutMs: 500, timedOut: () => -1, failed: () => -2, now: () => now });
    t.same(await Promise.all(Array.from({ length: 50 }, () => probe())), Array(50).fill(1), 'a storm shares one probe');
    now = 999;
    t.equal(await probe(), 1, 'cached within the period');
    now = 1_000;
    t.equal(await probe(), 2, 'probed again after it');
  });
  t.test('a failure and a hang are answers; a hanging probe is never piled onto', async (t) => {
    let calls = 0;
    let now = 0;
    const hang = cachedProbe(
      () => {
        calls++;
        return new Promise<string>(() => undefined);
      },
      { ttlMs: 10, timeoutMs: 20, timedOut: () => 'timed out', failed: () => 'failed', now: () => now },
    );
    t.equal(await hang(), 'timed out');
    now = 100;
    t.equal(await hang(), 'timed out');
    t.equal(calls, 1, 'the hanging probe is waited on, not started again');
    const failing = cachedProbe(async () => Promise.reject(new Error('refused')), { ttlMs: 10, timeoutMs: 20, timedOut: () => 'timed out', failed: (e) => (e as Error).message });
    t.equal(await failing(), 'refused');
  });
});

t.test('config: PARLEY_READY_MAX_LAG_EVENTS and PARLEY_READY_MAX_LAG_MS', async (t) => {
  t.same(defaultConfig().ready, { maxLagEvents: 10_000, maxLagMs: 30_000 });
  t.same(loadConfig({ PARLEY_READY_MAX_LAG_EVENTS: '0', PARLEY_READY_MAX_LAG_MS: '5000' }).ready, { maxLagEvents: 0, maxLagMs: 5_000 });
  t.throws(() => loadConfig({ PARLEY_READY_MAX_LAG_MS: '10' }), /PARLEY_READY_MAX_LAG_MS/);
});
