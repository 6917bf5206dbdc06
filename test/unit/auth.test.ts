import t from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, decodeJwt, exportJWK, generateKeyPair, type JWTPayload } from 'jose';
import { createTokenVerifier, tokenFromRequest } from '../../gateway/auth.js';
import { signDevToken } from '../../lib/dev-token.js';
import { ParleyError } from '../../lib/errors.js';

const secret = 'test-secret-0123456789-abcdefghijklmnop';
const key = new TextEncoder().encode(secret);
const now = () => Math.floor(Date.now() / 1000);

const hsConfig = { secret, algorithms: ['HS256'], issuer: 'parley-test', audience: 'parley', clockToleranceSec: 5 };
const verifier = createTokenVerifier(hsConfig);

/** Sign arbitrary claims (nothing set implicitly) so each test controls exactly what is present. */
function sign(payload: JWTPayload, opts: { alg?: string; key?: Uint8Array } = {}): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: opts.alg ?? 'HS256' }).sign(opts.key ?? key);
}
const good = (extra: JWTPayload = {}): JWTPayload => ({ sub: 'alice', iss: 'parley-test', aud: 'parley', exp: now() + 60, ...extra });

/** Resolve to the ParleyError a promise rejects with; fail on anything else. */
async function failure(p: Promise<unknown>): Promise<ParleyError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ParleyError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

type Asserts = Pick<typeof t, 'equal' | 'match'>;
async function rejectsWith(t: Asserts, p: Promise<unknown>, code: string, message: string | RegExp) {
  const err = await failure(p);
  t.equal(err.code, code);
  if (typeof message === 'string') t.equal(err.message, message);
  else t.match(err.message, message);
}

t.test('valid HS256 token gives the identity', async (t) => {
  const token = await sign(good({ name: 'Alice', picture: 'https://x/a.png' }));
  const id = await verifier.verify(token);
  t.same(id, { userId: 'alice', name: 'Alice', avatar: 'https://x/a.png', expiresAt: decodeJwt(token).exp! * 1000 });
});

t.test('non-string name/picture are ignored', async (t) => {
  const token = await sign(good({ name: 42, picture: { url: 'x' } }));
  const id = await verifier.verify(token);
  t.same(Object.keys(id).sort(), ['expiresAt', 'userId']);
  t.equal(id.userId, 'alice');
});

t.test('name and picture become text every store holds, at their schema length (a hostile display name must not lock its user out)', async (t) => {
  const token = await sign(good({ name: 'a\u0000b' + 'x'.repeat(252) + '😀', picture: 'p\ud800' }));
  const id = await verifier.verify(token);
  t.equal(id.name, 'a\ufffdb' + 'x'.repeat(252) + '\ufffd', '256 code units, the emoji cut in half mended');
  t.equal(id.avatar, 'p\ufffd');
});

t.test('signDevToken round-trips', async (t) => {
  const token = await signDevToken({ secret, issuer: 'parley-test', audience: 'parley' }, { sub: 'bob_1', name: 'Bob', picture: 'p' }, 60);
  const id = await verifier.verify(token);
  t.equal(id.userId, 'bob_1');
  t.equal(id.name, 'Bob');
  t.equal(id.avatar, 'p');
  t.ok(id.expiresAt > Date.now() + 50_000 && id.expiresAt <= Date.now() + 60_000);
  t.equal(decodeJwt(token).exp! - decodeJwt(token).iat!, 60);
  await t.rejects(signDevToken({ secret }, { sub: 'a.b' }, 60), /sub must match/);
});

t.test('bad signature', async (t) => {
  const token = await sign(good(), { key: new TextEncoder().encode('another-secret-0123456789-abcdefghij') });
  await rejectsWith(t, verifier.verify(token), 'unauthorized', 'bad signature');
  // tampered payload with the original signature
  const [h, , s] = (await sign(good())).split('.');
  const forged = `${h}.${Buffer.from(JSON.stringify(good({ sub: 'mallory' }))).toString('base64url')}.${s}`;
  await rejectsWith(t, verifier.verify(forged), 'unauthorized', 'bad signature');
});

t.test('expired token is token_expired', async (t) => {
  await rejectsWith(t, verifier.verify(await sign(good({ exp: now() - 60 }))), 'token_expired', 'token expired');
  // an expired token with a bad signature is just unauthorized: the signature is checked first
  const badKey = new TextEncoder().encode('another-secret-0123456789-abcdefghij');
  await rejectsWith(t, verifier.verify(await sign(good({ exp: now() - 60 }), { key: badKey })), 'unauthorized', 'bad signature');
});

t.test('alg none is rejected', async (t) => {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const unsecured = `${b64({ alg: 'none' })}.${b64(good())}.`;
  await rejectsWith(t, verifier.verify(unsecured), 'unauthorized', 'algorithm not allowed');
});

t.test('algorithm outside the allow-list (HS512) is rejected', async (t) => {
  const token = await sign(good(), { alg: 'HS512' });
  await rejectsWith(t, verifier.verify(token), 'unauthorized', 'algorithm not allowed');
});

t.test('wrong audience', async (t) => {
  await rejectsWith(t, verifier.verify(await sign(good({ aud: 'someone-else' }))), 'unauthorized', 'unexpected "aud" claim value');
});

t.test('wrong issuer', async (t) => {
  await rejectsWith(t, verifier.verify(await sign(good({ iss: 'evil' }))), 'unauthorized', 'unexpected "iss" claim value');
});

t.test('missing exp', async (t) => {
  const { exp: _exp, ...claims } = good();
  await rejectsWith(t, verifier.verify(await sign(claims)), 'unauthorized', 'missing required "exp" claim');
});

t.test('missing sub', async (t) => {
  const { sub: _sub, ...claims } = good();
  await rejectsWith(t, verifier.verify(await sign(claims)), 'unauthorized', 'missing required "sub" claim');
});

t.test('sub that is not a safe NATS token', async (t) => {
  const msg = 'sub claim must match ^[A-Za-z0-9_-]{1,128}$';
  await rejectsWith(t, verifier.verify(await sign(good({ sub: 'alice.bob' }))), 'unauthorized', msg);
  await rejectsWith(t, verifier.verify(await sign(good({ sub: 'x'.repeat(129) }))), 'unauthorized', msg);
  await rejectsWith(t, verifier.verify(await sign(good({ sub: 123 as unknown as string }))), 'unauthorized', msg);
  t.equal((await verifier.verify(await sign(good({ sub: 'x'.repeat(128) })))).userId, 'x'.repeat(128));
});

t.test('malformed token', async (t) => {
  await rejectsWith(t, verifier.verify('not-a-jwt'), 'unauthorized', 'malformed token');
  await rejectsWith(t, verifier.verify('a.b.c'), 'unauthorized', 'malformed token');
  await rejectsWith(t, verifier.verify(''), 'unauthorized', 'missing token');
});

t.test('clock tolerance', async (t) => {
  const token = await sign(good({ exp: now() - 2 }));
  const id = await verifier.verify(token); // 5 s tolerance
  t.equal(id.expiresAt, decodeJwt(token).exp! * 1000);
  const strict = createTokenVerifier({ ...hsConfig, clockToleranceSec: 0 });
  await rejectsWith(t, strict.verify(token), 'token_expired', 'token expired');
});

t.test('config errors throw a plain Error at once', async (t) => {
  const check = (config: Parameters<typeof createTokenVerifier>[0], re: RegExp) => {
    try {
      createTokenVerifier(config);
      t.fail('expected a throw');
    } catch (err) {
      t.ok(err instanceof Error && !(err instanceof ParleyError));
      t.match((err as Error).message, re);
    }
  };
  check({ algorithms: ['HS256'], clockToleranceSec: 5 }, /secret or jwksUrl/);
  check({ secret, algorithms: ['HS256', 'none'], clockToleranceSec: 5 }, /none/);
  check({ secret, algorithms: ['NONE'], clockToleranceSec: 5 }, /none/);
  check({ secret, algorithms: [], clockToleranceSec: 5 }, /empty/);
  check({ secret, algorithms: ['HS256'], clockToleranceSec: -1 }, /clockToleranceSec/);
});

t.test('no key configured for the token algorithm', async (t) => {
  const jwksOnly = createTokenVerifier({ jwksUrl: 'http://127.0.0.1:9/jwks.json', algorithms: ['HS256', 'RS256'], clockToleranceSec: 5 });
  await rejectsWith(t, jwksOnly.verify(await sign(good())), 'unauthorized', 'no key configured for HS256');
});

t.test('JWKS (RS256) over HTTP', async (t) => {
  const kid = 'k1';
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const other = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };

  let fetches = 0;
  const server = createServer((req, res) => {
    fetches++;
    if (req.url !== '/.well-known/jwks.json') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as AddressInfo;
  const rs = createTokenVerifier({
    jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    algorithms: ['RS256', 'ES256', 'EdDSA'],
    audience: 'parley',
    clockToleranceSec: 5,
  });
  const rsSign = (payload: JWTPayload, k: CryptoKey, kidValue = kid) =>
    new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: kidValue }).sign(k);

  const token = await rsSign(good({ name: 'Alice' }), privateKey);
  t.same(await rs.verify(token), { userId: 'alice', name: 'Alice', expiresAt: decodeJwt(token).exp! * 1000 });
  t.equal(fetches, 1);

  // Different private key claiming the same kid: signature fails.
  await rejectsWith(t, rs.verify(await rsSign(good(), other.privateKey)), 'unauthorized', 'bad signature');
  // Different key with an unknown kid: nothing in the set matches.
  await rejectsWith(t, rs.verify(await rsSign(good(), other.privateKey, 'k2')), 'unauthorized', 'no matching key');
  // An HS256 token is refused by an RS-only verifier before any key is looked at.
  await rejectsWith(t, rs.verify(await sign(good())), 'unauthorized', 'algorithm not allowed');
});

t.test('JWKS endpoint unreachable', async (t) => {
  // Grab a free port, then close it so nothing listens there.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const rs = createTokenVerifier({ jwksUrl: `http://127.0.0.1:${port}/jwks.json`, algorithms: ['RS256'], clockToleranceSec: 5 });
  const { privateKey } = await generateKeyPair('RS256');
  const token = await new SignJWT(good()).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(privateKey);
  await rejectsWith(t, rs.verify(token), 'unauthorized', 'key set unavailable');
});

t.test('tokenFromRequest', async (t) => {
  t.equal(tokenFromRequest({ authorization: 'Bearer abc.def.ghi' }), 'abc.def.ghi');
  t.equal(tokenFromRequest({ authorization: 'bearer   abc' }), 'abc');
  t.equal(tokenFromRequest({ authorization: 'Basic dXNlcjpwdw==' }), undefined);
  t.equal(tokenFromRequest({ query: 'room=1&token=q.r.s' }), 'q.r.s');
  t.equal(tokenFromRequest({ query: 'token=' }), undefined);
  t.equal(tokenFromRequest({ protocols: 'parley.v1, bearer.p.q.r' }), 'p.q.r');
  t.equal(tokenFromRequest({ protocols: 'parley.v1' }), undefined);
  t.equal(tokenFromRequest({ protocols: 'parley.v1, bearer.' }), undefined);
  t.equal(tokenFromRequest({}), undefined);

  // precedence: header, then query, then subprotocol
  const all = { authorization: 'Bearer H', query: 'token=Q', protocols: 'parley.v1, bearer.P' };
  t.equal(tokenFromRequest(all), 'H');
  t.equal(tokenFromRequest({ ...all, authorization: undefined }), 'Q');
  t.equal(tokenFromRequest({ query: 'x=1', protocols: all.protocols }), 'P');
  t.equal(tokenFromRequest({ authorization: 'Basic zzz', query: 'token=Q', protocols: all.protocols }), 'Q');
});
