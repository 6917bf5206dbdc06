import t from 'tap';
import fc from 'fast-check';
import { InFlightShares } from '../../projections/push/in-flight-shares.js';
import { VapidHeaders } from '../../projections/push/vapid-headers.js';
import webpush from 'web-push';

t.test('in-flight shares: no user and no origin ever holds more than its cap, and a release frees exactly one slot', async (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ take: fc.boolean(), user: fc.constantFrom('a', 'b', 'c'), origin: fc.constantFrom('https://x', 'https://y') }), { maxLength: 200 }),
      (ops) => {
        const shares = new InFlightShares(3, 4);
        const held: { user: string; origin: string }[] = [];
        for (const op of ops) {
          if (op.take) {
            const took = shares.take(op.user, op.origin);
            const u = held.filter((h) => h.user === op.user).length;
            const o = held.filter((h) => h.origin === op.origin).length;
            t.equal(took, u < 3 && o < 4);
            if (took) held.push({ user: op.user, origin: op.origin });
          } else if (held.length > 0) {
            const h = held.shift()!;
            shares.release(h.user, h.origin);
          }
        }
      },
    ),
    { numRuns: 200 },
  );
});

t.test('VAPID headers: one token per push service origin, made again only near its expiry', async (t) => {
  const keys = { ...webpush.generateVAPIDKeys(), subject: 'mailto:ops@example.com' };
  const headers = new VapidHeaders(keys);
  const now = Date.parse('2026-12-07T00:00:00Z');
  const a = headers.for('https://fcm.googleapis.com/fcm/send/1', now);
  t.match(a, /^vapid t=[\w-]+\.[\w-]+\.[\w-]+, k=[\w-]+$/);
  t.equal(headers.for('https://fcm.googleapis.com/fcm/send/2', now + 60_000), a, 'the same origin reuses it');
  t.not(headers.for('https://updates.push.services.mozilla.com/x', now), a, 'another origin has its own');
  const claims = JSON.parse(Buffer.from(a.split(' ')[1]!.slice(2).split('.')[1]!, 'base64url').toString()) as { aud: string; exp: number; sub: string };
  t.same({ aud: claims.aud, sub: claims.sub }, { aud: 'https://fcm.googleapis.com', sub: 'mailto:ops@example.com' });
  t.equal(claims.exp, now / 1000 + 12 * 3600);
  t.equal(headers.for('https://fcm.googleapis.com/x', now + 10 * 3600_000), a, 'still within its life');
  t.not(headers.for('https://fcm.googleapis.com/x', now + 11 * 3600_000 + 1), a, 'renewed an hour before it expires');
});
