import t from 'tap';
import { Kvm, type KV } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { makeNames } from '../../lib/names.js';
import { readLeaseHolders } from '../../lib/leases.js';
import { AppClient, assertExactlyOnce, tally } from '../helpers/app-client.js';
import { clusterNatsServer, startNatsCluster } from '../helpers/nats-cluster.js';
import { startRoleProcess, type RoleProcess } from '../helpers/processes.js';
import { pollUntil } from '../helpers/poll.js';
import { startSystem, testConfig } from '../helpers/system.js';

// Three nats-servers, R3 streams and eight Parley processes on two cores, next to the rest of the suite.
t.setTimeout(240_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Re-sends after a failover come in a burst; the frame limit is not under test. */
const gatewayEnv = { PARLEY_USER_FRAMES_PER_SECOND: '1000', PARLEY_USER_FRAME_BURST: '2000' };

/**
 * Issue 18's scale-out run on a 3-node NATS cluster (nats-server 2.10.27, streams with 3
 * replicas): 3 engines, 2 delivery projectors (4 delivery partitions), 2 gateways; 5,000 messages
 * over 200 conversations while one engine is killed with SIGKILL, another is stopped, a new one is
 * started, and a delivery projector is killed with SIGKILL. Every acknowledged message reaches its
 * recipient once, in conversation order; the takeover times are reported.
 */
t.test('3 engines, 2 delivery projectors, 2 gateways on a 3-node cluster: 5,000 messages through kills, nothing lost or doubled', async (t) => {
  const server = await clusterNatsServer();
  if ('skip' in server) {
    t.comment(`SKIPPED: ${server.skip}`);
    return;
  }
  const cluster = await startNatsCluster(t, server.binary);
  const base = testConfig();
  const sys = await startSystem(t, { natsUrl: cluster.urls, replicas: 3, partitions: 8, delivery: { ...base.delivery, partitions: 4 } }, ['gateway']);
  const names = makeNames(sys.config.prefix);
  const { leaseMs } = sys.config.engine;
  const nc = await connect({ servers: cluster.urls });
  t.teardown(() => nc.close());
  const kvm = new Kvm(nc);
  const engineLeases = await kvm.open(names.buckets.engineLeases);
  const deliveryLeases = await kvm.open(names.buckets.deliveryLeases);

  // Each process's lease id, learnt as it joins (its member key m.<id>), to tell whose partitions move.
  const members = async (kv: KV) => {
    const ids: string[] = [];
    for await (const k of await kv.keys('m.*')) ids.push(k.slice(2));
    return ids;
  };
  const startLeased = async (role: 'engine' | 'projector', kv: KV) => {
    const before = new Set(await members(kv));
    const proc = await startRoleProcess(t, role, sys.config, gatewayEnv);
    const ids = await pollUntil(() => members(kv), (m) => m.some((id) => !before.has(id)), 15_000);
    return { proc, id: ids.find((id) => !before.has(id))! };
  };
  /** From now until no partition is held by `id` and every partition is held: the takeover time. */
  const takeover = async (kv: KV, partitions: number, id: string, since: number) => {
    await pollUntil(
      async () => (await readLeaseHolders(kv, partitions, leaseMs)).map((h) => h?.owner),
      (o) => o.every((x) => x !== undefined && x !== id),
      Math.max(30_000, leaseMs * 5),
    );
    return Date.now() - since;
  };

  const engines: { proc: RoleProcess; id: string }[] = [];
  for (let i = 0; i < 3; i++) engines.push(await startLeased('engine', engineLeases));
  const projectors: { proc: RoleProcess; id: string }[] = [];
  for (let i = 0; i < 2; i++) projectors.push(await startLeased('projector', deliveryLeases));
  const gatewayB = await startRoleProcess(t, 'gateway', sys.config, gatewayEnv);
  await pollUntil(async () => new Set((await readLeaseHolders(engineLeases, 8, leaseMs)).map((h) => h?.owner)).size, (n) => n === 3, 15_000);

  const conversations = 200;
  const perConversation = 25;
  const deadline = Date.now() + 180_000;
  const pairs: { sender: AppClient; receiver: AppClient }[] = [];
  for (let i = 0; i < conversations; i++) {
    // Half the users on each gateway, each pair split across them.
    const [a, b] = i % 2 === 0 ? [sys.url, gatewayB.url] : [gatewayB.url, sys.url];
    // A refused send (overloaded, while the cluster catches up) waits half a second before it goes again.
    const sender = await AppClient.start({ userId: `s${i}`, url: a, token: () => sys.token(`s${i}`), deadline, retryDelayMs: 500 });
    const receiver = await AppClient.start({ userId: `r${i}`, url: b, token: () => sys.token(`r${i}`), deadline });
    pairs.push({ sender, receiver });
  }
  t.teardown(() => {
    for (const p of pairs) {
      p.sender.stop();
      p.receiver.stop();
    }
  });

  const takeovers: Promise<string>[] = [];
  const senders = pairs.map((p) => p.sender);
  const settled = () => senders.reduce((n, s) => n + s.acknowledged.size + s.failed.size, 0);
  for (let round = 0; round < perConversation; round++) {
    // At most two rounds in flight: the run measures failover, not how far this box can be overloaded.
    await pollUntil(async () => settled(), (n) => n >= (round - 1) * conversations, 30_000);
    for (let i = 0; i < conversations; i++) pairs[i]!.sender.send({ toUserId: `r${i}`, tempId: `c${i}-${round}`, content: `m${round}` });
    if (round === 5) {
      const at = Date.now();
      await engines[0]!.proc.kill('SIGKILL');
      takeovers.push(takeover(engineLeases, 8, engines[0]!.id, at).then((ms) => `engine killed: its partitions held again after ${ms} ms`));
    }
    if (round === 10) {
      const at = Date.now();
      await engines[1]!.proc.kill('SIGTERM');
      takeovers.push(takeover(engineLeases, 8, engines[1]!.id, at).then((ms) => `engine stopped: its partitions held again after ${ms} ms (counted from the start of its stop)`));
    }
    if (round === 12) engines.push(await startLeased('engine', engineLeases));
    if (round === 15) {
      const at = Date.now();
      const held = (await readLeaseHolders(deliveryLeases, 4, leaseMs)).filter((h) => h?.owner === projectors[0]!.id).length;
      t.ok(held > 0, `the projector killed held ${held} of the 4 delivery partitions`);
      await projectors[0]!.proc.kill('SIGKILL');
      takeovers.push(takeover(deliveryLeases, 4, projectors[0]!.id, at).then((ms) => `delivery projector killed: its partitions held again after ${ms} ms`));
    }
    await sleep(100);
  }

  const total = conversations * perConversation;
  await pollUntil(
    async () => senders.reduce((n, s) => n + s.acknowledged.size + s.failed.size, 0),
    (n) => n >= total,
    deadline - Date.now(),
  );
  for (const line of await Promise.all(takeovers)) t.comment(line);
  const refusals = new Map<string, number>();
  for (const s of senders) for (const f of s.failed.values()) refusals.set(f.code, (refusals.get(f.code) ?? 0) + 1);
  if (refusals.size > 0) t.comment(`refused for good: ${JSON.stringify(Object.fromEntries(refusals))}; e.g. ${JSON.stringify(senders.flatMap((s) => [...s.failed.values()])[0])}`);
  let lost = 0;
  let duplicated = 0;
  let outOfOrder = 0;
  for (const { sender, receiver } of pairs) {
    await pollUntil(async () => receiver.delivered, (n) => n >= sender.acknowledged.size, Math.max(5_000, deadline - Date.now()));
  }
  await sleep(300);
  for (const { sender, receiver } of pairs) {
    const x = tally(sender, receiver);
    lost += x.lost;
    duplicated += x.duplicated;
    outOfOrder += x.outOfOrder;
    // One assertion set per pair would be 1,400 lines: only a failing pair is asserted in full.
    if (x.lost || x.duplicated || x.outOfOrder || x.failed || x.acknowledged !== perConversation) assertExactlyOnce(t, x, receiver, perConversation);
  }
  const acknowledged = senders.reduce((n, s) => n + s.acknowledged.size, 0);
  t.equal(acknowledged, total, `all ${total} sends acknowledged (${senders.reduce((n, s) => n + s.resends, 0)} re-sends after a failover)`);
  t.equal(lost, 0, '0 acknowledged messages lost');
  t.equal(duplicated, 0, '0 delivered twice');
  t.equal(outOfOrder, 0, 'every conversation in order at its recipient');
  for (const e of engines.slice(2)) await e.proc.kill('SIGTERM');
  await projectors[1]!.proc.kill('SIGTERM');
  await gatewayB.kill('SIGTERM');
});
