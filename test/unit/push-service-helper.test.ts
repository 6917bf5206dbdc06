import t from 'tap';
import type { Test } from 'tap';
import { execFile } from 'node:child_process';
import { Agent as HttpsAgent } from 'node:https';
import { promisify } from 'node:util';
import { SignJWT, importJWK, type JWTPayload } from 'jose';
import webpush from 'web-push';
import { plainHttpAgent, startPushService, type PushService, type PushSubscriptionJson } from '../helpers/push-service.js';
import { PushDecryptError, decryptPushBody } from '../helpers/web-push-decrypt.js';

/*
 * The push service helper is the outside world for the Web Push tests, so it is checked here
 * against the sender production uses (the `web-push` package) and against the RFC's own example.
 */

const b64u = (s: string) => Buffer.from(s, 'base64url');
const SUBJECT = 'mailto:test@example.com';
const vapidKeys = webpush.generateVAPIDKeys();
const vapidDetails = { subject: SUBJECT, ...vapidKeys };
const agent = plainHttpAgent(); // web-push only speaks https.request; see plainHttpAgent

async function started(t: Test, options?: Parameters<typeof startPushService>[0]): Promise<PushService> {
  const service = await startPushService(options);
  t.teardown(() => service.close());
  return service;
}

/** What web-push would send, as headers and body, for a test to alter before POSTing it itself. */
function requestFor(sub: PushSubscriptionJson, payload: unknown) {
  const details = webpush.generateRequestDetails(sub, JSON.stringify(payload), { vapidDetails, TTL: 60 });
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(details.headers)) if (name !== 'Content-Length') headers[name] = String(value);
  return { headers, body: details.body };
}

const post = (endpoint: string, headers: Record<string, string>, body: Buffer, method = 'POST') =>
  fetch(endpoint, { method, headers, body: new Uint8Array(body), signal: AbortSignal.timeout(5_000) });

/** A VAPID header with any claims, signed with the test's VAPID key (web-push refuses to make bad ones). */
async function vapidWith(claims: JWTPayload): Promise<string> {
  const pub = b64u(vapidKeys.publicKey);
  const key = await importJWK(
    { kty: 'EC', crv: 'P-256', d: vapidKeys.privateKey, x: pub.subarray(1, 33).toString('base64url'), y: pub.subarray(33).toString('base64url') },
    'ES256',
  );
  const jwt = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'JWT' }).sign(key);
  return `vapid t=${jwt}, k=${vapidKeys.publicKey}`;
}

t.test('decryptPushBody reproduces RFC 8291 Appendix A', async (t) => {
  // The example's user agent keys, auth secret and encrypted body (Appendix A of RFC 8291).
  const uaPrivate = b64u('q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94');
  const auth = b64u('BTBZMqHH6r4Tts7J_aSIgg');
  const body = b64u(
    'DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN',
  );
  t.equal(decryptPushBody(body, uaPrivate, auth).toString('utf8'), 'When I grow up, I want to be a watermelon');

  const altered = Buffer.from(body);
  altered[altered.length - 1]! ^= 1;
  t.throws(() => decryptPushBody(altered, uaPrivate, auth), PushDecryptError, 'an altered tag');
  t.throws(() => decryptPushBody(body, uaPrivate, Buffer.alloc(16)), PushDecryptError, 'another auth secret');
  t.throws(() => decryptPushBody(body.subarray(0, 20), uaPrivate, auth), PushDecryptError, 'a truncated header');
});

t.test('a push from web-push is decrypted, its headers recorded and its VAPID accepted', async (t) => {
  const service = await started(t);
  const sub = service.subscribe();
  t.match(sub.endpoint, new RegExp(`^${service.origin}/push/[\\w-]+$`));
  t.equal(b64u(sub.keys.p256dh).length, 65);
  t.equal(b64u(sub.keys.auth).length, 16);

  const payload = { type: 'message.new', conversationId: 'c1', preview: 'héllo 👋', n: 3 };
  const result = await webpush.sendNotification(sub, JSON.stringify(payload), { vapidDetails, TTL: 60, urgency: 'high', topic: 'c1', agent });
  t.equal(result.statusCode, 201);

  const [push] = await service.waitFor(1);
  t.same(push!.payload, payload);
  t.equal(push!.endpoint, sub.endpoint);
  t.equal(push!.status, 201);
  t.equal(push!.ttl, 60);
  t.equal(push!.urgency, 'high');
  t.equal(push!.topic, 'c1');
  t.equal(push!.problem, undefined);
  t.match(push!.vapid, { ok: true, sub: SUBJECT, aud: service.origin, k: vapidKeys.publicKey });
  t.ok(push!.vapid.exp! > Date.now() / 1000 && push!.vapid.exp! <= Date.now() / 1000 + 86_400, 'exp within the next 24 h');
});

t.test('with tls, web-push reaches it through an ordinary https agent that trusts its certificate', async (t) => {
  const service = await started(t, { tls: true });
  t.match(service.origin, /^https:\/\/127\.0\.0\.1:\d+$/);
  const sub = service.subscribe();
  const trusting = new HttpsAgent({ ca: service.certificate!.cert });
  const result = await webpush.sendNotification(sub, JSON.stringify({ secure: true }), { vapidDetails, TTL: 5, agent: trusting });
  t.equal(result.statusCode, 201);
  t.match(service.received[0], { payload: { secure: true }, vapid: { ok: true, aud: service.origin } });
  await t.rejects(webpush.sendNotification(sub, '{}', { vapidDetails }), /self-signed/, 'not trusted by default');

  // A spawned process (how the e2e tests run the server) trusts it through NODE_EXTRA_CA_CERTS.
  const probe = `require('https').request(process.argv[1], { method: 'POST', agent: false }, (r) => console.log(r.statusCode)).end()`;
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', probe, `${service.origin}/push/nobody`], {
    env: { ...process.env, NODE_EXTRA_CA_CERTS: service.certificate!.certFile },
    timeout: 10_000,
  });
  t.equal(stdout.trim(), '404');
});

t.test('VAPID failures are recorded and answered 401', async (t) => {
  const service = await started(t);
  const sub = service.subscribe();
  const payload = { hello: 'world' };
  const { headers, body } = requestFor(sub, payload);
  const otherKeys = webpush.generateVAPIDKeys();
  const [header, claims, signature] = headers.Authorization!.replace(/^vapid t=/, '').split(/[.,]/);
  const forged = Buffer.from(JSON.stringify({ ...JSON.parse(b64u(claims!).toString()), sub: 'mailto:evil@example.com' })).toString('base64url');
  const now = Math.floor(Date.now() / 1000);

  const cases: [string, string | undefined, string][] = [
    ['wrong-aud', webpush.getVapidHeaders('http://127.0.0.1:1', SUBJECT, vapidKeys.publicKey, vapidKeys.privateKey, 'aes128gcm').Authorization, 'a token for another origin'],
    ['bad-signature', `vapid t=${header}.${forged}.${signature}, k=${vapidKeys.publicKey}`, 'claims altered after signing'],
    ['bad-signature', headers.Authorization!.replace(/k=.*$/, `k=${otherKeys.publicKey}`), 'k is not the signing key'],
    ['expired', await vapidWith({ aud: service.origin, sub: SUBJECT, exp: now - 10 }), 'an expired token'],
    ['exp-too-far', await vapidWith({ aud: service.origin, sub: SUBJECT, exp: now + 25 * 3600 }), 'exp beyond 24 h'],
    ['bad-sub', await vapidWith({ aud: service.origin, sub: 'test@example.com', exp: now + 60 }), 'sub without mailto:'],
    ['malformed', `vapid t=not.a-jwt, k=${vapidKeys.publicKey}`, 'garbage token'],
    ['missing', undefined, 'no Authorization'],
  ];
  for (const [reason, authorization, why] of cases) {
    const h = { ...headers };
    if (authorization === undefined) delete h.Authorization;
    else h.Authorization = authorization;
    const res = await post(sub.endpoint, h, body);
    t.equal(res.status, 401, why);
    const push = service.received.at(-1)!;
    t.equal(push.vapid.ok, false, why);
    t.equal(push.vapid.reason, reason, why);
    t.same(push.payload, payload, `${why}: still decrypted, so a test can see what was refused`);
  }
  t.equal(service.received.length, cases.length);
});

t.test('with requireVapid off, a bad VAPID is recorded but the push accepted', async (t) => {
  const service = await started(t, { requireVapid: false });
  const sub = service.subscribe();
  const { headers, body } = requestFor(sub, { a: 1 });
  headers.Authorization = webpush.getVapidHeaders('http://example.com', SUBJECT, vapidKeys.publicKey, vapidKeys.privateKey, 'aes128gcm').Authorization;
  t.equal((await post(sub.endpoint, headers, body)).status, 201);
  t.match(service.received[0]!.vapid, { ok: false, reason: 'wrong-aud', aud: 'http://example.com' });
});

t.test('scripted answers reach web-push: a queue, then 201; or a function', async (t) => {
  const service = await started(t);
  const sub = service.subscribe();
  service.script(sub.endpoint, [{ status: 410 }, { status: 500 }, { status: 429, retryAfter: 7 }, { status: 413 }]);
  const send = (n: number) => webpush.sendNotification(sub, JSON.stringify({ n }), { vapidDetails, TTL: 60, agent });
  const statusOf = (p: Promise<unknown>) =>
    p.then(
      () => ({ status: 201, retryAfter: undefined }),
      (err: InstanceType<typeof webpush.WebPushError>) => ({ status: err.statusCode, retryAfter: err.headers['retry-after'] }),
    );

  t.same(await statusOf(send(1)), { status: 410, retryAfter: undefined });
  t.same(await statusOf(send(2)), { status: 500, retryAfter: undefined });
  t.same(await statusOf(send(3)), { status: 429, retryAfter: '7' });
  t.same(await statusOf(send(4)), { status: 413, retryAfter: undefined });
  t.same(await statusOf(send(5)), { status: 201, retryAfter: undefined }, 'the queue is spent');
  t.same(
    service.received.map((p) => [p.status, p.payload]),
    [410, 500, 429, 413, 201].map((s, i) => [s, { n: i + 1 }]),
    'each push is recorded with what it was answered',
  );

  service.script(sub.endpoint, (push) => ({ status: (push.payload as { n: number }).n % 2 ? 503 : 404 }));
  t.same(await statusOf(send(7)), { status: 503, retryAfter: undefined });
  t.same(await statusOf(send(8)), { status: 404, retryAfter: undefined });
});

t.test('a slow or silent push service trips the sender timeout; close() does not wait for it', async (t) => {
  const service = await started(t);
  const sub = service.subscribe();
  service.script(sub.endpoint, [{ status: 201, delayMs: 2_000 }, { hang: true }]);
  const send = () => webpush.sendNotification(sub, '{}', { vapidDetails, TTL: 0, agent, timeout: 200 });

  const started1 = Date.now();
  await t.rejects(send(), /timeout/i, 'answer delayed past the timeout');
  await t.rejects(send(), /timeout/i, 'never answered');
  t.ok(Date.now() - started1 < 1_500, 'the sender gave up at its own timeout');
  t.same(service.received.map((p) => p.status), [201, 'hang']);
  t.equal(service.received[0]!.ttl, 0, 'TTL 0 is a TTL');

  const closing = Date.now();
  await service.close();
  t.ok(Date.now() - closing < 1_000, 'close() drops held requests and timers');
});

t.test('requests a push service refuses: 400, 404, 405, 413', async (t) => {
  const service = await started(t, { maxBodyBytes: 200 });
  const sub = service.subscribe();
  const { headers, body } = requestFor(sub, { ok: true });
  const without = (name: string) => Object.fromEntries(Object.entries(headers).filter(([n]) => n !== name));
  const altered = Buffer.from(body);
  altered[altered.length - 3]! ^= 0xff;

  const cases: [number, RegExp, Promise<Response>][] = [
    [400, /TTL/, post(sub.endpoint, without('TTL'), body)],
    [400, /Content-Encoding/, post(sub.endpoint, { ...headers, 'Content-Encoding': 'aesgcm' }, body)],
    [400, /cannot decrypt/, post(sub.endpoint, headers, altered)],
    [404, /no such subscription/, post(`${service.origin}/push/nobody`, headers, body)],
    [405, /method/, post(sub.endpoint, headers, body, 'PUT')],
    [413, /over 200 bytes/, post(sub.endpoint, headers, Buffer.concat([body, Buffer.alloc(200)]))],
  ];
  for (const [status, problem, response] of cases) {
    t.equal((await response).status, status, String(problem));
  }
  await service.waitFor(cases.length);
  t.same(
    service.received.map((p) => p.status).sort(),
    cases.map(([s]) => s).sort(),
  );
  for (const [status, problem] of cases) t.ok(service.received.some((p) => p.status === status && problem.test(p.problem ?? '')), String(problem));
  t.throws(() => service.script(`${service.origin}/push/nobody`, []), /not a subscription/);
});

t.test('waitFor and waitUntil fail with what was seen when time is up', async (t) => {
  const service = await started(t);
  await t.rejects(service.waitFor(1, 100), /timed out after 100 ms waiting for 1 record\(s\); 0 received/);
  const sub = service.subscribe();
  const later = service.waitUntil((ps) => ps.some((p) => (p.payload as { last?: boolean }).last === true), 5_000);
  await webpush.sendNotification(sub, JSON.stringify({ last: false }), { vapidDetails, agent });
  await webpush.sendNotification(sub, JSON.stringify({ last: true }), { vapidDetails, agent });
  t.equal((await later).length, 2);
});
