import { createECDH } from 'node:crypto';
import fc from 'fast-check';
import { hostileString } from './hostile.js';

/** A few real P-256 public keys (making them per run would be slow), and broken ones of every kind. */
const realKeys = Array.from({ length: 4 }, () => {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return ecdh.getPublicKey().toString('base64url');
});

const p256dh = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...realKeys) },
  // The right length and alphabet, not a point on the curve (or not uncompressed).
  fc.uint8Array({ minLength: 65, maxLength: 65 }).map((b) => Buffer.from(b).toString('base64url')),
  fc.constantFrom(`${realKeys[0]}=`, realKeys[0]!.slice(1), 'A'.repeat(87), `B${'A'.repeat(86)}`, Buffer.alloc(65, 0).toString('base64url')),
  hostileString,
);

const auth = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('base64url')) },
  fc.uint8Array({ minLength: 0, maxLength: 40 }).map((b) => Buffer.from(b).toString('base64url')),
  hostileString,
);

/** Endpoints a client could send: public names that resolve nowhere (.invalid), and every private, odd or hostile URL. */
const endpoint = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[a-z0-9_-]{1,40}$/).map((id) => `https://push.example.invalid/send/${id}`) },
  fc.constantFrom(
    'http://push.example.invalid/x',
    'https://127.0.0.1/x',
    'https://0x7f.1/x',
    'https://2130706433/x',
    'https://[::1]/x',
    'https://[::ffff:127.0.0.1]/x',
    'https://[::ffff:7f00:1]/x',
    'https://10.0.0.1/x',
    'https://169.254.169.254/latest/meta-data',
    'https://[fe80::1]/x',
    'https://localhost/x',
    'https://a.localhost/x',
    'https://intranet/x',
    'https://user:pw@push.example.invalid/x',
    'https://push.example.invalid/x#frag',
    'file:///etc/passwd',
    'javascript:alert(1)',
    'https://',
    '',
    `https://push.example.invalid/${'x'.repeat(3000)}`,
  ),
  hostileString,
);

/** A body for POST /v1/push/subscriptions: mostly of its shape, with any part broken. */
export const pushSubscriptionBody: fc.Arbitrary<unknown> = fc.record(
  {
    endpoint,
    keys: fc.oneof({ weight: 5, arbitrary: fc.record({ p256dh, auth }) }, fc.constant(null), fc.record({ p256dh }), hostileString),
    expirationTime: fc.oneof(fc.constant(null), fc.integer(), fc.constant(1.5), hostileString),
    deviceId: fc.oneof(fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/), hostileString),
    preview: fc.oneof(fc.boolean(), fc.constant(null), fc.constant(0), hostileString),
  },
  { requiredKeys: ['endpoint'] },
);

/** A body for POST /v1/conversations/:id/mute: `{}`, `{ until }` in the future or not, or any `until` at all. */
export const muteBody: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant({}),
  fc.record({
    until: fc.oneof(
      fc.date({ min: new Date('1970-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString()),
      fc.constantFrom(null, 0, 1e308, -1, '2026-13-45T99:99:99Z', '9999-12-31T23:59:59Z', 'tomorrow', ''),
      hostileString,
    ),
  }),
  fc.record({ until: fc.constant('2030-01-01T00:00:00Z'), extra: hostileString }),
);
