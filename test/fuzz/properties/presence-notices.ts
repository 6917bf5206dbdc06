import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PresenceState, type Announcement } from '../../../projections/presence/presence-state.js';
import { readNotice } from '../../../projections/presence/presence-service.js';
import { hostileValue } from '../arbitraries/hostile.js';
import { mutated } from '../arbitraries/mutate.js';
import type { FuzzProperty } from '../property.js';

/**
 * The presence service's input is internal (gateways' notices on core NATS) but read off the wire
 * all the same: anything published on <prefix>.presence.notice is a notice of the schema or
 * dropped, and whatever notices get through, in whatever order and with whatever numbers, the
 * state machine neither throws nor announces a user online twice in a row, and once every gateway
 * has gone quiet (lease and grace over), no one is left online.
 */
const encoder = new TextEncoder();
/** JSON as a gateway (or a stranger) would publish it; what JSON cannot write (BigInt, undefined) is sent as null. */
function jsonBytes(value: unknown): Uint8Array {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    text = undefined;
  }
  return encoder.encode(text ?? 'null');
}
const timings = { heartbeatMs: 100, leaseMs: 300, graceMs: 200 };

/**
 * Schema-valid notices over a small world (two gateways, two epochs, three users, small numbers),
 * so that restarts, gaps, duplicates and snapshots collide. Written out rather than derived from
 * the schema: fast-check's pattern strings nested in arrays of unions are too slow to generate.
 */
const user = fc.constantFrom('u1', 'u2', 'u3');
const from = fc.record({ gatewayId: fc.constantFrom('ga', 'gb'), epoch: fc.constantFrom('e1', 'e2'), seq: fc.integer({ min: 1, max: 20 }) });
const validNotice: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.tuple(from, user, fc.boolean()).map(([f, userId, online]) => ({ type: 'user', ...f, userId, online })),
  fc.tuple(from, fc.nat(4)).map(([f, users]) => ({ type: 'heartbeat', ...f, users })),
  fc.tuple(from, fc.constantFrom('s1', 's2'), fc.nat(2), fc.integer({ min: 1, max: 2 }), fc.subarray(['u1', 'u2', 'u3'])).map(([f, syncId, part, parts, users]) => ({ type: 'snapshot', ...f, syncId, part, parts, users })),
  from.map((f) => ({ type: 'gone', ...f })),
);
const noticeBytes: fc.Arbitrary<{ bytes: Uint8Array; valid?: true }> = fc.oneof(
  { weight: 4, arbitrary: validNotice.map((v) => ({ bytes: jsonBytes(v), valid: true as const })) },
  { weight: 2, arbitrary: mutated(validNotice).map((v) => ({ bytes: jsonBytes(v) })) },
  { weight: 1, arbitrary: hostileValue.map((v) => ({ bytes: jsonBytes(v) })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ bytes })) },
);

type Step = { bytes: Uint8Array; valid?: true } | { waitMs: number };

function run(steps: Step[]): void {
  const s = new PresenceState(timings);
  const last = new Map<string, boolean>();
  const take = (announce: Announcement[]) => {
    for (const a of announce) {
      assert.notEqual(last.get(a.userId), a.online, `${a.userId} announced ${a.online ? 'online' : 'offline'} twice in a row`);
      last.set(a.userId, a.online);
    }
  };
  let now = 0;
  for (const step of steps) {
    now += 1;
    if ('waitMs' in step) {
      now += step.waitMs;
      take(s.tick(now).announce);
      continue;
    }
    const notice = readNotice(step.bytes);
    if (step.valid) assert.ok(notice, 'a notice of the schema is read');
    if (notice) take(s.receive(notice, now).announce);
  }
  take(s.tick(now + timings.leaseMs).announce);
  take(s.tick(now + timings.leaseMs + timings.graceMs).announce);
  assert.equal(s.stats().usersOnline, 0, 'no one online once every gateway is quiet');
  for (const userId of last.keys()) assert.equal(s.status(userId, now)?.isOnline ?? false, false, `${userId} ends offline`);
}

export const presenceNoticeProperties: FuzzProperty[] = [
  {
    name: 'presence notices: any bytes are a notice or dropped; any notices keep announcements alternating and leave no ghost',
    testRuns: 300,
    property: fc.property(fc.array(fc.oneof({ weight: 5, arbitrary: noticeBytes }, { weight: 1, arbitrary: fc.nat(400).map((waitMs) => ({ waitMs })) }), { maxLength: 40 }), (steps) => {
      run(steps);
    }),
  },
];
