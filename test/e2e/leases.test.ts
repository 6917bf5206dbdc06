import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { PartitionLeases, type LeaseEvents } from '../../lib/leases.js';
import { pollUntil } from '../helpers/poll.js';
import { testLog } from '../helpers/system.js';

const PARTITIONS = 12;
const LEASE_MS = 1_500;

/** A bucket of its own (removed at the end), and processes sharing it, each on a connection of its own. */
async function setup(t: Test) {
  const bucket = `LEASES_T${randomBytes(4).toString('hex').toUpperCase()}`;
  const admin = await connect({ servers: '127.0.0.1:4222' });
  await new Kvm(admin).create(bucket, { ttl: LEASE_MS, history: 1 });
  const connections: NatsConnection[] = [admin];
  const all: PartitionLeases[] = [];
  t.teardown(async () => {
    for (const l of all) await l.stop().catch(() => undefined);
    await (await new Kvm(admin).open(bucket)).destroy().catch(() => undefined);
    for (const nc of connections) await nc.close().catch(() => undefined);
  });
  /** Every acquired/lost in order, per process, for the overlap check. */
  const history: { id: string; kind: 'acquired' | 'lost'; partition: number; at: number; reason?: string; fence?: number }[] = [];
  const join = async (id: string) => {
    const nc = await connect({ servers: '127.0.0.1:4222' });
    connections.push(nc);
    const events: LeaseEvents = {
      acquired: (partition, fence) => void history.push({ id, kind: 'acquired', partition, at: Date.now(), fence }),
      lost: (partition, reason) => void history.push({ id, kind: 'lost', partition, at: Date.now(), reason }),
    };
    const leases = new PartitionLeases(await new Kvm(nc).open(bucket), { partitions: PARTITIONS, leaseMs: LEASE_MS, id }, events, testLog);
    all.push(leases);
    await leases.start();
    return { leases, nc };
  };
  return { join, history, all, bucket };
}

/** No partition held by two processes at any moment, by the order of their acquired/lost events. */
function assertNoOverlap(t: Test, history: { id: string; kind: string; partition: number }[]) {
  const holder = new Map<number, string>();
  for (const h of history) {
    if (h.kind === 'acquired') {
      t.notOk(holder.has(h.partition), `partition ${h.partition} taken by ${h.id} while ${holder.get(h.partition)} held it`);
      holder.set(h.partition, h.id);
    } else if (holder.get(h.partition) === h.id) holder.delete(h.partition);
  }
}

const counts = (ls: PartitionLeases[]) => ls.map((l) => l.owned.length);
const covered = (ls: PartitionLeases[]) => new Set(ls.flatMap((l) => l.owned)).size === PARTITIONS && ls.reduce((a, l) => a + l.owned.length, 0) === PARTITIONS;

t.test('leases: one process takes every partition; newcomers get a fair share; nobody holds a partition twice', async (t) => {
  const { join, history } = await setup(t);
  const a = await join('a');
  t.same(a.leases.owned, Array.from({ length: PARTITIONS }, (_, i) => i), 'alone, it holds all');
  const b = await join('b');
  await pollUntil(async () => counts([a.leases, b.leases]), (c) => c[0] === 6 && c[1] === 6, 10_000);
  t.same(counts([a.leases, b.leases]), [6, 6], 'two share evenly');
  const c = await join('c');
  await pollUntil(async () => [a.leases, b.leases, c.leases], (ls) => covered(ls) && counts(ls).every((n) => n === 4), 10_000);
  t.same(counts([a.leases, b.leases, c.leases]), [4, 4, 4], 'three share evenly');
  t.ok(covered([a.leases, b.leases, c.leases]), 'every partition has exactly one owner');
  // Steady: a few more rounds change nothing (no flapping).
  const before = history.length;
  await new Promise((r) => setTimeout(r, 3 * LEASE_MS));
  t.equal(history.length, before, 'no lease moved while nothing changed');
  assertNoOverlap(t, history);
});

t.test('leases: a graceful stop hands over at once; a process cut off loses its leases within the lease time', async (t) => {
  const { join, history } = await setup(t);
  const a = await join('a');
  const b = await join('b');
  const c = await join('c');
  await pollUntil(async () => [a.leases, b.leases, c.leases], (ls) => covered(ls) && counts(ls).every((n) => n === 4), 10_000);

  const stoppedAt = Date.now();
  const given = c.leases.owned;
  await c.leases.stop();
  t.ok(history.filter((h) => h.id === 'c' && h.kind === 'lost').every((h) => h.reason === 'stopped'), 'its work stopped before its keys went');
  await pollUntil(async () => [a.leases, b.leases], covered, 10_000);
  t.ok(covered([a.leases, b.leases]), `c's partitions ${given.join(',')} were taken over`);
  const handover = Date.now() - stoppedAt;
  t.ok(handover < LEASE_MS, `handed over in ${handover} ms, before any lease would have expired`);

  // b is cut off from NATS: it cannot renew; a takes its partitions once they expire.
  const cutAt = Date.now();
  const bOwned = b.leases.owned;
  await b.nc.close();
  await pollUntil(async () => a.leases.owned.length, (n) => n === PARTITIONS, 10_000);
  const takeover = Date.now() - cutAt;
  t.equal(a.leases.owned.length, PARTITIONS, `a holds all after b was cut off (b had ${bOwned.join(',')})`);
  t.ok(takeover <= 2 * LEASE_MS + 500, `taken over in ${takeover} ms (lease ${LEASE_MS} ms, a round every ${LEASE_MS / 3} ms)`);
  await pollUntil(async () => b.leases.owned.length, (n) => n === 0, 5_000);
  t.equal(b.leases.owned.length, 0, 'b itself knows it lost them (its renewals failed)');
  t.comment(`handover ${handover} ms, takeover after cut-off ${takeover} ms`);
  assertNoOverlap(t, history);
});

t.test('leases: a stale holder cannot renew a lease someone else took, and the new fence is higher', async (t) => {
  const { join, history, bucket } = await setup(t);
  const a = await join('a');
  const fenceA = a.leases.fenceOf(0)!;
  // Someone takes p0 from under a (as if a had paused past its lease): delete and create.
  const admin = await connect({ servers: '127.0.0.1:4222' });
  t.teardown(() => admin.close());
  const kv = await new Kvm(admin).open(bucket);
  await kv.delete('p0');
  const fenceX = await kv.create('p0', new TextEncoder().encode(JSON.stringify({ owner: 'x' })));
  t.ok(fenceX > fenceA, `the new fence ${fenceX} is above the old ${fenceA}`);
  await a.leases.round();
  t.notOk(a.leases.owned.includes(0), 'a let p0 go at its next renewal');
  t.match(history.find((h) => h.id === 'a' && h.kind === 'lost' && h.partition === 0), { reason: 'taken' });
});

