import t from 'tap';
import { defaultConfig } from '../../lib/config.js';
import { pollUntil } from '../helpers/poll.js';
import { restCall } from '../helpers/rest.js';
import { startSystem, type TestSystem } from '../helpers/system.js';
import { newWebhookSecret, startWebhookReceiver } from '../helpers/webhook-receiver.js';

async function send(sys: TestSystem, from: string, to: string, tempId: string) {
  const base = sys.url.replace('ws://', 'http://').replace('/ws', '');
  const res = await fetch(`${base}/v1/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await sys.token(from)}`, 'content-type': 'application/json' },
    body: JSON.stringify({ toUserId: to, tempId, content: tempId }),
  });
  return ((await res.json()) as { id: string }).id;
}

t.test('webhooks: signed per Standard Webhooks; a receiver down for a while gets the backlog afterwards, in order, nothing lost', async (t) => {
  const secret = newWebhookSecret();
  const receiver = await startWebhookReceiver({ secret });
  t.teardown(() => receiver.close());
  const sys = await startSystem(t, {
    push: { ...defaultConfig().push, coalesceMs: 0, webhook: { url: receiver.url, secret, events: ['MessageSent'], outboxMax: 10_000 } },
  });

  // Bob has no browser subscription: each message to him is a webhook for the app's backend to push to his phone.
  const first = await send(sys, 'alice', 'bob', 'w0');
  const [hook] = await receiver.waitFor(2, 10_000);
  t.ok(hook!.verified, `signature verified (${hook!.reason ?? 'ok'})`);
  t.match(hook!.id, /\S/);
  const types = receiver.received.map((r) => (r.body as { type: string }).type).sort();
  t.same(types, ['event.MessageSent', 'push.decision']);
  const decision = receiver.received.find((r) => (r.body as { type: string }).type === 'push.decision')!.body as { data: Record<string, unknown> };
  t.match(decision.data, { userId: 'bob', decision: 'skipped_no_subscription', messageId: first, payload: { type: 'message.new', messageId: first, sender: { id: 'alice' } } });

  // Down: the next messages wait in the outbox, tried again, and arrive afterwards in the order they were sent.
  receiver.down = true;
  const later: string[] = [];
  for (let i = 1; i <= 10; i++) later.push(await send(sys, 'alice', 'bob', `w${i}`));
  await new Promise((r) => setTimeout(r, 1_500));
  receiver.down = false;
  const accepted = () => receiver.received.filter((r) => r.status === 204);
  await pollUntil(async () => accepted().length, (n) => n >= 22, 30_000);
  const events = accepted()
    .map((r) => r.body as { type: string; data: { seq: number; data: { data: { messageId: string } } } })
    .filter((b) => b.type === 'event.MessageSent')
    .map((b) => b.data.data.data.messageId);
  t.same(events, [first, ...later], 'every message event, once, in order');
  const decisions = accepted().filter((r) => (r.body as { type: string }).type === 'push.decision');
  t.equal(decisions.length, 11, 'one decision per message');
  t.ok(receiver.received.some((r) => r.status === 503), 'some were refused while down');
  t.ok(accepted().every((r) => r.verified), 'every accepted webhook verified');
  const ids = accepted().map((r) => r.id);
  t.equal(new Set(ids).size, ids.length, 'webhook ids are unique (a retry keeps its id)');
});
