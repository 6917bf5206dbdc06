import t from 'tap';
import { clusterNatsServer, startNatsCluster } from '../helpers/nats-cluster.js';
import { startRoleProcess } from '../helpers/processes.js';
import { pollUntil } from '../helpers/poll.js';
import { startSystem } from '../helpers/system.js';
import type { TestClient } from '../helpers/client.js';

/**
 * Parley on a 3-node NATS cluster (nats-server 2.10.27, streams with 3 replicas): one node killed
 * with SIGKILL mid-stream and started again, two engines sharing the partitions. Nothing
 * acknowledged is lost or delivered twice, and each conversation keeps its order.
 */
// Three nats-servers, R3 streams and several Parley processes on two cores, next to the rest of the suite.
t.setTimeout(240_000);

t.test('3-node cluster, R3: a node killed and restarted mid-stream; every acknowledged message once, in order', async (t) => {
  const server = await clusterNatsServer();
  if ('skip' in server) {
    t.comment(`SKIPPED: ${server.skip}`);
    return;
  }
  const cluster = await startNatsCluster(t, server.binary);
  const sys = await startSystem(t, { natsUrl: cluster.urls, replicas: 3, partitions: 4 });
  await startRoleProcess(t, 'engine', sys.config);

  const pairs = 10;
  const senders: TestClient[] = [];
  const receivers: TestClient[] = [];
  for (let i = 0; i < pairs; i++) {
    senders.push(await sys.connect(`s${i}`));
    receivers.push(await sys.connect(`r${i}`));
  }
  const total = 240;
  for (let i = 0; i < total; i++) {
    const k = i % pairs;
    senders[k]!.send({ type: 'message.send', payload: { toUserId: `r${k}`, tempId: `c${i}`, content: `m${i}` } });
    if (i === 80) await cluster.nodes[1]!.kill('SIGKILL');
    if (i === 160) await cluster.nodes[1]!.start();
    await new Promise((r) => setTimeout(r, 10));
  }
  // A send whose command the dying node took without answering is refused (send_failed) or times out: the client
  // retries it with the same tempId, as a real one does.
  const acked = () => new Set(senders.flatMap((s) => s.of('message.sent').map((f) => f.payload.message.tempId as string)));
  for (let round = 0; round < 3 && acked().size < total; round++) {
    await pollUntil(async () => acked().size, (n) => n >= total, 15_000);
    for (let i = 0; i < total; i++) {
      if (acked().has(`c${i}`)) continue;
      const k = i % pairs;
      senders[k]!.send({ type: 'message.send', payload: { toUserId: `r${k}`, tempId: `c${i}`, content: `m${i}` } });
    }
  }
  t.equal(acked().size, total, 'every send acknowledged (some after a retry with the same tempId)');
  for (let k = 0; k < pairs; k++) {
    const sent = [...new Set(senders[k]!.of('message.sent').map((f) => f.payload.message.seq as number))].sort((a, b) => a - b);
    await pollUntil(async () => receivers[k]!.of('message.new').length, (n) => n >= sent.length, 20_000);
    await new Promise((r) => setTimeout(r, 50));
    const got = receivers[k]!.of('message.new').map((f) => f.payload.message.seq as number);
    t.same(got, sent, `r${k}: every acknowledged message once, in conversation order`);
  }
});
