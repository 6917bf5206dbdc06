import t from 'tap';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { makeNames } from '../../lib/names.js';
import { readLeaseHolders } from '../../lib/leases.js';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { envFor, startRoleProcess, type RoleProcess } from '../helpers/processes.js';
import { pollUntil } from '../helpers/poll.js';
import { startSystem } from '../helpers/system.js';
import type { TestClient } from '../helpers/client.js';

/** Who holds each command partition now (expired leases count as nobody). */
async function owners(bucket: string, partitions: number, leaseMs: number): Promise<(string | undefined)[]> {
  const nc = await connect({ servers: '127.0.0.1:4222' });
  try {
    return (await readLeaseHolders(await new Kvm(nc).open(bucket), partitions, leaseMs)).map((h) => h?.owner);
  } finally {
    await nc.close();
  }
}

t.test('three engines share the partitions; one killed, one stopped, one started mid-stream: nothing acknowledged is lost or doubled, order holds', async (t) => {
  const sys = await startSystem(t, { partitions: 8 }, ['gateway', 'projector']);
  const { leaseMs } = sys.config.engine;
  const bucket = makeNames(sys.config.prefix).buckets.engineLeases;
  const engines: RoleProcess[] = [];
  for (let i = 0; i < 3; i++) engines.push(await startRoleProcess(t, 'engine', sys.config));
  await pollUntil(() => owners(bucket, 8, leaseMs), (o) => o.every(Boolean) && new Set(o).size === 3, 15_000);
  const spread = await owners(bucket, 8, leaseMs);
  t.equal(new Set(spread).size, 3, `three engines hold the 8 partitions: ${spread.join(' ')}`);

  const pairs = 24;
  const senders: TestClient[] = [];
  const receivers: TestClient[] = [];
  for (let i = 0; i < pairs; i++) {
    senders.push(await sys.connect(`s${i}`));
    receivers.push(await sys.connect(`r${i}`));
  }
  const total = 480;
  for (let i = 0; i < total; i++) {
    const k = i % pairs;
    senders[k]!.send({ type: 'message.send', payload: { toUserId: `r${k}`, tempId: `x${i}`, content: `m${i}` } });
    if (i === 120) await engines[0]!.kill('SIGKILL');
    if (i === 240) await engines[1]!.kill('SIGTERM');
    if (i === 300) engines.push(await startRoleProcess(t, 'engine', sys.config));
    await new Promise((r) => setTimeout(r, 5));
  }
  // Every send is acknowledged (message.sent) once its engine decides it: wait for all of them.
  const acked = () => senders.reduce((a, s) => a + s.of('message.sent').length, 0);
  await pollUntil(async () => acked(), (n) => n >= total, 60_000);
  t.equal(acked(), total, 'every send acknowledged');
  for (let k = 0; k < pairs; k++) {
    const sent = senders[k]!.of('message.sent').map((f) => f.payload.message.seq as number);
    await pollUntil(async () => receivers[k]!.of('message.new').length, (n) => n >= sent.length, 20_000);
    await new Promise((r) => setTimeout(r, 50));
    const got = receivers[k]!.of('message.new').map((f) => f.payload.message.seq as number);
    t.same(got, [...sent].sort((a, b) => a - b), `r${k}: every acknowledged message once, in conversation order`);
  }
  // A partition given back to even the shares is free until the next round of the engine taking it.
  const after = await pollUntil(() => owners(bucket, 8, leaseMs), (o) => o.every(Boolean) && new Set(o).size === 2, 10_000);
  t.ok(after.every(Boolean), `every partition owned at the end: ${after.join(' ')}`);
  t.equal(new Set(after).size, 2, 'by the two engines left (the started one and the third)');
  for (const e of engines.slice(2)) await e.kill('SIGTERM');
});

t.test('parley partitions: the engine holding each partition and the commands waiting in it', async (t) => {
  const sys = await startSystem(t, { partitions: 4 });
  const engineId = (await owners(makeNames(sys.config.prefix).buckets.engineLeases, 4, sys.config.engine.leaseMs))[0];
  t.ok(engineId, 'the engine holds p0');
  const bin = fileURLToPath(new URL('../../bin/parley.mjs', import.meta.url));
  const out = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [bin, 'partitions', '--json'], { env: { ...process.env, ...envFor(sys.config) }, timeout: 30_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
  const parsed = JSON.parse(out) as { partitions: { partition: number; owner: string; undecided: number }[]; delivery: { partition: number; owner: string | null; lag: number | null }[] };
  const rows = parsed.partitions;
  t.same(rows.map((r) => [r.partition, r.owner, r.undecided]), [0, 1, 2, 3].map((p) => [p, engineId, 0]), 'one engine holds all four, nothing waits');
  t.match(parsed.delivery, [{ partition: 0, owner: String, lag: 0 }], 'the one delivery partition: held, nothing behind');
  t.equal(parsed.delivery.length, 1);
  t.notOk('push' in parsed, 'no push table where push is off');
  // With push on (and no push projector running in this system): its one partition, held by nobody.
  const withPush = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [bin, 'partitions', '--json'], { env: { ...process.env, ...envFor(sys.config), PARLEY_PUSH: '1' }, timeout: 30_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
  t.match((JSON.parse(withPush) as { push: unknown }).push, [{ partition: 0, owner: null, lag: null }]);
  // parley projections status: the delivery partition's row says who holds it.
  const status = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [bin, 'projections', 'status', '--json'], { env: { ...process.env, ...envFor(sys.config) }, timeout: 30_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
  t.match((JSON.parse(status) as { projectors: unknown[] }).projectors[0], { name: 'delivery', partition: 0, owner: parsed.delivery[0]!.owner, lag: 0 });
});
