import t from 'tap';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { makeNames } from '../../lib/names.js';
import { readLeaseHolders } from '../../lib/leases.js';
import { StreamReader } from '../../lib/stream-reader.js';
import { readUnread } from '../../lib/unread-map.js';
import { startRoleProcess, type RoleProcess } from '../helpers/processes.js';
import { pollUntil } from '../helpers/poll.js';
import { startSystem, testConfig } from '../helpers/system.js';
import type { TestClient } from '../helpers/client.js';

const PARTITIONS = 4;

t.test('delivery projectors share the partitions; one killed, one started, one stopped mid-stream: every message once, in order, unread exact', async (t) => {
  const sys = await startSystem(t, { delivery: { ...testConfig().delivery, partitions: PARTITIONS } }, ['engine', 'gateway']);
  const names = makeNames(sys.config.prefix);
  const { leaseMs } = sys.config.engine;
  const nc = await connect({ servers: sys.config.natsUrl });
  t.teardown(() => nc.close());
  const leases = await new Kvm(nc).open(names.buckets.deliveryLeases);
  const owners = async () => (await readLeaseHolders(leases, PARTITIONS, leaseMs)).map((h) => h?.owner);

  const projectors: RoleProcess[] = [];
  for (let i = 0; i < 2; i++) projectors.push(await startRoleProcess(t, 'projector', sys.config));
  const spread = await pollUntil(owners, (o) => o.every(Boolean) && new Set(o).size === 2, 15_000);
  t.equal(new Set(spread).size, 2, `two projectors hold the ${PARTITIONS} partitions: ${spread.join(' ')}`);

  // Each receiver has two conversations (two senders), most likely in different partitions.
  const receivers: TestClient[] = [];
  const senders: TestClient[] = [];
  for (let i = 0; i < 12; i++) receivers.push(await sys.connect(`r${i}`));
  for (let i = 0; i < 24; i++) senders.push(await sys.connect(`s${i}`));
  const total = 480;
  for (let i = 0; i < total; i++) {
    const k = i % senders.length;
    senders[k]!.send({ type: 'message.send', payload: { toUserId: `r${k % receivers.length}`, tempId: `x${i}`, content: `m${i}` } });
    if (i === 120) {
      const killedAt = Date.now();
      await projectors[0]!.kill('SIGKILL');
      // Its leases lapse unrenewed; the survivor takes them at its next round after that.
      const taken = await pollUntil(owners, (o) => o.every(Boolean) && new Set(o).size === 1, 15_000);
      t.ok(taken.every(Boolean) && new Set(taken).size === 1, `the survivor holds every partition ${Date.now() - killedAt} ms after the kill (lease ${leaseMs} ms)`);
    }
    if (i === 240) projectors.push(await startRoleProcess(t, 'projector', sys.config));
    if (i === 360) await projectors[1]!.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 5));
  }
  const acked = () => senders.reduce((a, s) => a + s.of('message.sent').length, 0);
  await pollUntil(async () => acked(), (n) => n >= total, 60_000);
  t.equal(acked(), total, 'every send acknowledged');

  for (let j = 0; j < receivers.length; j++) {
    const mine = senders.filter((_, k) => k % receivers.length === j);
    const expected = mine.reduce((a, s) => a + s.of('message.sent').length, 0);
    await pollUntil(async () => receivers[j]!.of('message.new').length, (n) => n >= expected, 30_000);
    await new Promise((r) => setTimeout(r, 50));
    const got = receivers[j]!.of('message.new').map((f) => f.payload.message as { conversationId: string; seq: number });
    t.equal(got.length, expected, `r${j}: every acknowledged message once`);
    const byConversation = new Map<string, number[]>();
    for (const m of got) byConversation.set(m.conversationId, [...(byConversation.get(m.conversationId) ?? []), m.seq]);
    t.ok(
      [...byConversation.values()].every((seqs) => seqs.every((s, i) => s === i + 1)),
      `r${j}: each conversation in order, without a gap (${[...byConversation.values()].map((s) => s.length).join(' + ')})`,
    );
    // Counts of two conversations, possibly from two projectors, into one key: neither lost.
    const reader = new StreamReader(await jetstreamManager(nc), names.kv.stream(names.buckets.unread));
    const unread = await pollUntil(
      () => readUnread(reader, names, `r${j}`),
      (u) => Object.values(u).reduce((a, n) => a + n, 0) === expected,
      10_000,
    );
    t.same(unread, Object.fromEntries([...byConversation].map(([c, seqs]) => [c, seqs.length])), `r${j}: unread per conversation exact`);
  }

  // The stopped one gave its partitions back: the one started holds them all.
  const after = await pollUntil(owners, (o) => o.every(Boolean) && new Set(o).size === 1, 15_000);
  t.ok(after.every(Boolean) && new Set(after).size === 1, `every partition owned by the one left: ${after.join(' ')}`);
  for (const p of projectors.slice(2)) await p.kill('SIGTERM');
});
