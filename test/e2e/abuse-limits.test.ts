// Abuse limits (issue 12): per-user buckets that reconnects do not refill, REST 429 with
// Retry-After, per-address 429 before the upgrade, and admission that refuses the flooder first.
import t from 'tap';
import WebSocket from 'ws';
import { defaultConfig, type Config } from '../../lib/config.js';
import { startSystem, type TestSystem } from '../helpers/system.js';
import { flood } from '../helpers/flood.js';
import { pollUntil } from '../helpers/poll.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const high = { connectsPerSecond: 1_000_000, connectBurst: 1_000_000, maxUnauthenticated: 1_000_000 };
const rateLimits = (user: Partial<Config['rateLimits']['user']>, address: Partial<Config['rateLimits']['address']> = {}): Config['rateLimits'] => ({
  user: { sendsPerSecond: 1_000_000, sendBurst: 1_000_000, framesPerSecond: 1_000_000, frameBurst: 1_000_000, ...user },
  address: { ...high, ...address },
  trustProxyHops: 0,
});

t.test('one user with several connections that reconnect after 4008 gets the per-user rate, not a burst per connection', async (t) => {
  const user = { sendsPerSecond: 20, sendBurst: 20 };
  const sys = await startSystem(t, { rateLimits: rateLimits(user) });
  const bob = await sys.connect('bob');
  const started = Date.now();
  const floodMs = 3_000;
  const flooders = Array.from({ length: 5 }, () => flood(sys, 'mallory', { until: () => Date.now() - started > floodMs }));
  await Promise.all(flooders.map((f) => f.done));
  const seconds = (Date.now() - started) / 1000;
  await sleep(1_000); // what was accepted reaches bob
  const accepted = bob.of('message.new').length;
  const stats = flooders.map((f) => f.stats);
  const reconnects = stats.reduce((n, s) => n + s.connections, 0);
  const closes = stats.reduce((n, s) => n + s.closes4008, 0);
  const bound = Math.ceil(user.sendsPerSecond * seconds + user.sendBurst);
  t.comment(`5 flooding connections, ${reconnects} connects, ${closes} closed with 4008, ${accepted} sends accepted in ${seconds.toFixed(1)} s`);
  t.ok(closes >= 5, 'the per-connection abuse rule still closes them with 4008, and they reconnect');
  t.ok(accepted <= bound, `accepted ${accepted} ≤ rate × time + burst = ${bound}`);
  t.ok(accepted >= user.sendsPerSecond * (seconds - 1), `and the user still gets its rate: ${accepted}`);
  const waits = stats.flatMap((s) => s.retryAfterMs);
  t.ok(waits.length > 0 && waits.every((w) => Number.isInteger(w) && w > 0 && w <= 1_000), 'rate_limited says when to retry (retryAfterMs)');
  const limits = (await sys.connect('carol')).of('connection.success')[0]!.payload.limits;
  t.match(limits, { userSendsPerSecond: 20, userSendBurst: 20, userFramesPerSecond: 1_000_000, userFrameBurst: 1_000_000 }, 'connection.success tells the per-user limits');
});

t.test('REST sends over the per-user limit get 429 with Retry-After, from the same bucket as the WebSocket', async (t) => {
  const sys = await startSystem(t, { rateLimits: rateLimits({ sendsPerSecond: 1, sendBurst: 5 }) });
  const base = sys.url.replace('ws://', 'http://').replace('/ws', '');
  const token = await sys.token('alice');
  const post = (i: number) =>
    fetch(`${base}/v1/messages`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ toUserId: 'bob', tempId: `r${i}`, content: `m${i}` }) });
  const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => post(i)));
  const statuses = answers.map((r) => r.status);
  t.equal(statuses.filter((s) => s === 201).length, 5, 'the burst of 5 is accepted');
  const refused = answers.filter((r) => r.status === 429);
  t.equal(refused.length, 7, 'the rest: 429 Too Many Requests');
  for (const r of refused) {
    const body = await r.json();
    t.match(body.error, { code: 'rate_limited', temporary: true });
    t.ok(Number.isInteger(body.error.retryAfterMs) && body.error.retryAfterMs > 0 && body.error.retryAfterMs <= 1_000, `retryAfterMs ${body.error.retryAfterMs}`);
    t.equal(r.headers.get('retry-after'), '1', 'Retry-After in whole seconds, rounded up');
  }
  // The same user on a WebSocket finds the bucket REST emptied.
  const ws = await sys.connect('alice');
  ws.send({ type: 'message.send', ref: 'w', payload: { toUserId: 'bob', tempId: 'w1', content: 'from a socket' } });
  const err = await ws.next('error', (f) => f.ref === 'w');
  t.match(err.error, { code: 'rate_limited', tempId: 'w1' });
  t.ok((err.error as { retryAfterMs?: number }).retryAfterMs! > 0, 'with retryAfterMs');
});

t.test('creating and running groups takes from the send bucket (each fans out to every member): over it, rate_limited on the socket and 429 over REST', async (t) => {
  const sys = await startSystem(t, { rateLimits: rateLimits({ sendsPerSecond: 1, sendBurst: 3 }) });
  const ws = await sys.connect('alice');
  for (let i = 0; i < 5; i++) ws.send({ type: 'conversation.create', ref: `g${i}`, payload: { kind: 'group', title: `G${i}`, members: ['bob'] } });
  const answered = (f: { ref?: string }) => f.ref !== undefined && /^g\d$/.test(f.ref);
  const frames = await pollUntil(async () => ws.frames.filter(answered), (fs) => fs.length >= 5);
  const answers = frames.map((f) => (f.type === 'error' ? f.error!.code : f.type));
  t.equal(answers.filter((a) => a === 'conversation.created').length, 3, 'the burst of 3 is created');
  t.equal(answers.filter((a) => a === 'rate_limited').length, 2, 'the rest: rate_limited');
  const id = (await ws.next('conversation.created')).payload.conversation.id as string;

  const base = sys.url.replace('ws://', 'http://').replace('/ws', '');
  const res = await fetch(`${base}/v1/conversations/${id}`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${await sys.token('alice')}`, 'content-type': 'application/json' },
    body: JSON.stringify({ title: 'Renamed' }),
  });
  t.equal(res.status, 429, 'an update from the same emptied bucket: 429');
  t.match((await res.json()).error, { code: 'rate_limited', temporary: true });
  // A join is the user's own membership: not counted (the group is invite-only, so it is refused as not found).
  const bob = await sys.connect('bob');
  bob.send({ type: 'conversation.join', ref: 'j', payload: { conversationId: 'g_nowhere' } });
  t.equal((await bob.next('error', (f) => f.ref === 'j')).error!.code, 'conversation_not_found');
});

/** The HTTP status an upgrade gets (101 when it opens), and its Retry-After; the socket is left open in `sockets`. */
function upgrade(url: string, sockets: WebSocket[], headers: Record<string, string> = {}): Promise<{ status: number; retryAfter?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['parley.v1.json'], { headers });
    sockets.push(ws);
    ws.once('open', () => resolve({ status: 101 }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0, ...(res.headers['retry-after'] ? { retryAfter: String(res.headers['retry-after']) } : {}) });
      res.resume();
      ws.terminate();
    });
    ws.once('error', (e) => reject(e));
  });
}

t.test('per address: past the unauthenticated cap or the connection rate, the upgrade is refused with 429', async (t) => {
  const sys = await startSystem(t, { rateLimits: rateLimits({}, { maxUnauthenticated: 3 }) });
  const sockets: WebSocket[] = [];
  t.teardown(() => sockets.forEach((s) => s.terminate()));
  for (let i = 0; i < 3; i++) t.equal((await upgrade(sys.url, sockets)).status, 101, `unauthenticated socket ${i + 1}`);
  t.same(await upgrade(sys.url, sockets), { status: 429, retryAfter: '1' }, 'a fourth from the same address: 429, no socket');
  t.equal(sys.running[0]!.gateway!.stats().connections, 3, 'the gateway holds three sockets');
  // One authenticates: its place is free.
  const first = sockets[0]!;
  const success = new Promise((resolve) => first.on('message', (d) => JSON.parse(d.toString()).type === 'connection.success' && resolve(true)));
  first.send(JSON.stringify({ type: 'authenticate', payload: { token: await sys.token('dora') } }));
  await success;
  t.equal((await upgrade(sys.url, sockets)).status, 101, 'an authenticated socket no longer counts');
  sockets[1]!.close();
  await sleep(100);
  t.equal((await upgrade(sys.url, sockets)).status, 101, 'nor a closed one');
  t.equal((await upgrade(sys.url, sockets)).status, 429);
  // A token at the upgrade does not get around it: the socket is unauthenticated until the token is verified.
  t.equal((await upgrade(sys.url, sockets, { authorization: `Bearer ${await sys.token('erin')}` })).status, 429, 'with a token too');
});

t.test('per address: connection attempts past the rate are refused with 429 and Retry-After', async (t) => {
  const sys = await startSystem(t, { rateLimits: rateLimits({}, { connectsPerSecond: 1, connectBurst: 4 }) });
  const sockets: WebSocket[] = [];
  t.teardown(() => sockets.forEach((s) => s.terminate()));
  const headers = { authorization: `Bearer ${await sys.token('frank')}` };
  const statuses = [];
  for (let i = 0; i < 6; i++) statuses.push((await upgrade(sys.url, sockets, headers)).status);
  t.same(statuses, [101, 101, 101, 101, 429, 429], 'a burst of 4, then refused');
  t.same(await upgrade(sys.url, sockets, headers), { status: 429, retryAfter: '1' });
  await sleep(1_100);
  t.equal((await upgrade(sys.url, sockets, headers)).status, 101, 'a second later: one more');
});

t.test('over the backlog limit the flooder is refused first: an innocent user sending at a modest rate is still admitted', async (t) => {
  // No engine: every admitted command waits in the command stream.
  const limits = { ...defaultConfig().limits, maxCommandBacklog: 40, framesPerSecond: 10_000, frameBurst: 10_000 };
  const sys = await startSystem(t, { limits, rateLimits: rateLimits({}) }, ['gateway', 'projector']);
  const mallory = await sys.connect('mallory');
  const alice = await sys.connect('alice');
  let n = 0;
  const burst = (k: number) => {
    for (let i = 0; i < k; i++) mallory.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: `f${n++}`, content: 'flood' } });
  };
  burst(100);
  for (let i = 0; i < 10; i++) {
    burst(20); // the flood goes on
    alice.send({ type: 'message.send', ref: `a${i}`, payload: { toUserId: 'bob', tempId: `a${i}`, content: `innocent ${i}` } });
    await sleep(500);
  }
  await sleep(300);
  const refused = mallory.of('error').filter((f) => f.error!.code === 'overloaded').length;
  t.comment(`mallory: ${n} sends, ${refused} refused; alice: 10 sends, ${alice.of('error').length} errors`);
  t.same(alice.of('error').map((f) => f.error!.code), [], 'alice is never refused');
  t.ok(n - refused <= 22, `mallory gets about half the limit in (${n - refused}), the rest is left to others`);
  const health = sys.running[0]!.gateway!.stats().commands;
  t.match(health, { shedding: true, overloaded: false }, '/health: shedding, not yet refusing everyone');
  t.ok(health.backlog >= 30 && health.backlog <= 40, `backlog ${health.backlog}: mallory's half and alice's 10`);
});
