import t from 'tap';
import type { Test } from 'tap';
import { Webhook } from 'standardwebhooks';
import { newWebhookSecret, startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

/*
 * The webhook receiver is the outside world for the webhook tests, so its verification is checked
 * here against the signer production uses (the `standardwebhooks` package).
 */

async function started(t: Test, secret: string, toleranceSec?: number): Promise<WebhookReceiver> {
  const receiver = await startWebhookReceiver({ secret, toleranceSec });
  t.teardown(() => receiver.close());
  return receiver;
}

type Delivery = { id?: string; date?: Date; body?: string; signature?: string; headers?: Record<string, string> };

/** POST a webhook signed by standardwebhooks with `secret`, unless the delivery overrides a part. */
function deliver(url: string, secret: string, d: Delivery = {}): Promise<Response> {
  const id = d.id ?? `msg_${Math.random().toString(36).slice(2)}`;
  const date = d.date ?? new Date();
  const body = d.body ?? JSON.stringify({ type: 'message.created', data: { id: 'm1' } });
  const headers = {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(date.getTime() / 1000)),
    'webhook-signature': d.signature ?? new Webhook(secret).sign(id, date, body),
    ...d.headers,
  };
  return fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(5_000) });
}

t.test('a delivery signed by standardwebhooks verifies and is recorded', async (t) => {
  const secret = newWebhookSecret();
  t.match(secret, /^whsec_[A-Za-z0-9+/]{32}$/);
  const receiver = await started(t, secret);
  const date = new Date();
  const body = JSON.stringify({ type: 'message.created', data: { id: 'm1', text: 'héllo 👋' } });

  const res = await deliver(receiver.url, secret, { id: 'msg_1', date, body });
  t.equal(res.status, 204);
  const [hook] = await receiver.waitFor(1);
  t.match(hook, { id: 'msg_1', timestamp: Math.floor(date.getTime() / 1000), verified: true, status: 204, raw: body, path: '/webhook' });
  t.same(hook!.body, JSON.parse(body));
  t.equal(hook!.reason, undefined);
});

t.test('a tampered body, a wrong secret, a changed id or timestamp do not verify', async (t) => {
  const secret = newWebhookSecret();
  const receiver = await started(t, secret);
  const date = new Date();
  const body = '{"type":"message.created","amount":1}';
  const good = new Webhook(secret).sign('msg_x', date, body);

  const cases: [string, Delivery][] = [
    ['tampered body', { id: 'msg_x', date, body: body.replace('1', '2'), signature: good }],
    ['wrong secret', { id: 'msg_x', date, body, signature: new Webhook(newWebhookSecret()).sign('msg_x', date, body) }],
    ['another id', { id: 'msg_y', date, body, signature: good }],
    ['another timestamp', { id: 'msg_x', date: new Date(date.getTime() + 1_000), body, signature: good }],
    ['signature under an unknown scheme', { id: 'msg_x', date, body, signature: good.replace(/^v1,/, 'v1a,') }],
  ];
  for (const [why, delivery] of cases) {
    t.equal((await deliver(receiver.url, secret, delivery)).status, 401, why);
    t.match(receiver.received.at(-1), { verified: false, reason: 'no-matching-signature', status: 401 }, why);
  }
});

t.test('one good signature among several verifies (key rotation)', async (t) => {
  const secret = newWebhookSecret();
  const receiver = await started(t, secret);
  const date = new Date();
  const body = '{"n":1}';
  const other = new Webhook(newWebhookSecret()).sign('msg_r', date, body);
  const good = new Webhook(secret).sign('msg_r', date, body);
  t.equal((await deliver(receiver.url, secret, { id: 'msg_r', date, body, signature: `${other} v1,short ${good}` })).status, 204);
  t.equal(receiver.received[0]!.verified, true);
});

t.test('timestamps outside the tolerance and missing headers are refused', async (t) => {
  const secret = newWebhookSecret();
  const receiver = await started(t, secret);
  const now = Date.now();
  // Properly signed, but replayed or from a skewed clock.
  t.equal((await deliver(receiver.url, secret, { date: new Date(now - 6 * 60_000) })).status, 401);
  t.equal((await deliver(receiver.url, secret, { date: new Date(now + 6 * 60_000) })).status, 401);
  t.equal((await deliver(receiver.url, secret, { date: new Date(now - 4 * 60_000) })).status, 204, 'within 5 minutes');
  t.equal((await deliver(receiver.url, secret, { headers: { 'webhook-timestamp': '12.5' } })).status, 401);
  const res = await fetch(receiver.url, { method: 'POST', body: '{}', signal: AbortSignal.timeout(5_000) });
  t.equal(res.status, 401);
  t.same(
    receiver.received.map((h) => h.reason),
    ['timestamp-out-of-tolerance', 'timestamp-out-of-tolerance', undefined, 'bad-timestamp', 'missing-headers'],
  );
});

t.test('down answers 503; stop() refuses connections; restart() is back on the same URL', async (t) => {
  const secret = newWebhookSecret();
  const receiver = await started(t, secret);
  const url = receiver.url;

  receiver.down = true;
  t.equal((await deliver(url, secret)).status, 503);
  t.match(receiver.received[0], { verified: true, status: 503 }, 'recorded, and still verified');
  receiver.down = false;

  await receiver.stop();
  await t.rejects(deliver(url, secret), 'nothing listens while stopped');
  await receiver.restart();
  t.equal(receiver.url, url);
  t.equal((await deliver(url, secret)).status, 204);
  t.same(receiver.received.map((h) => h.status), [503, 204]);
});

t.test('waitFor fails with what was seen when time is up', async (t) => {
  const receiver = await started(t, newWebhookSecret());
  await t.rejects(receiver.waitFor(1, 100), /timed out after 100 ms waiting for 1 record\(s\); 0 received/);
});
