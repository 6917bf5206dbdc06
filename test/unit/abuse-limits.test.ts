// Per-user limits shared between gateways (gateway/user-limits.ts) and per-address limits on
// upgrades (gateway/address-limits.ts): pure, with the clock passed in.
import t from 'tap';
import { addressKey, AddressLimits, clientAddress } from '../../gateway/address-limits.js';
import { busyFrom, UserLimits } from '../../gateway/user-limits.js';

const T0 = 1_700_000_000_000;

t.test('UserLimits: sends and frames per user, whatever the connection', async (t) => {
  let now = T0;
  const users = new UserLimits({ sendsPerSecond: 2, sendBurst: 3, framesPerSecond: 100, frameBurst: 100 }, () => now);
  t.strictSame([1, 2, 3, 4].map(() => users.takeSend('alice')), [0, 0, 0, 500], 'a burst of 3, then a wait of 1/2 s');
  t.equal(users.takeSend('bob'), 0, 'bob has his own bucket');
  now += 10_000; // ten seconds later the bucket is full again, not fuller
  t.strictSame([1, 2, 3, 4].map(() => users.takeSend('alice')), [0, 0, 0, 500]);
});

t.test('UserLimits across gateways: each debits what the others report, so a user gets about one rate in all', async (t) => {
  let now = T0;
  const settings = { sendsPerSecond: 10, sendBurst: 10, framesPerSecond: 1_000, frameBurst: 1_000 };
  const a = new UserLimits(settings, () => now);
  const b = new UserLimits(settings, () => now);
  let accepted = 0;
  // A flooder on both gateways for 10 s, trying 100 sends a second on each; reports every 250 ms.
  for (let step = 0; step < 400; step++) {
    now = T0 + step * 25;
    for (const g of [a, b]) if (g.takeSend('mallory') === 0) accepted++;
    if (step % 10 === 9) {
      const ra = a.report('A', 250);
      const rb = b.report('B', 250);
      if (ra) b.apply(ra);
      if (rb) a.apply(rb);
    }
  }
  // Alone, each gateway would let 10 + 10/s × 10 s = 110 through: 220 in all.
  t.ok(accepted <= 10 * 10 + 2 * 10 + 10, `about the per-user rate over both: ${accepted} ≤ 130`);
  t.ok(accepted >= 10 * 10, `but not less than it: ${accepted}`);
});

t.test('UserLimits.report: only busy users, and nothing when nobody is', async (t) => {
  const now = T0;
  const users = new UserLimits({ sendsPerSecond: 10, sendBurst: 100, framesPerSecond: 200, frameBurst: 400 }, () => now);
  t.equal(busyFrom(200, 250), 13, 'frames: a quarter of the 50 refilled in 250 ms');
  t.equal(busyFrom(10, 250), 1, 'sends: every send counts');
  for (let i = 0; i < 20; i++) users.takeFrame('busy');
  for (let i = 0; i < 5; i++) users.takeFrame('idle');
  users.takeSend('sender');
  t.strictSame(users.report('gw', 250), { gatewayId: 'gw', sends: [['sender', 1]], frames: [['busy', 20]] });
  t.equal(users.report('gw', 250), undefined, 'nothing since');
  users.apply({ gatewayId: 'other', sends: [['x', Number.NaN as number], ['y', -3]], frames: [] });
  t.equal(users.takeSend('x'), 0, 'a malformed count is ignored');
});

t.test('AddressLimits: a connection rate and a cap on unauthenticated sockets, per address', async (t) => {
  const limits = new AddressLimits({ connectsPerSecond: 2, connectBurst: 3, maxUnauthenticated: 2 });
  const a = '10.0.0.1';
  t.same(limits.admit(a, T0), { ok: true });
  limits.opened(a);
  t.same(limits.admit(a, T0), { ok: true });
  limits.opened(a);
  t.match(limits.admit(a, T0), { ok: false, reason: /unauthenticated/, retryAfterMs: 1000 }, 'two unauthenticated sockets: the third is refused');
  t.same(limits.admit('10.0.0.2', T0), { ok: true }, 'another address is not');
  limits.settled(a); // one authenticated
  t.equal(limits.unauthenticated(a), 1);
  t.same(limits.admit(a, T0), { ok: true }, 'the cap did not cost a connect token: the third of the burst');
  t.match(limits.admit(a, T0), { ok: false, reason: /connection attempts/, retryAfterMs: 500 }, 'the burst of 3 is spent');
  t.same(limits.admit(a, T0 + 500), { ok: true }, 'refilled at 2/s');
  limits.settled(a);
  t.equal(limits.unauthenticated(a), 0);
});

t.test('clientAddress: X-Forwarded-For only through trusted proxies', async (t) => {
  t.equal(clientAddress('10.0.0.1', '1.2.3.4', 0), '10.0.0.1', 'not trusted by default: anyone can send the header');
  t.equal(clientAddress('10.0.0.1', 'spoofed, 1.2.3.4', 1), '1.2.3.4', 'one proxy: the entry it appended');
  t.equal(clientAddress('10.0.0.1', 'spoofed, 1.2.3.4, 10.0.0.9', 2), '1.2.3.4', 'two proxies');
  t.equal(clientAddress('10.0.0.1', '1.2.3.4', 3), '1.2.3.4', 'fewer entries than proxies: the leftmost');
  t.equal(clientAddress('10.0.0.1', '', 1), '10.0.0.1', 'no header: the socket');
});

t.test('addressKey: IPv4 as is, IPv4-mapped as IPv4, IPv6 by its /64', async (t) => {
  t.equal(addressKey('127.0.0.1'), '127.0.0.1');
  t.equal(addressKey('::ffff:127.0.0.1'), '127.0.0.1');
  t.equal(addressKey('0000:0000:0000:0000:0000:ffff:7f00:0001'), '127.0.0.1', "uWS's expanded form");
  t.equal(addressKey('2001:db8:abcd:12:1:2:3:4'), '2001:db8:abcd:12::/64');
  t.equal(addressKey('2001:0DB8:abcd:0012:0000:0000:0000:0001'), '2001:db8:abcd:12::/64', 'the same /64 however written');
  t.equal(addressKey('::1'), '0:0:0:0::/64');
});

t.test('cachingVerifier: a token verified once is not verified again until it expires', async (t) => {
  let now = T0;
  let calls = 0;
  const inner = {
    async verify(token: string) {
      calls++;
      if (token === 'bad') throw new Error('bad token');
      return { userId: token, expiresAt: T0 + 1_000 };
    },
  };
  const { cachingVerifier } = await import('../../gateway/token-cache.js');
  const v = cachingVerifier(inner, () => now);
  t.same(await v.verify('alice'), { userId: 'alice', expiresAt: T0 + 1_000 });
  t.same(await v.verify('alice'), { userId: 'alice', expiresAt: T0 + 1_000 });
  t.equal(calls, 1, 'the second time from the cache');
  await t.rejects(v.verify('bad'));
  await t.rejects(v.verify('bad'));
  t.equal(calls, 3, 'failures are not cached');
  now = T0 + 1_000;
  await v.verify('alice');
  t.equal(calls, 4, 'past its expiry the token is verified again (the verifier decides about the clock tolerance)');
});
