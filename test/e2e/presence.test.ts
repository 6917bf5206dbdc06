/**
 * Presence end to end (issue 14): user.online / user.offline to contacts only, one presence for
 * several devices, silent reconnects within the grace, status.bulk on connect, blocks hiding
 * presence both ways, lastSeen surviving a restart of the presence service, and a gateway killed
 * with SIGKILL whose users go offline within lease + grace. Short timings via config.
 */
import t, { type Test } from 'tap';
import { Kvm } from '@nats-io/kv';
import type { Config } from '../../lib/config.js';
import { connectNats } from '../../lib/nats.js';
import { openDatabase } from '../../lib/pg.js';
import { readContacts } from '../../projections/presence/contacts.js';
import type { TestClient } from '../helpers/client.js';
import { pollUntil } from '../helpers/poll.js';
import { startRoleProcess } from '../helpers/processes.js';
import { startSystem, testLog, type TestSystem } from '../helpers/system.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const presence = { heartbeatMs: 200, leaseMs: 1_000, graceMs: 600, contactsCacheMs: 0, maxSubscriptions: 200 };
/** Longer than any announcement can take here: the grace, a tick, and slack for a loaded machine. */
const SETTLE_MS = presence.graceMs + 900;

/** A direct conversation between a and b, made over REST (no socket, so no presence of its own), and in the read models. */
async function makeContacts(t: Test, sys: TestSystem, a: string, b: string, httpBase = sys.url.replace('ws://', 'http://').replace('/ws', '')): Promise<void> {
  const res = await fetch(`${httpBase}/v1/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await sys.token(a)}`, 'content-type': 'application/json' },
    body: JSON.stringify({ toUserId: b, tempId: `hello-${b}`, content: 'hi' }),
  });
  t.equal(res.status, 201, `${a} → ${b} sent`);
  await waitForContact(sys.config, a, b, true);
}

async function waitForContact(config: Config, a: string, b: string, present: boolean): Promise<void> {
  const db = await openDatabase(config, testLog);
  try {
    const found = await pollUntil(
      async () => (await readContacts(db.pool, db.schema, a)).some((c) => c.userId === b),
      (v) => v === present,
    );
    if (found !== present) throw new Error(`read models never showed ${b} ${present ? 'as' : 'not as'} ${a}'s contact`);
  } finally {
    await db.close();
  }
}

const presenceOf = (c: TestClient, userId: string) => c.frames.filter((f) => (f.type === 'user.online' || f.type === 'user.offline') && f.payload.userId === userId);

t.test('online and offline reach contacts only; devices are one presence; a reconnect within the grace is silent; status.bulk', async (t) => {
  const sys = await startSystem(t, { presence });
  await makeContacts(t, sys, 'alice', 'bob');

  const bob = await sys.connect('bob');
  const carol = await sys.connect('carol'); // no conversation with alice: not a contact
  const bobBulk = await bob.next('status.bulk');
  t.strictSame(bobBulk.payload.users, [{ userId: 'alice', isOnline: false, lastSeen: null }], 'status.bulk: the one contact, never seen');
  t.strictSame((await carol.next('status.bulk')).payload.users, [], 'no contacts, an empty status.bulk');
  t.ok(bob.frames.indexOf(bobBulk) > bob.frames.findIndex((f) => f.type === 'connection.success'), 'after connection.success');

  const before = Date.now();
  const phone = await sys.connect('alice', { deviceId: 'phone' });
  const online = await bob.next('user.online', (f) => f.payload.userId === 'alice');
  t.equal(online.payload.isOnline, true);
  t.ok(Date.parse(online.payload.lastSeen) >= before - 5, 'lastSeen of an online user: when they came online');
  t.equal(online.seq, undefined, 'ephemeral: no seq');
  const aliceBulk = await phone.next('status.bulk');
  t.equal(aliceBulk.payload.users.length, 1);
  t.match(aliceBulk.payload.users[0], { userId: 'bob', isOnline: true }, 'alice sees bob online in her status.bulk');

  const laptop = await sys.connect('alice', { deviceId: 'laptop' });
  await phone.close();
  await sleep(SETTLE_MS);
  t.equal(presenceOf(bob, 'alice').length, 1, 'a second device and closing one of two: nothing more for bob');

  // The last device goes and comes back within the grace: silent.
  await laptop.close();
  const back = await sys.connect('alice', { deviceId: 'laptop' });
  await sleep(SETTLE_MS);
  t.equal(presenceOf(bob, 'alice').length, 1, 'a reconnect within the grace: no offline, no second online');

  const left = Date.now();
  await back.close();
  const offline = await bob.next('user.offline', (f) => f.payload.userId === 'alice', 5_000);
  t.equal(offline.payload.isOnline, false);
  const lastSeen = Date.parse(offline.payload.lastSeen);
  t.ok(lastSeen >= left - 5 && lastSeen <= left + 500, `lastSeen is when the last connection closed (${lastSeen - left} ms after close)`);

  t.equal(carol.frames.filter((f) => f.type === 'user.online' || f.type === 'user.offline').length, 0, 'the non-contact heard nothing');

  // A later connection of bob's sees alice offline with that lastSeen.
  const bob2 = await sys.connect('bob', { deviceId: 'tablet' });
  t.strictSame((await bob2.next('status.bulk')).payload.users, [{ userId: 'alice', isOnline: false, lastSeen: offline.payload.lastSeen }]);
});

t.test('a block hides presence both ways', async (t) => {
  const sys = await startSystem(t, { presence });
  await makeContacts(t, sys, 'alice', 'dave');
  await makeContacts(t, sys, 'alice', 'erin');
  const dave = await sys.connect('dave');
  dave.send({ type: 'block.add', payload: { userId: 'alice' } });
  await dave.next('block.added');
  await waitForContact(sys.config, 'alice', 'dave', false);
  const erin = await sys.connect('erin');

  const alice = await sys.connect('alice');
  const bulk = await alice.next('status.bulk');
  t.strictSame(bulk.payload.users.map((u: { userId: string }) => u.userId), ['erin'], "the blocker is not in alice's status.bulk");
  await erin.next('user.online', (f) => f.payload.userId === 'alice');
  await alice.close();
  await erin.next('user.offline', (f) => f.payload.userId === 'alice', 5_000);
  t.equal(presenceOf(dave, 'alice').length, 0, 'the blocker hears nothing of the blocked user');
  const dave2 = await sys.connect('dave', { deviceId: 'two' });
  t.strictSame((await dave2.next('status.bulk')).payload.users, [], "nor sees them in status.bulk");

  // The other way: alice (blocked) does not hear of dave (the blocker).
  const alice2 = await sys.connect('alice', { deviceId: 'again' });
  await dave.close();
  await dave2.close();
  await sleep(SETTLE_MS);
  t.equal(presenceOf(alice2, 'dave').length, 0, 'the blocked user hears nothing of the blocker');
});

t.test('a block hides presence at once, though the contacts are cached for long', async (t) => {
  const sys = await startSystem(t, { presence: { ...presence, contactsCacheMs: 600_000 } });
  await makeContacts(t, sys, 'gus', 'hal');
  const hal = await sys.connect('hal');
  const gus = await sys.connect('gus');
  await hal.next('user.online', (f) => f.payload.userId === 'gus');
  await gus.next('status.bulk');
  // Both have their contacts cached now (gus's online was announced to hal with them).
  hal.send({ type: 'block.add', payload: { userId: 'gus' } });
  await hal.next('block.added');
  await gus.close();
  await sleep(SETTLE_MS);
  t.equal(presenceOf(hal, 'gus').filter((f) => f.type === 'user.offline').length, 0, 'the blocker does not hear the blocked user go, from the moment the block is stored');
  const gus2 = await sys.connect('gus', { deviceId: 'two' });
  t.strictSame((await gus2.next('status.bulk')).payload.users, [], "nor is the blocker in the blocked user's status.bulk (before the read models have the block, too)");
  await hal.close();
  await sleep(SETTLE_MS);
  t.equal(presenceOf(gus2, 'hal').length, 0, 'the blocked user hears nothing of the blocker');
});

t.test('lastSeen survives a restart of the presence service; a user online across it stays online, silently', async (t) => {
  const sys = await startSystem(t, { presence }, ['gateway', 'backend']);
  await makeContacts(t, sys, 'alice', 'bob', sys.running[0]!.gateway!.url.replace('ws://', 'http://').replace('/ws', ''));
  const bob = await sys.connect('bob');
  const alice = await sys.connect('alice');
  await bob.next('user.online', (f) => f.payload.userId === 'alice');
  const frank = await sys.connect('frank');
  await makeContacts(t, sys, 'frank', 'bob');
  await frank.close();
  const frankOffline = await bob.next('user.offline', (f) => f.payload.userId === 'frank', 5_000);

  // The presence service (in the backend) restarts; alice stays connected throughout.
  await sys.running[1]!.stop();
  sys.running.splice(1, 1);
  await sys.start('backend');
  await sleep(presence.leaseMs + SETTLE_MS);
  t.equal(presenceOf(bob, 'alice').length, 1, 'alice was claimed by her gateway after the restart: no offline, no second online');

  const bob2 = await sys.connect('bob', { deviceId: 'two' });
  const users = (await bob2.next('status.bulk')).payload.users as { userId: string; isOnline: boolean; lastSeen: string | null }[];
  const byId = new Map(users.map((u) => [u.userId, u]));
  t.equal(byId.get('alice')?.isOnline, true, 'alice online');
  t.strictSame(byId.get('frank'), { userId: 'frank', isOnline: false, lastSeen: frankOffline.payload.lastSeen }, "frank's lastSeen from before the restart");

  // The KV bucket says the same.
  const nc = await connectNats(sys.config, 'test-kv', testLog);
  t.teardown(() => nc.close());
  const kv = await new Kvm(nc).open(sys.running[0]!.names.buckets.presence);
  const stored = JSON.parse(new TextDecoder().decode((await kv.get('frank'))!.value));
  t.strictSame(stored, { isOnline: false, lastSeen: frankOffline.payload.lastSeen });
  void alice;
});

t.test('kill -9 of the gateway a user is on: their contact on another gateway gets user.offline within lease + grace', async (t) => {
  const sys = await startSystem(t, { presence }, ['backend', 'gateway']);
  const http = sys.url.replace('ws://', 'http://').replace('/ws', '');
  await makeContacts(t, sys, 'alice', 'bob', http);
  const doomed = await startRoleProcess(t, 'gateway', sys.config);
  const bob = await sys.connect('bob');
  const alice = await sys.connect('alice', { url: doomed.url });
  await bob.next('user.online', (f) => f.payload.userId === 'alice');
  await sleep(presence.heartbeatMs * 2);

  const killedAt = Date.now();
  await doomed.kill('SIGKILL');
  void alice.closed;
  const offline = await bob.next('user.offline', (f) => f.payload.userId === 'alice', 10_000);
  const took = Date.now() - killedAt;
  const bound = presence.leaseMs + presence.graceMs + 1_500;
  t.ok(took <= bound, `user.offline ${took} ms after the kill (bound: lease + grace + a tick and slack = ${bound} ms)`);
  t.ok(Date.parse(offline.payload.lastSeen) <= killedAt + 50, "lastSeen: the dead gateway's last heartbeat, not later");

  const nc = await connectNats(sys.config, 'test-kv', testLog);
  t.teardown(() => nc.close());
  const kv = await new Kvm(nc).open(sys.running[0]!.names.buckets.presence);
  const stored = JSON.parse(new TextDecoder().decode((await kv.get('alice'))!.value));
  t.equal(stored.isOnline, false, 'stored offline: no ghost');
  t.equal(sys.running[0]!.presence!.active!.stats().usersOnline, 1, 'only bob is online');
});

t.test('malformed notices on the presence subject are dropped: the service goes on announcing', async (t) => {
  const sys = await startSystem(t, { presence });
  await makeContacts(t, sys, 'alice', 'bob');
  const service = sys.running[0]!.presence!.active!;
  const nc = await connectNats(sys.config, 'test-hostile', testLog);
  t.teardown(() => nc.close());
  const subject = sys.running[0]!.names.subjects.presenceNotices;
  const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  const hostile = [
    new Uint8Array([0xff, 0x00, 0x7b]),
    enc(null),
    enc({ type: 'user', gatewayId: 'g', epoch: 'e', seq: 1, userId: 'x.>', online: true }),
    enc({ type: 'user', gatewayId: 'g', epoch: 'e', seq: -1, userId: 'bob', online: true }),
    enc({ type: 'snapshot', gatewayId: 'g', epoch: 'e', seq: 1, syncId: 's', part: 5, parts: 2, users: [] }),
    enc({ type: 'heartbeat', gatewayId: 'g'.repeat(500), epoch: 'e', seq: 1, users: 0 }),
    enc({ type: 'constructor', gatewayId: 'g', epoch: 'e', seq: 1 }),
  ];
  for (const data of hostile) nc.publish(subject, data);
  await nc.flush();
  await pollUntil(async () => service.stats().invalid, (n) => n >= 6);
  t.ok(service.stats().invalid >= 6, `refused ${service.stats().invalid} malformed notices`);
  const bob = await sys.connect('bob');
  await sys.connect('alice');
  t.equal((await bob.next('user.online', (f) => f.payload.userId === 'alice')).payload.isOnline, true, 'still announcing');
});

t.test("a user on two gateways is one presence: killing one of them leaves them online", async (t) => {
  const sys = await startSystem(t, { presence }, ['backend', 'gateway']);
  await makeContacts(t, sys, 'alice', 'bob');
  const doomed = await startRoleProcess(t, 'gateway', sys.config);
  const bob = await sys.connect('bob');
  await sys.connect('alice', { url: doomed.url, deviceId: 'phone' });
  await bob.next('user.online', (f) => f.payload.userId === 'alice');
  const laptop = await sys.connect('alice', { deviceId: 'laptop' });
  await doomed.kill('SIGKILL');
  await sleep(presence.leaseMs + SETTLE_MS);
  t.equal(presenceOf(bob, 'alice').length, 1, 'no offline (and no second online) while her laptop is on the other gateway');
  await laptop.close();
  t.equal((await bob.next('user.offline', (f) => f.payload.userId === 'alice', 5_000)).payload.isOnline, false, 'offline when the last device goes');
});
