import t from 'tap';
import fc from 'fast-check';
import { createECDH } from 'node:crypto';
import { endpointProblem, isLoopbackAddress, isPublicAddress, publicOnlyLookup } from '../../lib/push-endpoint.js';
import { authSecretProblem, p256dhProblem } from '../../lib/push-keys.js';

/**
 * A push endpoint is a URL any user sends and the push projector later POSTs to: only the public
 * internet may be reached (https), whatever spelling of a private address is tried.
 */

const octet = fc.integer({ min: 0, max: 255 });
const ipv4 = fc.tuple(octet, octet, octet, octet).map((o) => o.join('.'));

/** The reference: RFC 6890 and friends, written out as tests of the first octets. */
function privateV4(ip: string): boolean {
  const [a, b, c] = ip.split('.').map(Number) as [number, number, number];
  return (
    a === 0 || a === 10 || a === 127 || a >= 224 ||
    (a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) || (a === 192 && b === 0 && (c === 0 || c === 2)) || (a === 192 && b === 88 && c === 99) ||
    (a === 198 && (b === 18 || b === 19)) || (a === 198 && b === 51 && c === 100) || (a === 203 && b === 0 && c === 113)
  );
}

t.test('an IPv4 address is public exactly when no special-purpose block holds it, however it is written', async (t) => {
  fc.assert(
    fc.property(ipv4, (ip) => {
      const expected = !privateV4(ip);
      const [a, b, c, d] = ip.split('.').map(Number) as [number, number, number, number];
      const hex = (n: number) => n.toString(16);
      t.equal(isPublicAddress(ip), expected, ip);
      t.equal(isPublicAddress(`::ffff:${ip}`), expected, `mapped ${ip}`);
      t.equal(isPublicAddress(`::ffff:${hex((a << 8) | b)}:${hex((c << 8) | d)}`), expected, `mapped hex ${ip}`);
      // As a URL host, in the spellings URL turns into dotted form: one number, hex octets.
      const asNumber = String(((a << 24) >>> 0) + (b << 16) + (c << 8) + d);
      for (const host of [ip, asNumber, `0x${hex(a)}.0x${hex(b)}.0x${hex(c)}.0x${hex(d)}`, `[::ffff:${ip}]`]) {
        t.equal(endpointProblem(`https://${host}/push`, false) === undefined, expected, `https://${host}/push`);
      }
    }),
    { numRuns: 300 },
  );
});

t.test('IPv6: loopback, link-local, unique-local, multicast and documentation are refused; global unicast is not', async (t) => {
  for (const ip of ['::', '::1', 'fe80::1', 'fc00::1', 'fd12:3456::1', 'ff02::1', '2001:db8::1', '100::1', '64:ff9b::a00:1', '64:ff9b::10.0.0.1']) {
    t.notOk(isPublicAddress(ip), ip);
    t.ok(endpointProblem(`https://[${ip}]/x`, false), `https://[${ip}]/x refused`);
  }
  for (const ip of ['2606:4700:4700::1111', '2a00:1450:4001::200e', '64:ff9b::808:808']) t.ok(isPublicAddress(ip), ip);
  t.ok(isLoopbackAddress('::1') && isLoopbackAddress('127.9.9.9') && isLoopbackAddress('::ffff:127.0.0.1'));
  t.notOk(isLoopbackAddress('10.0.0.1'));
  t.notOk(isPublicAddress('not an address'));
});

t.test('endpoints: https to a public name only; plain http and loopback only when insecure endpoints are allowed', async (t) => {
  t.equal(endpointProblem('https://fcm.googleapis.com/fcm/send/abc', false), undefined);
  t.equal(endpointProblem('https://updates.push.services.mozilla.com/wpush/v2/x', false), undefined);
  for (const bad of [
    'http://fcm.googleapis.com/x', 'https://localhost/x', 'https://LOCALHOST./x', 'https://a.localhost/x', 'https://intranet/x',
    'https://u:p@fcm.googleapis.com/x', 'https://fcm.googleapis.com/x#f', 'ftp://fcm.googleapis.com/x', 'file:///etc/passwd', 'javascript:alert(1)', 'not a url', '',
  ]) t.ok(endpointProblem(bad, false), `refused: ${bad}`);
  t.equal(endpointProblem('http://127.0.0.1:9999/push/1', true), undefined, 'loopback http when insecure');
  t.equal(endpointProblem('http://localhost:9999/push/1', true), undefined);
  t.ok(endpointProblem('http://10.0.0.1/x', true), 'insecure is loopback only, not the private network');
  t.ok(endpointProblem('http://127.0.0.1:9999/push/1', false));
});

t.test('any string as an endpoint, key or secret: an answer, never a throw; what passes is https (or loopback http when allowed)', async (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.webUrl({ withQueryParameters: true, withFragments: true }), fc.string({ unit: 'binary' })), fc.boolean(), (s, insecure) => {
      const problem = endpointProblem(s, insecure);
      if (problem === undefined) {
        const url = new URL(s);
        t.ok(url.protocol === 'https:' || (insecure && url.protocol === 'http:'), s);
      }
      p256dhProblem(s);
      authSecretProblem(s);
    }),
    { numRuns: 500 },
  );
});

t.test('keys: a real P-256 point and a 16-byte secret pass; anything else names what is wrong', async (t) => {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  const key = ecdh.getPublicKey();
  t.equal(p256dhProblem(key.toString('base64url')), undefined);
  const offCurve = Buffer.from(key);
  offCurve[64] = offCurve[64]! ^ 1;
  t.match(p256dhProblem(offCurve.toString('base64url')), /not a point/);
  t.match(p256dhProblem(ecdh.getPublicKey(undefined, 'compressed').toString('base64url')), /uncompressed/);
  t.equal(authSecretProblem(Buffer.alloc(16, 7).toString('base64url')), undefined);
  t.match(authSecretProblem(Buffer.alloc(15).toString('base64url')), /16 bytes/);
});

t.test('the send-time lookup refuses a name that resolves to a private address', async (t) => {
  const lookup = publicOnlyLookup(false);
  const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => lookup('localhost', {}, (e) => resolve(e)));
  t.equal(err?.code, 'EPUSHADDRESS');
  const allowed = await new Promise<{ err: unknown; address: unknown }>((resolve) => publicOnlyLookup(true)('localhost', {}, (e, address) => resolve({ err: e, address })));
  t.equal(allowed.err, null);
  t.ok(isLoopbackAddress(String(allowed.address)), 'loopback allowed when asked');
});
