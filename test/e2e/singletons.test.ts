/**
 * Singletons of the projector role (the postgres projector, the push sender, the webhook dispatcher,
 * the EventStoreDB mirror) run under a lease each (lib/leased-singleton.ts), against real NATS and
 * Postgres: one process runs it, the others stand by and take over when it stops or is killed.
 */
import t from 'tap';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import type { Component } from '../../lib/component.js';
import { startLeasedSingleton, type LeasedSingleton } from '../../lib/leased-singleton.js';
import { readLeaseHolders } from '../../lib/leases.js';
import { ensureStreams, jetstreamManager, deleteStreams } from '../../lib/nats.js';
import { makeNames } from '../../lib/names.js';
import { ident } from '../../lib/pg.js';
import { startRoleProcess } from '../helpers/processes.js';
import { pollUntil } from '../helpers/poll.js';
import { startSystem, testConfig, testLog } from '../helpers/system.js';
import type { TestClient } from '../helpers/client.js';

t.test('leased singletons in one bucket: one active at a time, a graceful stop hands over at once, a failed start gives the lease back', async (t) => {
  const config = testConfig();
  const names = makeNames(config.prefix);
  const { leaseMs } = config.engine;
  const nc = await connect({ servers: config.natsUrl });
  await ensureStreams(await jetstreamManager(nc), names, config, testLog);
  t.teardown(async () => {
    await deleteStreams(await jetstreamManager(nc), names);
    await nc.close();
  });
  const kv = await new Kvm(nc).open(names.buckets.mirrorLeases);

  /** Who runs, as the fake components' starts and stops say: never two at once. */
  const timeline: string[] = [];
  const running = new Set<string>();
  let overlaps = 0;
  let failNextStart = false;
  const singleton = (who: string): Promise<LeasedSingleton<{ who: string }>> =>
    startLeasedSingleton({
      kv,
      leaseMs,
      name: `fake ${who}`,
      log: testLog,
      start: async (): Promise<Component<{ who: string }>> => {
        await new Promise((r) => setTimeout(r, 20));
        if (failNextStart) {
          failNextStart = false;
          timeline.push(`${who} failed`);
          throw new Error('start refused (test)');
        }
        if (running.size > 0) overlaps++;
        running.add(who);
        timeline.push(`${who} started`);
        return {
          stats: () => ({ who }),
          async stop() {
            await new Promise((r) => setTimeout(r, 20));
            running.delete(who);
            timeline.push(`${who} stopped`);
          },
        };
      },
    });

  const a = await singleton('a');
  t.match(a.stats(), { state: 'active', inner: { who: 'a' } }, 'the first one is active as soon as it has started');
  const b = await singleton('b');
  t.strictSame(b.stats(), { state: 'standby' }, 'the second stands by');
  t.equal(b.active, undefined);
  await new Promise((r) => setTimeout(r, leaseMs * 1.5));
  t.strictSame([a.stats().state, b.stats().state], ['active', 'standby'], 'still so after rounds of renewals');
  t.strictSame((await readLeaseHolders(kv, 1, leaseMs)).map((h) => h?.owner), [a.id], 'the bucket says a holds the lease');

  // A graceful stop: a's component stops first, then its key goes; b takes over at its next round.
  const stoppedAt = Date.now();
  await a.stop();
  t.strictSame(timeline, ['a started', 'a stopped'], 'a stopped its component before giving the lease back');
  await pollUntil(async () => b.stats().state, (s) => s === 'active', leaseMs * 2);
  const handover = Date.now() - stoppedAt;
  t.equal(b.stats().state, 'active', `b is active ${handover} ms after a stopped`);
  t.ok(handover < leaseMs, `within a round (a third of the ${leaseMs} ms lease, plus the start), not a whole lease`);

  // b's start fails on its next takeover: it gives the lease back and tries again at a later round (alone, it takes it again).
  const c = await singleton('c');
  t.equal(c.stats().state, 'standby');
  failNextStart = true;
  await b.stop();
  await pollUntil(async () => timeline.filter((e) => e === 'c started').length, (n) => n === 1, leaseMs * 3);
  t.match(timeline.slice(3), ['b stopped', 'c failed', 'c started'], 'c failed to start once, gave the lease back, took it again and started');
  t.equal(c.stats().state, 'active');
  await c.stop();
  t.equal(overlaps, 0, 'never two components running at once');
  t.equal(running.size, 0);

  // A lone process whose first start fails does not come up (as when it ran the component directly), and leaves the lease free.
  failNextStart = true;
  await t.rejects(singleton('d'), /start refused/, 'the first start failing fails the singleton');
  const e = await singleton('e');
  t.equal(e.stats().state, 'active', 'the lease was given back: the next one takes it at once');
  await e.stop();
});

t.test('two projector processes: the postgres projector runs in one, the other stands by (ok on /health) and takes over within the lease after a kill -9; the read models miss nothing', async (t) => {
  const sys = await startSystem(t, {}, []);
  const names = makeNames(sys.config.prefix);
  const { leaseMs } = sys.config.engine;
  const nc = await connect({ servers: sys.config.natsUrl });
  t.teardown(() => nc.close());
  const leases = await new Kvm(nc).open(names.buckets.postgresLeases);
  const holder = async () => (await readLeaseHolders(leases, 1, leaseMs))[0]?.owner;

  // The child projector process comes first and takes the lease; this process's `all` role stands by.
  const child = await startRoleProcess(t, 'projector', sys.config);
  const first = await pollUntil(holder, (h) => h !== undefined, 10_000);
  t.ok(first, 'the projector process holds the postgres lease');
  const all = await sys.start('all');
  sys.url = all.gateway!.url;
  t.strictSame(all.postgres!.stats(), { state: 'standby' }, 'the second postgres projector stands by');
  t.not(all.postgres!.id, first, 'and the lease is not its own');
  const health = async () => (await (await fetch(`${sys.url.replace('ws://', 'http://').replace('/ws', '')}/health`)).json()) as { status: string; components: { name: string }[] };
  const standby = await health();
  t.equal(standby.status, 'ok', '/health ok with the projector standing by');
  t.match(standby.components, [{ name: 'postgres-projector', ok: true, state: 'standby' }]);

  const table = `${ident(sys.config.postgres.schema)}.messages`;
  const projected = async () => (await all.db!.pool.query<{ content: string }>(`SELECT content FROM ${table}`)).rows.map((r) => r.content).sort();
  const alice: TestClient = await sys.connect('alice');
  await sys.connect('bob');
  const sent: string[] = [];
  const send = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const content = `m${sent.length}`;
      sent.push(content);
      alice.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: content, content } });
      await alice.next('message.sent', (f) => f.payload.message.tempId === content);
    }
  };
  await send(20);
  const before = await pollUntil(projected, (rows) => rows.length === sent.length, 15_000);
  t.strictSame(before, [...sent].sort(), 'the messages before the kill are in the read model (projected by the child)');
  t.equal(all.postgres!.stats().state, 'standby', 'by the child alone');

  const killedAt = Date.now();
  await child.kill('SIGKILL');
  await send(10);
  await pollUntil(async () => all.postgres!.stats().state, (s) => s === 'active', leaseMs * 4);
  const takeover = Date.now() - killedAt;
  t.equal(all.postgres!.stats().state, 'active', `this process took over ${takeover} ms after the kill`);
  t.ok(takeover < leaseMs + leaseMs / 3 + 2_000, `within the lease (${leaseMs} ms), a round, and a start`);
  t.equal(await holder(), all.postgres!.id, 'the lease is its own now');
  await send(10);
  const after = await pollUntil(projected, (rows) => rows.length === sent.length, 20_000);
  t.strictSame(after, [...sent].sort(), 'every message, before, during and after the takeover, is in the read model once');
  const active = await health();
  t.equal(active.status, 'ok');
  t.match(active.components, [{ name: 'postgres-projector', ok: true, state: 'active', failed: 0, parked: 0 }]);
});
