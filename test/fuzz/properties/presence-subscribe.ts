import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { ParleyError } from '../../../lib/errors.js';
import { presenceUsersParam } from '../../../gateway/rest/presence-params.js';
import { payloadOf } from '../arbitraries/frames.js';
import { hostileString } from '../arbitraries/hostile.js';
import { escaped } from '../arbitraries/requests.js';
import { FuzzSocket } from '../e2e/fuzz-socket.js';
import { send } from '../e2e/http-request.js';
import { assertErrorShape, type FuzzTarget } from '../e2e/target.js';
import type { FuzzProperty } from '../property.js';

const packr = new Packr({ useRecords: false });

/** What may answer a presence frame with its ref. */
const ERRORS = new Set(['validation_error', 'rate_limited']);

const presenceFrame = fc.constantFrom('presence.subscribe' as const, 'presence.unsubscribe' as const).chain((type) =>
  fc.record({
    type: fc.constant(type),
    payload: fc.oneof(
      { weight: 3, arbitrary: payloadOf(type) },
      // Valid ids, repeats likely, around the per-connection bound.
      { weight: 2, arbitrary: fc.array(fc.stringMatching(/^u[0-9]{1,3}$/), { minLength: 0, maxLength: 260 }).map((userIds) => ({ userIds })) },
    ),
  }),
);

/** A status as the protocol describes it. */
function assertStatus(u: unknown, userId: string, where: string): void {
  const s = u as { userId?: unknown; isOnline?: unknown; lastSeen?: unknown };
  assert.equal(s.userId, userId, `${where}: in the order asked`);
  assert.equal(typeof s.isOnline, 'boolean', `${where}: isOnline`);
  assert.ok(s.lastSeen === null || (typeof s.lastSeen === 'string' && Number.isFinite(Date.parse(s.lastSeen))), `${where}: lastSeen`);
}

/** The users a frame that was accepted names, as the answer lists them: first occurrence order. */
const unique = (ids: string[]) => [...new Set(ids)];

/** A `users` query parameter: ids (with repeats), hostile text escaped, broken escapes, around the 100 bound. */
const idPart = fc.oneof(
  { weight: 6, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/) },
  { weight: 2, arbitrary: hostileString.map(escaped) },
  { weight: 1, arbitrary: fc.constantFrom('', '%ZZ', '%', '%2C', '%00', 'x'.repeat(128), 'x'.repeat(129), '..', '*', '>', 'a.b') },
);
const usersQuery: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.array(idPart, { minLength: 0, maxLength: 130 }).map((ids) => `?users=${ids.join(',')}`) },
  { weight: 1, arbitrary: fc.array(fc.array(idPart, { maxLength: 3 }), { minLength: 1, maxLength: 3 }).map((lists) => `?${lists.map((l) => `users=${l.join(',')}`).join('&')}`) },
  { weight: 1, arbitrary: fc.constantFrom('', '?', '?users', '?users=', '?user=a', '?users=a&limit=2', `?users=${Array.from({ length: 101 }, (_, i) => `u${i}`).join(',')}`) },
);

/**
 * presence.subscribe / presence.unsubscribe with payloads from the schema, mutated, or anything,
 * and GET /v1/presence with any query string: every frame is answered by its ref (status.bulk for
 * the users it named, presence.unsubscribed, or validation_error / rate_limited), every request
 * with 200 for exactly the users asked or a 400 validation_error; nothing else, no contained fault.
 */
export function presenceSubscribeProperties(target: FuzzTarget): FuzzProperty[] {
  let users = 0;
  return [
    {
      name: 'presence.subscribe / presence.unsubscribe: any payload is answered by its ref, with the users named or a clear error',
      testRuns: 40,
      property: fc.asyncProperty(fc.array(presenceFrame, { minLength: 1, maxLength: 8 }), async (frames) => {
        const faults = target.faults();
        const socket = await FuzzSocket.served(target.wsUrl, await target.system.token(`fuzz-watcher-${++users}`));
        if (!socket) return;
        try {
          const from = socket.received.length;
          const sent = new Map<string, { type: string; payload: unknown }>();
          for (const [i, frame] of frames.entries()) {
            let bytes: Uint8Array;
            try {
              bytes = packr.pack({ type: frame.type, ref: `p-${i}`, payload: frame.payload });
            } catch {
              continue;
            }
            if (bytes.length > target.maxPayloadBytes) continue; // the size limit has its own properties
            socket.send({ binary: true, bytes });
            sent.set(`p-${i}`, frame);
          }
          for (const ref of sent.keys()) {
            assert.ok(await socket.waitFor((f) => (f as { ref?: unknown }).ref === ref, from, 10_000), `frame ${ref} is answered`);
          }
          for (const r of socket.received.slice(from)) {
            const frame = r.value as { type?: string; ref?: string; payload?: { users?: unknown[]; userIds?: unknown }; error?: unknown };
            if (frame.ref === undefined) continue; // status.bulk / unread.summary on connect, transitions
            const asked = sent.get(frame.ref);
            assert.ok(asked, `an answer to a frame that was sent (${frame.ref})`);
            if (frame.type === 'error') {
              const code = assertErrorShape(frame.error, `answer to ${frame.ref}`);
              assert.ok(ERRORS.has(code), `${frame.ref}: ${code}`);
              continue;
            }
            const named = unique((asked.payload as { userIds: string[] }).userIds);
            if (asked.type === 'presence.subscribe') {
              assert.equal(frame.type, 'status.bulk', `${frame.ref}: subscribe is answered with status.bulk`);
              assert.equal(frame.payload?.users?.length, named.length, `${frame.ref}: one status a user named`);
              frame.payload!.users!.forEach((u, i) => assertStatus(u, named[i]!, `${frame.ref}[${i}]`));
            } else {
              assert.equal(frame.type, 'presence.unsubscribed', `${frame.ref}: unsubscribe is answered with presence.unsubscribed`);
              assert.deepEqual(frame.payload?.userIds, named, `${frame.ref}: the users named`);
            }
          }
          assert.equal(target.faults(), faults, 'no unexpected error');
        } finally {
          socket.terminate();
        }
      }),
    },
    {
      name: 'GET /v1/presence: any query string gets 200 with exactly the users asked, in order, or a 400 validation_error',
      testRuns: 150,
      property: fc.asyncProperty(usersQuery, async (query) => {
        const faults = target.faults();
        const token = await target.system.token(`fuzz-asker-${++users}`);
        const res = await send(target.httpBase, { method: 'GET', path: `/v1/presence${query}`, headers: { authorization: `Bearer ${token}` } });
        let expected: string[] | ParleyError;
        try {
          expected = presenceUsersParam(new URLSearchParams(query.slice(1)));
        } catch (err) {
          expected = err as ParleyError;
        }
        const where = `${query.slice(0, 200)} → ${res.status} ${res.body.slice(0, 200)}`;
        const body = JSON.parse(res.body) as { users?: unknown[]; error?: unknown };
        if (expected instanceof ParleyError) {
          assert.equal(res.status, 400, where);
          assert.equal(assertErrorShape(body.error, where), 'validation_error', where);
        } else {
          assert.equal(res.status, 200, where);
          assert.equal(body.users?.length, expected.length, `${where}: one status a user`);
          body.users!.forEach((u, i) => assertStatus(u, expected[i]!, where));
        }
        assert.equal(target.faults(), faults, 'no unexpected error');
      }),
    },
  ];
}
