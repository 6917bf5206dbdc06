import t from 'tap';
import { createECDH, randomBytes } from 'node:crypto';
import webpush from 'web-push';
import { restCall } from '../helpers/rest.js';
import { startSystem, type TestSystem } from '../helpers/system.js';
import { defaultConfig } from '../../lib/config.js';

const vapid = webpush.generateVAPIDKeys();
const push = (more: Partial<ReturnType<typeof defaultConfig>['push']> = {}) => ({
  push: { ...defaultConfig().push, vapid: { ...vapid, subject: 'mailto:ops@example.com' }, maxSubscriptionsPerUser: 3, ...more },
});

/** A browser's PushSubscription.toJSON(): a real P-256 key and a 16-byte secret. */
function browserSubscription(endpoint: string) {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return { endpoint, expirationTime: null, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: randomBytes(16).toString('base64url') } };
}


t.test('push subscriptions: the VAPID key, subscribe, list, idempotent re-subscribe, bounded per user, delete', async (t) => {
  const sys = await startSystem(t, push());
  const key = await restCall(sys, 'alice', 'GET', '/v1/push/vapid-public-key');
  t.same(key, { status: 200, body: { publicKey: vapid.publicKey } });

  const phone = browserSubscription('https://fcm.googleapis.com/fcm/send/phone-1');
  const created = await restCall(sys, 'alice', 'POST', '/v1/push/subscriptions', { ...phone, deviceId: 'phone' });
  t.equal(created.status, 201);
  t.match(created.body.id, /^ps_[A-Za-z0-9_-]{22}$/);
  // The page loads again and subscribes again: the same id, 200, no second copy.
  const again = await restCall(sys, 'alice', 'POST', '/v1/push/subscriptions', { ...phone, deviceId: 'phone' });
  t.same(again, { status: 200, body: { id: created.body.id } });

  const listed = await restCall(sys, 'alice', 'GET', '/v1/push/subscriptions');
  t.equal(listed.status, 200);
  t.same(listed.body.subscriptions.map((s: { id: string; endpoint: string; deviceId: string }) => [s.id, s.endpoint, s.deviceId]), [[created.body.id, phone.endpoint, 'phone']]);
  t.notOk('keys' in listed.body.subscriptions[0], 'keys are not listed');
  t.same((await restCall(sys, 'bob', 'GET', '/v1/push/subscriptions')).body, { subscriptions: [] }, 'another user sees none of them');

  for (let i = 2; i <= 3; i++) t.equal((await restCall(sys, 'alice', 'POST', '/v1/push/subscriptions', browserSubscription(`https://fcm.googleapis.com/fcm/send/d${i}`))).status, 201);
  const fourth = await restCall(sys, 'alice', 'POST', '/v1/push/subscriptions', browserSubscription('https://fcm.googleapis.com/fcm/send/d4'));
  t.equal(fourth.status, 409);
  t.equal(fourth.body.error.code, 'limit_reached');

  t.equal((await restCall(sys, 'bob', 'DELETE', `/v1/push/subscriptions/${created.body.id}`)).status, 404, "bob cannot delete alice's");
  t.same(await restCall(sys, 'alice', 'DELETE', `/v1/push/subscriptions/${created.body.id}`), { status: 204, body: undefined });
  t.equal((await restCall(sys, 'alice', 'DELETE', `/v1/push/subscriptions/${created.body.id}`)).status, 404, 'gone');
  t.equal((await restCall(sys, 'alice', 'GET', '/v1/push/subscriptions')).body.subscriptions.length, 2);
  t.same((await restCall(sys, 'alice', 'GET', '/v1/push/log')).body, { records: [] }, 'nothing pushed yet');
});

t.test('push subscriptions: private, loopback and plain-http endpoints and broken keys are refused with the reason', async (t) => {
  const sys = await startSystem(t, push());
  const good = browserSubscription('https://fcm.googleapis.com/fcm/send/x');
  const cases: [unknown, RegExp][] = [
    [{ ...good, endpoint: 'https://127.0.0.1/x' }, /public address/],
    [{ ...good, endpoint: 'https://169.254.169.254/latest' }, /public address/],
    [{ ...good, endpoint: 'https://[::ffff:10.0.0.1]/x' }, /public address/],
    [{ ...good, endpoint: 'https://localhost/x' }, /public host name/],
    [{ ...good, endpoint: 'http://fcm.googleapis.com/x' }, /https/],
    [{ ...good, keys: { ...good.keys, p256dh: Buffer.alloc(65, 4).toString('base64url') } }, /not a point on P-256/],
    [{ ...good, keys: { ...good.keys, auth: 'short' } }, /keys\/auth/],
    [{ ...good, extra: 1 }, /./],
    [{ endpoint: good.endpoint }, /keys/],
  ];
  for (const [body, message] of cases) {
    const res = await restCall(sys, 'alice', 'POST', '/v1/push/subscriptions', body);
    t.equal(res.status, 400, JSON.stringify(body).slice(0, 80));
    t.equal(res.body.error.code, 'validation_error');
    t.match(res.body.error.message, message);
  }
  t.same((await restCall(sys, 'alice', 'GET', '/v1/push/subscriptions')).body, { subscriptions: [] }, 'nothing was stored');
});

t.test('push subscriptions: plain http on loopback only with PARLEY_PUSH_ALLOW_INSECURE; no VAPID keys: 503', async (t) => {
  const insecure = await startSystem(t, push({ allowInsecure: true }));
  t.equal((await restCall(insecure, 'alice', 'POST', '/v1/push/subscriptions', browserSubscription('http://127.0.0.1:9/push/1'))).status, 201);
  t.equal((await restCall(insecure, 'alice', 'POST', '/v1/push/subscriptions', browserSubscription('http://10.0.0.1/push/1'))).status, 400);
  const { vapid: _none, ...noKeys } = push().push;
  const unconfigured = await startSystem(t, { push: noKeys });
  const res = await restCall(unconfigured, 'alice', 'GET', '/v1/push/vapid-public-key');
  t.equal(res.status, 503);
  t.equal(res.body.error.code, 'unavailable');
});
