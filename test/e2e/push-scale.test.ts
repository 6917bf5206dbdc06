import t from 'tap';
import webpush from 'web-push';
import { nanos } from '@nats-io/nats-core';
import { AckPolicy, DeliverPolicy, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { defaultConfig } from '../../lib/config.js';
import { connect } from '@nats-io/transport-node';
import { makeNames } from '../../lib/names.js';
import { readLeaseHolders } from '../../lib/leases.js';
import { partitionOf } from '../../lib/partition.js';
import { startRoleProcess, type RoleProcess } from '../helpers/processes.js';
import { pollUntil } from '../helpers/poll.js';
import { pushingProcessEnv, startPushService } from '../helpers/push-service.js';
import { restCall } from '../helpers/rest.js';
import { startSystem, testConfig } from '../helpers/system.js';

const PARTITIONS = 4;

t.test('push projectors share the partitions; one killed mid-stream: every offline recipient pushed each message once, a block respected by every partition', async (t) => {
  const service = await startPushService();
  t.teardown(() => service.close());
  const base = testConfig();
  // Push runs in the projector processes only; a user who leaves is offline at once.
  // The gateway takes subscriptions to the loopback push service (allowInsecure).
  const sys = await startSystem(
    t,
    { delivery: { ...base.delivery, partitions: PARTITIONS }, presence: { ...base.presence, graceMs: 0 }, push: { ...base.push, allowInsecure: true } },
    ['engine', 'gateway'],
  );
  const env = pushingProcessEnv({ PARLEY_PUSH_MAX_ATTEMPTS: '20' });
  const names = makeNames(sys.config.prefix);
  const { leaseMs } = sys.config.engine;
  const nc = await connect({ servers: sys.config.natsUrl });
  t.teardown(() => nc.close());
  const leases = await new Kvm(nc).open(names.buckets.pushLeases);
  const owners = async () => (await readLeaseHolders(leases, PARTITIONS, leaseMs)).map((h) => h?.owner);

  const projectors: RoleProcess[] = [];
  for (let i = 0; i < 2; i++) projectors.push(await startRoleProcess(t, 'projector', sys.config, env));
  const spread = await pollUntil(owners, (o) => o.every(Boolean) && new Set(o).size === 2, 15_000);
  t.equal(new Set(spread).size, 2, `two push projectors hold the ${PARTITIONS} push partitions: ${spread.join(' ')}`);

  // Answers are scripted: while one projector is killed, pushes hang (a push the killed sender had
  // on the wire is then never a 201), so a second 201 for a message could only be a second decision.
  let hang = false;
  const subscribe = async (user: string) => {
    const sub = service.subscribe();
    t.equal((await restCall(sys, user, 'POST', '/v1/push/subscriptions', sub)).status, 201, `${user} subscribed`);
    service.script(sub.endpoint, () => (hang ? { hang: true } : { status: 201 }));
    return sub.endpoint;
  };
  const pushed = (endpoint: string) => service.received.filter((p) => p.endpoint === endpoint && p.status === 201).map((p) => (p.payload as { messageId: string }).messageId);

  // Frank is in groups with alice, spread over the partitions; each is pushed to him once, so
  // every projector has looked at (and keeps) his blocks. Then he blocks alice.
  const frank = await subscribe('frank');
  const groups: string[] = [];
  const beforeBlock: string[] = [];
  for (let i = 0; i < 8; i++) {
    const group = await restCall(sys, 'alice', 'POST', '/v1/conversations', { kind: 'group', title: `g${i}`, members: ['frank'] });
    groups.push(group.body.conversation.id);
    beforeBlock.push((await restCall(sys, 'alice', 'POST', '/v1/messages', { conversationId: groups[i], tempId: `g${i}-0`, content: 'hi' })).body.id);
  }
  t.ok(new Set(groups.map((g) => partitionOf(g, PARTITIONS))).size >= 2, 'the groups fall in several partitions');
  await pollUntil(async () => pushed(frank).length, (n) => n >= groups.length, 15_000);
  const frankWs = await sys.connect('frank');
  frankWs.send({ type: 'block.add', ref: 'b1', payload: { userId: 'alice' } });
  await frankWs.next('block.added');
  await frankWs.close();
  await pollUntil(() => restCall(sys, 'zed', 'GET', '/v1/presence?users=frank'), (r) => r.body?.users?.[0]?.isOnline === false, 10_000);

  const receivers: string[] = [];
  const endpoints: string[] = [];
  for (let i = 0; i < 12; i++) {
    receivers.push(`r${i}`);
    endpoints.push(await subscribe(`r${i}`));
  }
  const sent = new Map<string, string[]>(receivers.map((r) => [r, []]));
  const afterBlock: string[] = [];
  const total = 240;
  let killedAt = 0;
  const refused: string[] = [];
  for (let i = 0; i < total; i++) {
    const to = receivers[i % receivers.length]!;
    const res = await restCall(sys, `s${i % 24}`, 'POST', '/v1/messages', { toUserId: to, tempId: `x${i}`, content: `m${i}` });
    if (res.status !== 201) refused.push(`${i}: ${res.status} ${JSON.stringify(res.body)}`);
    else sent.get(to)!.push(res.body.id);
    if (i % 20 === 0) {
      const g = groups[(i / 20) % groups.length]!;
      afterBlock.push((await restCall(sys, 'alice', 'POST', '/v1/messages', { conversationId: g, tempId: `g-${i}`, content: `blocked ${i}` })).body.id);
    }
    if (i === 80) {
      hang = true;
      // Pushes answered before now have their records stored and their jobs acked.
      await new Promise((r) => setTimeout(r, 1_000));
      killedAt = Date.now();
      await projectors[0]!.kill('SIGKILL');
    }
    if (i === 120) {
      hang = false;
      const taken = await pollUntil(owners, (o) => o.every(Boolean) && new Set(o).size === 1, 15_000);
      t.ok(taken.every(Boolean) && new Set(taken).size === 1, `the survivor holds every push partition ${Date.now() - killedAt} ms after the kill (lease ${leaseMs} ms)`);
    }
  }

  t.same(refused, [], 'every message sent');
  for (let j = 0; j < receivers.length; j++) {
    const expected = sent.get(receivers[j]!)!;
    await pollUntil(async () => new Set(pushed(endpoints[j]!)).size, (n) => n >= expected.length, 60_000);
  }
  // Jobs the killed process had taken come again once their ack wait (timeout + 5 s) is over: let them.
  await new Promise((r) => setTimeout(r, 7_000));
  for (let j = 0; j < receivers.length; j++) {
    const got = pushed(endpoints[j]!);
    const expected = sent.get(receivers[j]!)!;
    t.same([...got].sort(), [...expected].sort(), `r${j}: each of ${expected.length} messages pushed exactly once (${got.length} pushes)`);
  }

  // Frank: pushed before his block, never after, whichever partition (and projector) decided.
  t.same([...pushed(frank)].sort(), [...beforeBlock].sort(), 'frank was pushed only what alice sent before his block');
  type Rec = { decision: string; messageId: string };
  const log = await pollUntil(
    async () => (await restCall(sys, 'frank', 'GET', '/v1/push/log?limit=200')).body.records as Rec[],
    (l) => afterBlock.every((id) => l.some((r) => r.messageId === id && r.decision === 'skipped_blocked')),
    10_000,
  );
  t.ok(
    afterBlock.every((id) => log.some((r) => r.messageId === id && r.decision === 'skipped_blocked')),
    `each of alice's ${afterBlock.length} later group messages is on frank's record as skipped_blocked`,
  );
  t.comment(`pushes received ${service.received.length}, of which 201: ${service.received.filter((p) => p.status === 201).length}`);
  await projectors[1]!.kill('SIGTERM');
});

t.test('an upgrade: the push partitions start where the push durable of earlier versions stood, and remove it', async (t) => {
  const service = await startPushService();
  t.teardown(() => service.close());
  const vapid = webpush.generateVAPIDKeys();
  const sys = await startSystem(t, { push: { ...defaultConfig().push, enabled: false, allowInsecure: true } });
  const names = makeNames(sys.config.prefix);
  const nc = await connect({ servers: sys.config.natsUrl });
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const sub = service.subscribe();
  t.equal((await restCall(sys, 'bob', 'POST', '/v1/push/subscriptions', sub)).status, 201);
  let sends = 0;
  const send = async (content: string) => {
    const res = await restCall(sys, 'alice', 'POST', '/v1/messages', { toUserId: 'bob', tempId: `u${sends++}`, content });
    t.equal(res.status, 201, `sent: ${content}`);
    return res.body.id as string;
  };
  await send('done by the earlier version');
  // The earlier version's one durable, which had finished everything so far and was then stopped
  // for the upgrade while messages went on.
  const floor = (await jsm.streams.info(names.streams.events)).state.last_seq;
  await jsm.consumers.add(names.streams.events, {
    durable_name: names.consumers.push,
    ack_policy: AckPolicy.All,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: floor + 1,
    ack_wait: nanos(5_000),
  });
  const during = [await send('during the upgrade 1'), await send('during the upgrade 2')];
  await sys.start('push', { push: { ...defaultConfig().push, enabled: true, vapid: { ...vapid, subject: 'mailto:ops@example.com' }, allowInsecure: true, coalesceMs: 0 } });
  const after = await send('after the upgrade');
  const ids = () => service.received.filter((p) => p.status === 201).map((p) => (p.payload as { messageId: string }).messageId);
  await pollUntil(async () => ids().length, (n) => n >= 3, 15_000);
  await new Promise((r) => setTimeout(r, 500));
  t.same(ids().sort(), [...during, after].sort(), 'what the earlier version had not done, and what came after; nothing it had done');
  const durables: string[] = [];
  for await (const c of jsm.consumers.list(names.streams.events)) if (names.consumers.isPush(c.name)) durables.push(c.name);
  t.same(durables, [names.consumers.pushPartition(0, 1)], 'the earlier durable is gone once the partition has its own');
});
