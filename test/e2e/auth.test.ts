import t, { type Test } from 'tap';
import { SignJWT } from 'jose';
import { startSystem, type TestSystem } from '../helpers/system.js';
import { TestClient } from '../helpers/client.js';

const enc = (s: string) => new TextEncoder().encode(s);
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

async function signed(sys: TestSystem, claims: Record<string, unknown>, opts: { alg?: string; secret?: string; exp?: number } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg: opts.alg ?? 'HS256' })
    .setExpirationTime(opts.exp ?? now + 300)
    .sign(enc(opts.secret ?? sys.config.auth.secret!));
}

/** Open a socket with this token at upgrade; expect an error frame with `code` and close 4001. */
async function refused(t: Test, sys: TestSystem, token: string, code: string) {
  const c = await TestClient.open(sys.url, { auth: 'header', token });
  const err = await c.next('error');
  t.equal(err.error!.code, code);
  t.equal((await c.closed).code, 4001);
  t.equal(c.of('connection.success').length, 0);
}

t.test('auth', async (t) => {
  const sys = await startSystem(t, {
    auth: { secret: 'test-secret-auth', algorithms: ['HS256'], audience: 'parley-test', clockToleranceSec: 0, timeoutMs: 400 },
  });
  const good = (sub: string) => signed(sys, { sub, aud: 'parley-test' });

  t.test('each way of giving a token works', async (t) => {
    for (const auth of ['header', 'query', 'subprotocol'] as const) {
      const c = await TestClient.open(sys.url, { auth, token: await good(`u-${auth}`) });
      const ok = await c.next('connection.success');
      t.equal(ok.payload.userId, `u-${auth}`, auth);
      t.equal(c.ws.protocol, 'parley.v1.json', 'the codec subprotocol is chosen, never the token');
      c.terminate();
    }
    const c = await TestClient.open(sys.url, { auth: 'none' });
    c.send({ type: 'message.send', ref: 'early', payload: { toUserId: 'x', tempId: 'e', content: 'x' } });
    t.equal((await c.next('error')).error!.code, 'unauthorized', 'frames before authenticate are refused');
    c.send({ type: 'authenticate', payload: { token: await good('late') } });
    t.equal((await c.next('connection.success')).payload.userId, 'late');
    c.terminate();
  });

  t.test('no token and no authenticate frame: closed with 4001 after the window', async (t) => {
    const c = await TestClient.open(sys.url, { auth: 'none' });
    const closed = await c.closed;
    t.equal(closed.code, 4001);
    t.equal((await c.next('error')).error!.code, 'unauthorized');
  });

  t.test('bad signature', async (t) => refused(t, sys, await signed(sys, { sub: 'a', aud: 'parley-test' }, { secret: 'other' }), 'unauthorized'));
  t.test('expired', async (t) =>
    refused(t, sys, await signed(sys, { sub: 'a', aud: 'parley-test' }, { exp: Math.floor(Date.now() / 1000) - 60 }), 'token_expired'));
  t.test('alg none', async (t) => refused(t, sys, `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'a', aud: 'parley-test', exp: 9_999_999_999 })}.`, 'unauthorized'));
  t.test('wrong algorithm', async (t) => refused(t, sys, await signed(sys, { sub: 'a', aud: 'parley-test' }, { alg: 'HS512' }), 'unauthorized'));
  t.test('wrong audience', async (t) => refused(t, sys, await signed(sys, { sub: 'a', aud: 'someone-else' }), 'unauthorized'));
  t.test('missing exp', async (t) => {
    const token = await new SignJWT({ sub: 'a', aud: 'parley-test' }).setProtectedHeader({ alg: 'HS256' }).sign(enc(sys.config.auth.secret!));
    await refused(t, sys, token, 'unauthorized');
  });

  t.test('a bad token in an authenticate frame: error and 4001', async (t) => {
    const c = await TestClient.open(sys.url, { auth: 'none' });
    c.send({ type: 'authenticate', ref: 'au', payload: { token: 'not.a.jwt' } });
    const err = await c.next('error');
    t.equal(err.error!.code, 'unauthorized');
    t.equal(err.ref, 'au');
    t.equal((await c.closed).code, 4001);
  });

  t.test('frames sent right after the upgrade wait for its token to be checked, then are answered in order', async (t) => {
    // The token given at upgrade is checked once the socket is open (see gateway.ts, upgrade).
    const c = await TestClient.open(sys.url, { auth: 'header', token: await good('early') });
    c.send({ type: 'ping', ref: 'early-1', payload: {} });
    c.send({ type: 'ping', ref: 'early-2', payload: {} });
    t.equal((await c.next('pong')).ref, 'early-1', 'answered, not "authenticate first"');
    t.equal((await c.next('pong', (f) => f.ref === 'early-2')).ref, 'early-2');
    t.equal(c.of('error').length, 0);
    await c.next('connection.success');
    c.terminate();
  });

  t.test('a token that expires while connected closes the socket with 4001; auth.refresh extends it', async (t) => {
    const soon = Math.floor(Date.now() / 1000) + 2;
    const c = await TestClient.open(sys.url, { auth: 'header', token: await signed(sys, { sub: 'short', aud: 'parley-test' }, { exp: soon }) });
    await c.next('connection.success');
    const r = await TestClient.open(sys.url, { auth: 'header', token: await signed(sys, { sub: 'refresh', aud: 'parley-test' }, { exp: soon }) });
    await r.next('connection.success');
    r.send({ type: 'auth.refresh', ref: 'rf', payload: { token: await good('refresh') } });
    t.ok(await r.next('auth.refreshed'));
    const closed = await c.closed;
    t.equal(closed.code, 4001);
    t.equal((await c.next('error')).error!.code, 'token_expired');
    r.send({ type: 'ping', ref: 'still', payload: {} });
    t.equal((await r.next('pong')).ref, 'still', 'the refreshed socket is still open');
    r.send({ type: 'auth.refresh', ref: 'other', payload: { token: await good('someone-else') } });
    t.equal((await r.next('error', (f) => f.ref === 'other')).error!.code, 'unauthorized');
    r.terminate();
  });
});
