/**
 * The presence state machine alone (projections/presence/presence-state.ts): leases, grace,
 * several gateways per user, lost notices healed by snapshots, restarts. The clock is a number.
 */
import t from 'tap';
import fc from 'fast-check';
import { PresenceState, type Announcement } from '../../projections/presence/presence-state.js';
import { readNotice } from '../../projections/presence/presence-service.js';
import type { PresenceNotice } from '../../schemas/index.js';

const timings = { heartbeatMs: 100, leaseMs: 300, graceMs: 200 };

/** A gateway's notices, numbered as gateway/presence-notices.ts numbers them. */
function gateway(gatewayId: string, epoch = 'e1') {
  let seq = 0;
  const from = () => ({ gatewayId, epoch, seq: ++seq });
  return {
    on: (userId: string): PresenceNotice => ({ type: 'user', ...from(), userId, online: true }),
    off: (userId: string): PresenceNotice => ({ type: 'user', ...from(), userId, online: false }),
    beat: (users: number): PresenceNotice => ({ type: 'heartbeat', ...from(), users }),
    gone: (): PresenceNotice => ({ type: 'gone', ...from() }),
    snapshot: (users: string[], parts = 1): PresenceNotice[] =>
      Array.from({ length: parts }, (_, part) => ({
        type: 'snapshot' as const,
        ...from(),
        syncId: 's1',
        part,
        parts,
        users: users.filter((_, i) => i % parts === part),
      })),
    skip: () => void ++seq,
  };
}

const on = (userId: string, lastSeen: number): Announcement => ({ userId, online: true, lastSeen });
const off = (userId: string, lastSeen: number): Announcement => ({ userId, online: false, lastSeen });

t.test('first connection online at once; offline only after the grace, with lastSeen when they left', async (t) => {
  const s = new PresenceState(timings);
  const a = gateway('a');
  const first = s.receive(a.on('alice'), 1000);
  t.strictSame(first.announce, [on('alice', 1000)]);
  t.strictSame(first.sync, ['a'], 'an unknown gateway is asked for its users');
  t.strictSame(s.receive(a.off('alice'), 1500).announce, [], 'not yet: the grace runs');
  t.strictSame(s.tick(1650).announce, [], 'within the grace');
  t.strictSame(s.status('alice', 1650), { isOnline: true, lastSeen: 1650 }, 'still online to contacts during the grace');
  t.strictSame(s.tick(1700).announce, [off('alice', 1500)], 'offline at the end of the grace, lastSeen = when the last connection closed');
  t.equal(s.status('alice', 2000), undefined, 'forgotten once offline: the store has it');
  t.strictSame(s.tick(5000).announce, [], 'announced once');
});

t.test('a reconnect within the grace is silent, on the same or another gateway', async (t) => {
  const s = new PresenceState(timings);
  const a = gateway('a');
  const b = gateway('b');
  s.receive(a.on('alice'), 0);
  s.receive(a.off('alice'), 100);
  t.strictSame(s.receive(a.on('alice'), 150).announce, [], 'back on the same gateway: no second online');
  s.receive(a.off('alice'), 200);
  t.strictSame(s.receive(b.on('alice'), 350).announce, [], 'back on another gateway: no second online');
  t.strictSame(s.tick(1000).announce.filter((x) => x.userId === 'alice'), [], 'and no offline');
});

t.test("a user's devices on two gateways are one presence: offline when the last goes", async (t) => {
  const s = new PresenceState(timings);
  const a = gateway('a');
  const b = gateway('b');
  t.strictSame(s.receive(a.on('alice'), 0).announce, [on('alice', 0)]);
  t.strictSame(s.receive(b.on('alice'), 10).announce, [], 'a second gateway: no second online');
  s.receive(a.off('alice'), 20);
  s.receive(b.beat(1), 200);
  t.strictSame(s.tick(260).announce, [], 'still on b past the grace');
  t.strictSame(s.gatewaysOf('alice'), ['b']);
  s.receive(b.off('alice'), 300);
  t.strictSame(s.tick(499).announce, []);
  t.strictSame(s.tick(500).announce, [off('alice', 300)]);
});

t.test("a gateway's lease ends its users' presence: offline within lease + grace of its last sign", async (t) => {
  const s = new PresenceState(timings);
  const a = gateway('a');
  const b = gateway('b');
  s.receive(a.on('alice'), 0);
  s.receive(b.on('bob'), 0);
  s.receive(a.beat(1), 100);
  s.receive(b.beat(1), 100);
  // a dies after its heartbeat at 100; b goes on heartbeating.
  for (let now = 200; now <= 700; now += 100) {
    s.receive(b.beat(1), now);
    const fx = s.tick(now);
    if (now !== 600) t.strictSame(fx.announce, [], `nothing at ${now}`);
    else t.strictSame(fx.announce, [off('alice', 100)], `alice offline at ${now} (lease ended at 400, grace at 600), lastSeen = a's last heartbeat`);
  }
  t.equal(s.stats().gateways, 1, 'the dead gateway is forgotten');
  t.strictSame(s.status('bob', 700), { isOnline: true, lastSeen: 700 }, "bob's gateway kept its lease");
});

t.test('gone: a gateway stopping cleanly drops its users now (each after the grace)', async (t) => {
  const s = new PresenceState(timings);
  const a = gateway('a');
  s.receive(a.on('alice'), 0);
  s.receive(a.gone(), 50);
  t.strictSame(s.tick(249).announce, []);
  t.strictSame(s.tick(250).announce, [off('alice', 50)]);
});

t.test('a lost notice is healed: a gap or a heartbeat count that differs asks for a snapshot, which replaces the set', async (t) => {
  const s = new PresenceState(timings);
  const a = gateway('a');
  s.receive(a.beat(0), 0);
  for (const n of a.snapshot([])) s.receive(n, 0);
  s.receive(a.on('alice'), 10);
  a.skip(); // bob's online is lost
  const gap = s.receive(a.beat(2), 100);
  t.strictSame(gap.sync, ['a'], 'a gap in the numbers asks for a snapshot');
  t.strictSame(s.receive(a.beat(2), 120).sync, [], 'not again within a heartbeat interval');
  const [part0, part1] = a.snapshot(['alice', 'bob', 'carol'], 2);
  t.strictSame(s.receive(part0!, 150).announce, [], 'a snapshot applies once all its parts are in');
  const both = s.receive(part1!, 150).announce.sort((x, y) => x.userId.localeCompare(y.userId));
  t.strictSame(both, [on('bob', 150), on('carol', 150)], 'then the users it did not hold are online; alice is not announced again');
  // A snapshot without alice: she left and the offline notice was lost.
  const mismatch = s.receive(a.beat(1), 300);
  t.strictSame(mismatch.sync, ['a'], 'a heartbeat whose count differs asks for a snapshot');
  for (const n of a.snapshot(['bob'])) s.receive(n, 310);
  t.strictSame(s.tick(600).announce.map((x) => x.userId).sort(), ['alice', 'carol'], 'those missing from the snapshot go offline after the grace');
});

t.test('a gateway restarted under the same id (new epoch) loses what the old one held', async (t) => {
  const s = new PresenceState(timings);
  s.receive(gateway('a', 'old').on('alice'), 0);
  const fresh = gateway('a', 'new');
  t.strictSame(s.receive(fresh.beat(0), 100).sync, ['a'], 'the new epoch is asked for its users');
  t.strictSame(s.tick(300).announce, [off('alice', 100)]);
});

t.test('after a restart of the service: stored-online users stay online until no gateway claims them', async (t) => {
  const s = new PresenceState(timings);
  s.restore([{ userId: 'alice', lastSeen: 10 }, { userId: 'bob', lastSeen: 20 }], 1000);
  t.equal(s.status('alice', 1000)?.isOnline, true);
  const a = gateway('a');
  t.strictSame(s.receive(a.beat(1), 1100).sync, ['a']);
  t.strictSame(s.receive(a.snapshot(['alice'])[0]!, 1110).announce, [], 'claimed by a snapshot: silent');
  s.receive(a.beat(1), 1300);
  t.strictSame(s.tick(1499).announce, [], 'bob waits a lease and a grace');
  t.strictSame(s.tick(1500).announce, [off('bob', 1000)], 'unclaimed: offline');
  s.receive(a.beat(1), 1550);
  s.receive(a.beat(1), 1800);
  t.strictSame(s.tick(2000).announce, [], 'alice stays while her gateway heartbeats');
});

t.test('duplicates and stale numbers are ignored', async (t) => {
  const s = new PresenceState(timings);
  const n = gateway('a').on('alice');
  t.equal(s.receive(n, 0).announce.length, 1);
  t.equal(s.receive(n, 1).announce.length, 0);
});

/** Property: whatever notices arrive, in any order, lost or repeated, a user's announcements alternate, and once every gateway is gone everyone ends offline. */
t.test('property: announcements alternate per user and everyone ends offline', async (t) => {
  const users = ['u1', 'u2', 'u3'];
  const gateways = ['g1', 'g2'];
  const step = fc.oneof(
    fc.record({ k: fc.constant('on' as const), g: fc.constantFrom(...gateways), u: fc.constantFrom(...users) }),
    fc.record({ k: fc.constant('off' as const), g: fc.constantFrom(...gateways), u: fc.constantFrom(...users) }),
    fc.record({ k: fc.constant('beat' as const), g: fc.constantFrom(...gateways), n: fc.nat(5) }),
    fc.record({ k: fc.constant('snap' as const), g: fc.constantFrom(...gateways), us: fc.subarray(users) }),
    fc.record({ k: fc.constant('gone' as const), g: fc.constantFrom(...gateways) }),
    fc.record({ k: fc.constant('lose' as const), g: fc.constantFrom(...gateways) }),
    fc.record({ k: fc.constant('wait' as const), ms: fc.nat(400) }),
  );
  fc.assert(
    fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
      const s = new PresenceState(timings);
      const gws = new Map(gateways.map((g) => [g, gateway(g)]));
      const last = new Map<string, boolean>();
      let now = 0;
      const take = (fx: { announce: Announcement[] }) => {
        for (const a of fx.announce) {
          if (last.get(a.userId) === a.online) throw new Error(`${a.userId} announced ${a.online} twice in a row`);
          last.set(a.userId, a.online);
        }
      };
      for (const st of steps) {
        now += 1;
        if (st.k === 'wait') {
          now += st.ms;
          take(s.tick(now));
          continue;
        }
        const g = gws.get(st.g)!;
        if (st.k === 'lose') g.skip();
        else if (st.k === 'on') take(s.receive(g.on(st.u), now));
        else if (st.k === 'off') take(s.receive(g.off(st.u), now));
        else if (st.k === 'beat') take(s.receive(g.beat(st.n), now));
        else if (st.k === 'gone') take(s.receive(g.gone(), now));
        else for (const n of g.snapshot(st.us)) take(s.receive(n, now));
      }
      take(s.tick(now + timings.leaseMs));
      take(s.tick(now + timings.leaseMs + timings.graceMs));
      for (const u of users) if (s.status(u, now)?.isOnline) throw new Error(`${u} still online with no live gateway`);
    }),
    { numRuns: 300 },
  );
  t.pass('held');
});

t.test('readNotice: any bytes are a notice of the schema or nothing, never a throw', async (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.jsonValue().map((v) => new TextEncoder().encode(JSON.stringify(v)))), (bytes) => {
      const n = readNotice(bytes);
      if (n !== undefined && !['user', 'heartbeat', 'snapshot', 'gone'].includes(n.type)) throw new Error('not a notice');
    }),
    { numRuns: 500 },
  );
  const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  const good = { type: 'user', gatewayId: 'g', epoch: 'e', seq: 1, userId: 'alice', online: true };
  t.ok(readNotice(enc(good)));
  t.equal(readNotice(enc({ ...good, userId: 'a.b' })), undefined, 'a user id that is not a subject token');
  t.equal(readNotice(enc({ ...good, seq: 0 })), undefined);
  t.equal(readNotice(enc({ ...good, extra: 1 })), undefined, 'no unknown fields');
  t.equal(readNotice(enc({ type: 'snapshot', gatewayId: 'g', epoch: 'e', seq: 1, syncId: 's', part: 0, parts: 1, users: ['x y'] })), undefined);
  t.equal(readNotice(new Uint8Array([0xff, 0xfe])), undefined);
});
