import t from 'tap';
import { defaultConfig } from '../../lib/config.js';
import { startRoleProcess } from '../helpers/processes.js';
import { pollUntil } from '../helpers/poll.js';
import { pushingProcessEnv, startPushService } from '../helpers/push-service.js';
import { restCall } from '../helpers/rest.js';
import { startSystem, type TestSystem } from '../helpers/system.js';


t.test('kill -9 the push process mid-burst: every message is pushed, and a push sent twice is on record as a second attempt', async (t) => {
  const service = await startPushService();
  t.teardown(() => service.close());
  // Pushing happens in a process of its own (role push); this one serves, decides and projects the rest.
  const sys = await startSystem(t, { push: { ...defaultConfig().push, enabled: false, allowInsecure: true } });
  const env = pushingProcessEnv();
  let pusher = await startRoleProcess(t, 'push', sys.config, env);
  const sub = service.subscribe();
  t.equal((await restCall(sys, 'bob', 'POST', '/v1/push/subscriptions', sub)).status, 201);
  // Every push answered a little late: some are on the wire when the process dies.
  service.script(sub.endpoint, () => ({ status: 201, delayMs: 20 }));

  const total = 120;
  const ids: string[] = [];
  for (let i = 0; i < total; i++) {
    const res = await restCall(sys, 'alice', 'POST', '/v1/messages', { toUserId: 'bob', tempId: `k${i}`, content: `m${i}` });
    ids.push(res.body.id);
    if (i === 50) await pusher.kill('SIGKILL');
    if (i === 80) pusher = await startRoleProcess(t, 'push', sys.config, env);
  }
  const distinct = () => new Set(service.received.filter((p) => p.status === 201).map((p) => (p.payload as { messageId: string }).messageId));
  await pollUntil(async () => distinct().size, (n) => n >= total, 60_000);
  t.equal(distinct().size, total, 'every message was pushed');
  t.same([...distinct()].sort(), [...ids].sort(), 'and nothing else');

  // Jobs the killed process had taken come again once their ack wait (timeout + 5 s) is over: let them.
  await new Promise((r) => setTimeout(r, 7_000));
  const copies = new Map<string, number>();
  for (const p of service.received) {
    const id = (p.payload as { messageId: string }).messageId;
    copies.set(id, (copies.get(id) ?? 0) + 1);
  }
  // A push is recorded just after the push service answered it: wait for the last records.
  type Rec = { decision: string; messageId: string; attempt: number };
  const readLog = async () => (await restCall(sys, 'bob', 'GET', '/v1/push/log?limit=200')).body.records as Rec[];
  // Each send is on record, or the one after a crash says it is a later attempt.
  const sendsOf = (l: Rec[], id: string) => l.filter((r) => r.messageId === id && (r.decision === 'pushed' || r.decision === 'retried'));
  const shown = (l: Rec[], id: string) => Math.max(sendsOf(l, id).length, ...sendsOf(l, id).map((r) => r.attempt ?? 0));
  const log = await pollUntil(readLog, (l) => [...copies].every(([id, n]) => shown(l, id) >= n), 10_000);
  for (const [id, n] of copies) {
    if (n === 1) continue;
    const records = sendsOf(log, id);
    t.ok(shown(log, id) >= n, `${id} was pushed ${n} times; its records show ${records.length} sends, the last attempt ${Math.max(0, ...records.map((r) => r.attempt ?? 0))}`);
  }
  t.comment(`pushes received ${service.received.length} for ${total} messages`);
  await pusher.kill('SIGTERM');
});
