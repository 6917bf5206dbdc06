import t, { type Test } from 'tap';
import { SignJWT } from 'jose';
import { Kvm } from '@nats-io/kv';
import { startSystem, type TestSystem } from '../helpers/system.js';
import { TestClient, type ClientOptions } from '../helpers/client.js';

/** A token with these claims; `iat` is left out when null. */
function sign(sys: TestSystem, sub: string, claims: Record<string, unknown> = {}, iat: number | null = Math.floor(Date.now() / 1000)) {
  const jwt = new SignJWT({ ...claims }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime(Math.floor(Date.now() / 1000) + 300);
  if (iat !== null) jwt.setIssuedAt(iat);
  return jwt.sign(new TextEncoder().encode(sys.config.auth.secret!));
}

const httpBase = (wsUrl: string) => wsUrl.replace('ws://', 'http://').replace('/ws', '');

/** Two gateways (A: role all, B: a gateway of its own) on one system, and a way to open sockets on either. */
async function twoGateways(t: Test) {
  const sys = await startSystem(t);
  const b = await sys.start('gateway', { gatewayId: `${sys.config.gatewayId}-b` });
  const gateways = { a: { id: sys.config.gatewayId, url: sys.url }, b: { id: `${sys.config.gatewayId}-b`, url: b.gateway!.url } };
  const clients: TestClient[] = [];
  t.teardown(() => clients.forEach((c) => c.terminate()));
  const open = async (url: string, token: string, options: ClientOptions = {}) => {
    const c = await TestClient.open(url, { auth: 'header', token, ...options });
    clients.push(c);
    return c;
  };
  const connect = async (url: string, token: string, options: ClientOptions = {}) => {
    const c = await open(url, token, options);
    return { client: c, connectionId: (await c.next('connection.success')).payload.connectionId as string };
  };
  const admin = await sign(sys, 'ops', { scope: 'openid parley:admin' });
  /** An admin call, with the admin's token unless another (or null: none) is given. */
  const call = (url: string, method: 'GET' | 'POST', path: string, token: string | null = admin) =>
    fetch(`${httpBase(url)}${path}`, { method, headers: token === null ? {} : { authorization: `Bearer ${token}` } });
  return { sys, gateways, open, connect, call, admin };
}

/** Still served: a ping is answered. */
async function alive(t: Test, c: TestClient, ref: string) {
  c.send({ type: 'ping', ref, payload: {} });
  t.equal((await c.next('pong', (f) => f.ref === ref)).ref, ref, `${ref}: still connected`);
}

t.test('admin: a user\'s connections on every gateway, and disconnect closes them all with 4003', async (t) => {
  const { sys, gateways, connect, call } = await twoGateways(t);
  const alice = await sign(sys, 'alice');
  const phone = await connect(gateways.a.url, alice, { deviceId: 'phone' });
  const laptop = await connect(gateways.a.url, alice, { deviceId: 'laptop', codec: 'msgpack' });
  const tablet = await connect(gateways.b.url, alice, { deviceId: 'tablet' });
  const bob = await connect(gateways.b.url, await sign(sys, 'bob'));
  const before = Date.now();

  const listed = await call(gateways.a.url, 'GET', '/v1/admin/users/alice/connections');
  t.equal(listed.status, 200);
  const body = await listed.json();
  t.equal(body.userId, 'alice');
  t.equal(body.gateways, 2, 'both gateways answered');
  t.same(
    body.connections.map((c: { connectionId: string }) => c.connectionId).sort(),
    [phone.connectionId, laptop.connectionId, tablet.connectionId].sort(),
    'the three sockets of alice, none of bob',
  );
  const byDevice = Object.fromEntries(body.connections.map((c: { deviceId: string }) => [c.deviceId, c]));
  t.match(byDevice.phone, { gatewayId: gateways.a.id, codec: 'json', remoteAddress: /127\.0\.0\.1/ });
  t.match(byDevice.laptop, { gatewayId: gateways.a.id, codec: 'msgpack' });
  t.match(byDevice.tablet, { gatewayId: gateways.b.id, codec: 'json' });
  for (const c of body.connections) t.ok(Date.parse(c.connectedAt) <= before && Date.parse(c.connectedAt) > before - 30_000, 'connectedAt is when it connected');
  const fromB = await (await call(gateways.b.url, 'GET', '/v1/admin/users/alice/connections')).json();
  t.equal(fromB.connections.length, 3, 'the same from the other gateway');
  t.same((await (await call(gateways.a.url, 'GET', '/v1/admin/users/nobody/connections')).json()).connections, [], 'a user with none');

  const disconnected = await call(gateways.b.url, 'POST', '/v1/admin/users/alice/disconnect');
  t.equal(disconnected.status, 200);
  t.same(await disconnected.json(), { userId: 'alice', disconnected: 3, gateways: 2 });
  for (const [name, c] of [['phone', phone], ['laptop', laptop], ['tablet', tablet]] as const) {
    t.same(await c.client.closed, { code: 4003, reason: 'disconnected by an administrator' }, `${name}: closed with 4003`);
  }
  await alive(t, bob.client, 'bob');
  t.same((await (await call(gateways.a.url, 'GET', '/v1/admin/users/alice/connections')).json()).connections, [], 'none left');
  const again = await connect(gateways.a.url, alice);
  t.ok(again.connectionId, 'a disconnected user may connect again (the token still holds)');
});

t.test('admin routes: only for tokens with the parley:admin scope', async (t) => {
  const { sys, gateways, call } = await twoGateways(t);
  const cases: [string, string | null, number, string][] = [
    ['no token', null, 401, 'unauthorized'],
    ['a user token', await sign(sys, 'mallory'), 403, 'forbidden'],
    ['another scope', await sign(sys, 'mallory', { scope: 'openid parley:admins parley' }), 403, 'forbidden'],
    ['scope in another claim', await sign(sys, 'mallory', { scp: 'parley:admin' }), 403, 'forbidden'],
  ];
  for (const [name, token, status, code] of cases) {
    for (const [method, path] of [['GET', '/v1/admin/users/alice/connections'], ['POST', '/v1/admin/users/alice/disconnect'], ['POST', '/v1/admin/users/alice/revoke']] as const) {
      const res = await call(gateways.a.url, method, path, token);
      t.equal(res.status, status, `${name}, ${method} ${path}: ${status}`);
      t.equal((await res.json()).error.code, code);
    }
  }
  const arrayScope = await call(gateways.a.url, 'GET', '/v1/admin/users/alice/connections', await sign(sys, 'ops2', { scope: ['parley:admin'] }));
  t.equal(arrayScope.status, 200, 'scope as an array');
  await arrayScope.body?.cancel();
  const badId = await call(gateways.a.url, 'GET', '/v1/admin/users/a.b/connections');
  t.equal(badId.status, 400);
  t.equal((await badId.json()).error.code, 'validation_error');
  // The refused revoke above stored nothing: mallory's-admin attempts do not lock alice out.
  const alice = await TestClient.open(gateways.a.url, { auth: 'header', token: await sign(sys, 'alice') });
  t.teardown(() => alice.terminate());
  t.ok(await alice.next('connection.success'), 'alice is not revoked');
});

t.test('admin revoke: older tokens refused on every gateway, started later too; newer tokens work', async (t) => {
  const { sys, gateways, open, connect, call } = await twoGateways(t);
  const old = await sign(sys, 'alice');
  const oldNoIat = await sign(sys, 'alice', {}, null);
  const onA = await connect(gateways.a.url, old);
  const onB = await connect(gateways.b.url, old, { codec: 'msgpack' });
  const bob = await connect(gateways.a.url, await sign(sys, 'bob'));
  const rest = (url: string, token: string) => fetch(`${httpBase(url)}/v1/unread`, { headers: { authorization: `Bearer ${token}` } });
  t.equal((await rest(gateways.b.url, old)).status, 200, 'before: the old token is served');

  const revoked = await call(gateways.a.url, 'POST', '/v1/admin/users/alice/revoke');
  t.equal(revoked.status, 200);
  const body = await revoked.json();
  t.match(body, { userId: 'alice', disconnected: 2, gateways: 2 });
  const revokedAt = Date.parse(body.revokedAt);
  t.ok(revokedAt > Date.now() - 10_000, 'revokedAt is now');
  for (const [name, c] of [['on A', onA], ['on B', onB]] as const) {
    t.same(await c.client.closed, { code: 4001, reason: 'token revoked' }, `${name}: closed with 4001`);
    t.match(await c.client.next('error'), { error: { code: 'unauthorized', message: 'token revoked' } }, `${name}: told why`);
  }
  await alive(t, bob.client, 'bob');

  /** An old token at upgrade, in authenticate, and over REST: refused. */
  const refusedOn = async (name: string, url: string, token: string) => {
    const up = await open(url, token);
    t.match(await up.next('error'), { error: { code: 'unauthorized', message: 'token revoked' } }, `${name}: upgrade token refused`);
    t.equal((await up.closed).code, 4001);
    t.equal(up.of('connection.success').length, 0);
    const later = await open(url, '', { auth: 'none' });
    later.send({ type: 'authenticate', ref: 'au', payload: { token } });
    t.match(await later.next('error'), { ref: 'au', error: { code: 'unauthorized' } }, `${name}: authenticate refused`);
    t.equal((await later.closed).code, 4001);
    const r = await rest(url, token);
    t.equal(r.status, 401, `${name}: REST refused`);
    t.match(await r.json(), { error: { code: 'unauthorized', message: 'token revoked' } });
  };
  await refusedOn('gateway A', gateways.a.url, old);
  await refusedOn('gateway B', gateways.b.url, old);

  // A gateway started after the revocation reads it from the bucket before it serves.
  const c = await sys.start('gateway', { gatewayId: `${sys.config.gatewayId}-c` });
  await refusedOn('gateway C (started after)', c.gateway!.url, old);
  await refusedOn('gateway C, a token without iat', c.gateway!.url, oldNoIat);

  // iat is in whole seconds: a token of the revocation's second counts as older. One from the next works.
  await new Promise((r) => setTimeout(r, Math.max(0, (Math.floor(revokedAt / 1000) + 1) * 1000 - Date.now() + 20)));
  const fresh = await sign(sys, 'alice');
  const reconnected: string[] = [];
  for (const url of [gateways.a.url, gateways.b.url, c.gateway!.url]) {
    reconnected.push((await connect(url, fresh)).connectionId);
    t.equal((await rest(url, fresh)).status, 200, 'a newer token is served over REST');
  }
  t.equal(reconnected.length, 3, 'a newer token connects on every gateway');
  const listed = await (await call(c.gateway!.url, 'GET', '/v1/admin/users/alice/connections')).json();
  t.same(listed.connections.map((x: { connectionId: string }) => x.connectionId).sort(), reconnected.sort(), 'gateway C answers admin requests too');
  t.equal(listed.gateways, 3);

  // auth.refresh with an old token is refused; the socket stays, on its newer token.
  const refreshing = await connect(gateways.b.url, fresh);
  refreshing.client.send({ type: 'auth.refresh', ref: 'rf', payload: { token: old } });
  t.match(await refreshing.client.next('error', (f) => f.ref === 'rf'), { error: { code: 'unauthorized', message: 'token revoked' } }, 'auth.refresh with an old token: refused');
  await alive(t, refreshing.client, 'refreshed');
});

t.test('a revocation that reaches a gateway only through the bucket (it missed the request) still closes and refuses', async (t) => {
  const { sys, gateways, open, connect } = await twoGateways(t);
  const old = await sign(sys, 'dave');
  const onA = await connect(gateways.a.url, old);
  const onB = await connect(gateways.b.url, old);
  // Written straight into the bucket, as a gateway cut off from NATS during the revoke would find it.
  const running = sys.running[0]!;
  const kv = await new Kvm(running.nc).open(running.names.buckets.revocations);
  await kv.put('dave', JSON.stringify({ revokedAt: Date.now(), by: 'test' }));
  for (const [name, c] of [['on A', onA], ['on B', onB]] as const) {
    t.same(await c.client.closed, { code: 4001, reason: 'token revoked' }, `${name}: closed once the watch brought it`);
  }
  const again = await open(gateways.b.url, old);
  t.match(await again.next('error'), { error: { code: 'unauthorized', message: 'token revoked' } }, 'and the old token is refused');
  t.equal((await again.closed).code, 4001);
});
