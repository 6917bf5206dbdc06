import t from 'tap';
import { Webhook } from 'standardwebhooks';
import { verifyWebhook } from '../../lib/webhook-verify.js';

const secret = `whsec_${Buffer.from('parley-test-secret-0123456789').toString('base64')}`;
const body = JSON.stringify({ type: 'push.decision', timestamp: '2026-12-07T00:00:00.000Z', data: { userId: 'bob' } });

function signed(at = new Date(), id = 'pd_1') {
  return { 'Webhook-Id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': new Webhook(secret).sign(id, at, body) };
}

t.test('a webhook signed with the secret verifies, headers in any case; anything else is refused', async (t) => {
  t.same(verifyWebhook(secret, body, signed()), { id: 'pd_1', type: 'push.decision', timestamp: '2026-12-07T00:00:00.000Z', data: { userId: 'bob' } });
  t.throws(() => verifyWebhook(secret, body.replace('bob', 'eve'), signed()), { name: 'WebhookRefused', code: 'webhook_refused' }, 'a changed body');
  t.throws(() => verifyWebhook(`whsec_${Buffer.from('another').toString('base64')}`, body, signed()), { name: 'WebhookRefused', code: 'webhook_refused' }, 'another secret');
  t.throws(() => verifyWebhook(secret, body, signed(new Date(Date.now() - 10 * 60_000))), { name: 'WebhookRefused', code: 'webhook_refused' }, 'ten minutes old');
  t.throws(() => verifyWebhook(secret, body, { ...signed(), 'Webhook-Id': 'pd_2' }), { name: 'WebhookRefused', code: 'webhook_refused' }, 'another id');
  t.throws(() => verifyWebhook(secret, body, {}), { name: 'WebhookRefused', code: 'webhook_refused' }, 'no headers');
});
