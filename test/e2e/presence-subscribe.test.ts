/**
 * presence.subscribe / presence.unsubscribe and GET /v1/presence (issue 14): the presence of users
 * who are not contacts (a group's member list), on connect-time answers and on later transitions;
 * one frame per transition for a contact who also subscribes; nothing either way across a block
 * (a user never seen); bounded per connection and per request; across gateways. Short timings.
 */
import t, { type Test } from 'tap';
import type { Config } from '../../lib/config.js';
import { ident, openDatabase } from '../../lib/pg.js';
import { readContacts } from '../../projections/presence/contacts.js';
import type { Frame, TestClient } from '../helpers/client.js';
import { pollUntil } from '../helpers/poll.js';
import { startRoleProcess } from '../helpers/processes.js';
import { startSystem, testLog, type TestSystem } from '../helpers/system.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const presence = { heartbeatMs: 200, leaseMs: 1_000, graceMs: 300, contactsCacheMs: 0, maxSubscriptions: 200 };
/** Longer than any announcement can take here: the grace, a tick, and slack for a loaded machine. */
const SETTLE_MS = presence.graceMs + 900;

const httpOf = (sys: TestSystem, url = sys.url) => url.replace('ws://', 'http://').replace('/ws', '');
const presenceOf = (c: TestClient, userId: string) => c.frames.filter((f) => (f.type === 'user.online' || f.type === 'user.offline') && f.payload.userId === userId);
/** The next frame of that type about `userId` after the first `from` frames. */
const nextAbout = (c: TestClient, type: string, userId: string, from: number, timeoutMs = 5_000) =>
  c.next(type, (f) => f.payload?.userId === userId && c.frames.indexOf(f) >= from, timeoutMs);
/** Whatever answers the frame with this ref. */
const answerTo = (c: TestClient, ref: string, timeoutMs = 8_000) =>
  Promise.any(['status.bulk', 'presence.unsubscribed', 'error'].map((type) => c.next(type, (f) => f.ref === ref, timeoutMs)));

async function subscribe(c: TestClient, ref: string, userIds: string[]): Promise<Frame> {
  c.send({ type: 'presence.subscribe', ref, payload: { userIds } });
  return answerTo(c, ref);
}

async function makeContacts(t: Test, sys: TestSystem, a: string, b: string): Promise<void> {
  const res = await fetch(`${httpOf(sys)}/v1/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await sys.token(a)}`, 'content-type': 'application/json' },
    body: JSON.stringify({ toUserId: b, tempId: `hello-${b}`, content: 'hi' }),
  });
  t.equal(res.status, 201, `${a} → ${b} sent`);
  await waitForContact(sys.config, a, b);
}

async function waitForContact(config: Config, a: string, b: string): Promise<void> {
  const db = await openDatabase(config, testLog);
  try {
    const found = await pollUntil(async () => (await readContacts(db.pool, db.schema, a)).some((c) => c.userId === b), (v) => v);
    if (!found) throw new Error(`read models never showed ${b} as ${a}'s contact`);
  } finally {
    await db.close();
  }
}

/** Blocks reach the presence service through the read models: wait for them there. */
async function waitForBlock(config: Config, blocker: string, blocked: string): Promise<void> {
  const db = await openDatabase(config, testLog);
  try {
    const found = await pollUntil(
      async () => (await db.pool.query(`SELECT 1 FROM ${ident(db.schema)}.blocks WHERE blocker_id = $1 AND blocked_id = $2`, [blocker, blocked])).rowCount === 1,
      (v) => v,
    );
    if (!found) throw new Error(`read models never showed ${blocker} blocking ${blocked}`);
  } finally {
    await db.close();
  }
}

async function getPresence(sys: TestSystem, asker: string | undefined, query: string, base = httpOf(sys)): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}/v1/presence${query}`, { headers: asker === undefined ? {} : { authorization: `Bearer ${await sys.token(asker)}` } });
  return { status: res.status, body: await res.json() };
}

t.test('subscribe: the current presence at once, then online and offline of a non-contact; unsubscribe stops them', async (t) => {
  const sys = await startSystem(t, { presence });
  const carol = await sys.connect('carol');
  await carol.next('status.bulk');
  const bob = await sys.connect('bob');

  const first = await subscribe(carol, 's1', ['alice', 'bob', 'alice']);
  t.equal(first.type, 'status.bulk', 'answered with status.bulk');
  t.equal(first.seq, undefined, 'ephemeral: no seq');
  t.equal(first.payload.users.length, 2, 'one entry a user, in the order asked');
  t.strictSame(first.payload.users[0], { userId: 'alice', isOnline: false, lastSeen: null }, 'never seen');
  t.match(first.payload.users[1], { userId: 'bob', isOnline: true }, 'bob is online');

  const n = carol.frames.length;
  const alice = await sys.connect('alice');
  const online = await nextAbout(carol, 'user.online', 'alice', n);
  t.match(online.payload, { userId: 'alice', isOnline: true });
  await alice.close();
  const offline = await nextAbout(carol, 'user.offline', 'alice', n);
  t.equal(offline.payload.isOnline, false);
  t.ok(Date.parse(offline.payload.lastSeen) > 0, 'with lastSeen');

  carol.send({ type: 'presence.unsubscribe', ref: 'u1', payload: { userIds: ['alice', 'nobody'] } });
  const unsubscribed = await carol.next('presence.unsubscribed', (f) => f.ref === 'u1');
  t.strictSame(unsubscribed.payload, { userIds: ['alice', 'nobody'] }, 'an id not subscribed is answered like the others');
  carol.send({ type: 'presence.unsubscribe', ref: 'u2', payload: { userIds: ['alice'] } });
  t.strictSame((await carol.next('presence.unsubscribed', (f) => f.ref === 'u2')).payload, { userIds: ['alice'] }, 'twice: the same answer');

  const before = presenceOf(carol, 'alice').length;
  const m = carol.frames.length;
  await sys.connect('alice');
  await bob.close();
  await nextAbout(carol, 'user.offline', 'bob', m); // still subscribed to bob: the transitions flow
  await sleep(SETTLE_MS);
  t.equal(presenceOf(carol, 'alice').length, before, 'nothing of alice after unsubscribing');

  // Another connection of carol's has subscribed to nothing: it hears nothing.
  const carol2 = await sys.connect('carol', { deviceId: 'two' });
  const k = carol2.frames.length;
  await bob.close();
  const bob2 = await sys.connect('bob');
  await nextAbout(carol, 'user.online', 'bob', m);
  await sleep(SETTLE_MS);
  t.equal(carol2.frames.slice(k).filter((f) => f.type.startsWith('user.')).length, 0, 'subscriptions are per connection');
  void bob2;
});

t.test('a contact who also subscribes gets each transition once', async (t) => {
  const sys = await startSystem(t, { presence });
  await makeContacts(t, sys, 'alice', 'bob');
  const bob = await sys.connect('bob');
  await bob.next('status.bulk');
  t.equal((await subscribe(bob, 's', ['alice'])).type, 'status.bulk');
  const alice = await sys.connect('alice');
  await bob.next('user.online', (f) => f.payload.userId === 'alice');
  await alice.close();
  await bob.next('user.offline', (f) => f.payload.userId === 'alice');
  await sleep(SETTLE_MS);
  t.strictSame(presenceOf(bob, 'alice').map((f) => f.type), ['user.online', 'user.offline'], 'once each');
});

t.test('blocked either way: offline and never seen on subscribe and over REST, and nothing later', async (t) => {
  const sys = await startSystem(t, { presence });
  const erin = await sys.connect('erin'); // a bystander who hears the transitions
  const alice = await sys.connect('alice');
  const dave = await sys.connect('dave');
  dave.send({ type: 'block.add', payload: { userId: 'alice' } });
  await dave.next('block.added');
  await waitForBlock(sys.config, 'dave', 'alice');
  t.equal((await subscribe(erin, 'e', ['alice', 'dave'])).payload.users.filter((u: { isOnline: boolean }) => u.isOnline).length, 2, 'both online');

  const daveSees = await subscribe(dave, 'd', ['alice']);
  t.strictSame(daveSees.payload.users, [{ userId: 'alice', isOnline: false, lastSeen: null }], 'the blocker sees the blocked as never seen');
  const aliceSees = await subscribe(alice, 'a', ['dave']);
  t.strictSame(aliceSees.payload.users, [{ userId: 'dave', isOnline: false, lastSeen: null }], 'the blocked sees the blocker as never seen');
  t.strictSame((await getPresence(sys, 'dave', '?users=alice')).body, { users: [{ userId: 'alice', isOnline: false, lastSeen: null }] }, 'REST, the blocker');
  t.strictSame((await getPresence(sys, 'alice', '?users=dave')).body, { users: [{ userId: 'dave', isOnline: false, lastSeen: null }] }, 'REST, the blocked');

  const n = erin.frames.length;
  await alice.close();
  await nextAbout(erin, 'user.offline', 'alice', n);
  await sys.connect('alice', { deviceId: 'two' });
  await nextAbout(erin, 'user.online', 'alice', n);
  await sleep(SETTLE_MS);
  t.equal(presenceOf(dave, 'alice').length, 0, 'the blocker hears nothing of the blocked');

  const alice3 = await sys.connect('alice', { deviceId: 'three' });
  t.strictSame((await subscribe(alice3, 'a3', ['dave'])).payload.users[0].lastSeen, null);
  await dave.close();
  await nextAbout(erin, 'user.offline', 'dave', n);
  await sleep(SETTLE_MS);
  t.equal(presenceOf(alice3, 'dave').length, 0, 'the blocked hears nothing of the blocker');
});

t.test('at most PARLEY_PRESENCE_MAX_SUBSCRIPTIONS users a connection; a frame over it changes nothing', async (t) => {
  const sys = await startSystem(t, { presence });
  const c = await sys.connect('counter');
  const ids = Array.from({ length: 200 }, (_, i) => `user-${i}`);
  const full = await subscribe(c, 'full', ids);
  t.equal(full.type, 'status.bulk');
  t.equal(full.payload.users.length, 200);
  const over = await subscribe(c, 'over', ['user-0', 'one-more']);
  t.equal(over.type, 'error', 'the 201st user is refused');
  t.equal(over.error!.code, 'validation_error');
  t.match(over.error!.message, /at most 200 users/);
  c.send({ type: 'presence.unsubscribe', ref: 'u', payload: { userIds: ['user-0'] } });
  await c.next('presence.unsubscribed', (f) => f.ref === 'u');
  t.equal((await subscribe(c, 'again', ['one-more'])).type, 'status.bulk', 'room for exactly one after one unsubscribe (the refused frame added nothing)');
  t.equal((await subscribe(c, 'over2', ['two-more'])).type, 'error', 'full again');
  const tooLong = await subscribe(c, 'long', Array.from({ length: 1_001 }, (_, i) => `x${i}`));
  t.equal(tooLong.error?.code, 'validation_error', 'a frame naming more than 1,000 is refused by the schema');
  const bad = await subscribe(c, 'bad', ['ok', 'not ok']);
  t.equal(bad.error?.code, 'validation_error', 'an invalid id');
  const empty = await subscribe(c, 'empty', []);
  t.equal(empty.error?.code, 'validation_error', 'an empty list');
});

t.test('a subscriber on one gateway hears of a user on another', async (t) => {
  const sys = await startSystem(t, { presence }, ['backend', 'gateway']);
  const other = await startRoleProcess(t, 'gateway', sys.config);
  const carol = await sys.connect('carol');
  t.strictSame((await subscribe(carol, 's', ['alice'])).payload.users, [{ userId: 'alice', isOnline: false, lastSeen: null }]);
  const alice = await sys.connect('alice', { url: other.url });
  await carol.next('user.online', (f) => f.payload.userId === 'alice', 10_000);
  await alice.close();
  await carol.next('user.offline', (f) => f.payload.userId === 'alice', 10_000);
  const rest = await getPresence(sys, 'carol', '?users=alice', httpOf(sys, other.url));
  t.equal(rest.status, 200, 'REST on the other gateway too');
  t.equal(rest.body.users[0].isOnline, false);
});

t.test('GET /v1/presence: in the order asked without repeats, bounded, 400 on bad input, 401 without a token', async (t) => {
  const sys = await startSystem(t, { presence });
  const alice = await sys.connect('alice');
  const frank = await sys.connect('frank');
  const carol = await sys.connect('carol');
  t.equal((await subscribe(carol, 'f', ['frank'])).type, 'status.bulk');
  await frank.close();
  const frankOffline = await carol.next('user.offline', (f) => f.payload.userId === 'frank');

  const ok = await getPresence(sys, 'carol', '?users=nobody,alice,frank,alice');
  t.equal(ok.status, 200);
  t.equal(ok.body.users.length, 3, 'duplicates removed');
  t.strictSame(ok.body.users[0], { userId: 'nobody', isOnline: false, lastSeen: null });
  t.match(ok.body.users[1], { userId: 'alice', isOnline: true });
  t.strictSame(ok.body.users[2], { userId: 'frank', isOnline: false, lastSeen: frankOffline.payload.lastSeen }, 'lastSeen as announced');

  const ids = Array.from({ length: 101 }, (_, i) => `u${i}`);
  t.equal((await getPresence(sys, 'carol', `?users=${ids.slice(0, 100).join(',')}`)).body.users.length, 100, '100 is allowed');
  for (const [query, why] of [
    [`?users=${ids.join(',')}`, '101 users'],
    ['', 'no users'],
    ['?users=', 'empty users'],
    ['?users=a,,b', 'an empty id'],
    ['?users=a%2Eb', 'a dot'],
    ['?users=%E2%80%AE', 'not an id'],
  ] as const) {
    const res = await getPresence(sys, 'carol', query);
    t.equal(res.status, 400, `${why}: 400`);
    t.equal(res.body.error?.code, 'validation_error', `${why}: validation_error`);
  }
  const anonymous = await getPresence(sys, undefined, '?users=alice');
  t.equal(anonymous.status, 401);
  t.equal(anonymous.body.error.code, 'unauthorized');
  void alice;
});

t.test('no presence service: subscribe and REST answer unavailable (temporary), at once, and the socket stays served', async (t) => {
  const sys = await startSystem(t, { presence }, ['gateway']);
  const c = await sys.connect('lonely');
  const started = Date.now();
  const refused = await subscribe(c, 's', ['alice']);
  t.equal(refused.error?.code, 'unavailable');
  t.equal((refused.error as { temporary?: boolean }).temporary, true);
  t.ok(Date.now() - started < 4_000, 'within the query timeout');
  const rest = await getPresence(sys, 'lonely', '?users=alice');
  t.equal(rest.status, 503);
  t.equal(rest.body.error.code, 'unavailable');
  t.equal(rest.body.error.temporary, true);
  t.match(sys.running[0]!.gateway!.stats(), { connections: 1 }, 'the socket is still served');
});
