import t, { type Test } from 'tap';
import webpush from 'web-push';
import { defaultConfig, type Config } from '../../lib/config.js';
import { directConversationId } from '../../lib/ids.js';
import { startPushService, type PushService, type ReceivedPush } from '../helpers/push-service.js';
import { pollUntil } from '../helpers/poll.js';
import { restCall } from '../helpers/rest.js';
import { startSystem, type TestSystem } from '../helpers/system.js';

const vapid = webpush.generateVAPIDKeys();

/** Push on, to http endpoints on loopback, with short windows so the test runs in seconds. */
function pushConfig(more: Partial<Config['push']> = {}): Partial<Config> {
  const base = defaultConfig();
  return {
    push: { ...base.push, vapid: { ...vapid, subject: 'mailto:ops@example.com' }, allowInsecure: true, coalesceMs: 1_500, timeoutMs: 1_000, maxAttempts: 3, ttlSec: 120, ...more },
    // A user who leaves is offline at once (the presence service's grace is for flapping phones).
    presence: { ...base.presence, graceMs: 0 },
  };
}


async function subscribe(t: Test, sys: TestSystem, service: PushService, user: string) {
  const sub = service.subscribe();
  const res = await restCall(sys, user, 'POST', '/v1/push/subscriptions', sub);
  t.equal(res.status, 201, `${user} subscribed`);
  return { ...sub, id: res.body.id as string };
}

async function sendDirect(sys: TestSystem, from: string, to: string, content: string) {
  const res = await restCall(sys, from, 'POST', '/v1/messages', { toUserId: to, tempId: `t-${Math.random()}`, content }, { name: from.toUpperCase() });
  if (res.status !== 201) throw new Error(`send failed: ${JSON.stringify(res.body)}`);
  return res.body as { id: string; conversationId: string; seq: number };
}

const pushLog = async (sys: TestSystem, user: string) => (await restCall(sys, user, 'GET', '/v1/push/log')).body.records as { decision: string; messageId: string; attempt?: number; status?: number; coalesced?: number; reason?: string }[];
const pushesTo = (service: PushService, endpoint: string) => service.received.filter((p) => p.endpoint === endpoint && p.status !== 'hang');

t.test('push: an offline user is pushed once, encrypted and signed; an online one is not; a burst is one push', async (t) => {
  const service = await startPushService();
  t.teardown(() => service.close());
  const sys = await startSystem(t, pushConfig());
  const bob = await subscribe(t, sys, service, 'bob');
  const sent = await sendDirect(sys, 'alice', 'bob', 'Hello Bob, this is a long enough message to be cut for the preview '.repeat(3));

  const [first] = await service.waitFor(1, 10_000);
  const push = first as ReceivedPush;
  t.equal(push.endpoint, bob.endpoint);
  t.equal(push.status, 201);
  t.ok(push.vapid.ok, `VAPID verified (${push.vapid.reason ?? 'ok'})`);
  t.equal(push.vapid.sub, 'mailto:ops@example.com');
  t.equal(push.ttl, 120);
  t.match(push.topic, /^[A-Za-z0-9_-]{32}$/, 'a topic per conversation');
  t.same(push.payload, {
    type: 'message.new',
    conversationId: directConversationId('alice', 'bob'),
    messageId: sent.id,
    seq: 1,
    sender: { id: 'alice', name: 'ALICE' },
    preview: `${'Hello Bob, this is a long enough message to be cut for the preview '.repeat(3).slice(0, 100)}…`,
    unread: 1,
  });
  const log = await pollUntil(() => pushLog(sys, 'bob'), (r) => r.length >= 1);
  t.match(log[0], { decision: 'pushed', messageId: sent.id, attempt: 1, status: 201 });

  // A burst within the coalescing window: nothing more now, one push (saying how many were folded) after it.
  for (let i = 0; i < 5; i++) await sendDirect(sys, 'alice', 'bob', `burst ${i}`);
  await new Promise((r) => setTimeout(r, 1_600));
  const after = await sendDirect(sys, 'alice', 'bob', 'after the window');
  await service.waitFor(2, 10_000);
  await new Promise((r) => setTimeout(r, 500));
  const bobs = pushesTo(service, bob.endpoint);
  t.equal(bobs.length, 2, 'seven messages, two pushes');
  t.match(bobs[1]!.payload, { messageId: after.id, seq: 7, unread: 7 });
  const pushed = (await pushLog(sys, 'bob')).filter((r) => r.decision === 'pushed');
  t.match(pushed[0], { messageId: after.id, coalesced: 5 });

  // Carol is connected: no push, and the skip is on record.
  await subscribe(t, sys, service, 'carol');
  const carol = await sys.connect('carol');
  await pollUntil(() => restCall(sys, 'alice', 'GET', '/v1/presence?users=carol'), (r) => r.body?.users?.[0]?.isOnline === true);
  const toCarol = await sendDirect(sys, 'alice', 'carol', 'you are here');
  await carol.next('message.new');
  const carolLog = await pollUntil(() => pushLog(sys, 'carol'), (r) => r.length >= 1);
  t.match(carolLog[0], { decision: 'skipped_online', messageId: toCarol.id });
  t.equal(service.received.length, 2, 'carol got no push');
});

t.test('push: 410 removes the subscription; 5xx is retried with back-off and then recorded as failed', async (t) => {
  const service = await startPushService();
  t.teardown(() => service.close());
  const sys = await startSystem(t, pushConfig());
  const bob = await subscribe(t, sys, service, 'bob');
  service.script(bob.endpoint, [{ status: 410 }]);
  await sendDirect(sys, 'alice', 'bob', 'are you there?');
  const log = await pollUntil(() => pushLog(sys, 'bob'), (r) => r.some((x) => x.decision === 'subscription_removed'));
  t.match(log.find((x) => x.decision === 'subscription_removed'), { status: 410, attempt: 1 });
  t.same((await restCall(sys, 'bob', 'GET', '/v1/push/subscriptions')).body, { subscriptions: [] }, 'gone from the list');

  const dave = await subscribe(t, sys, service, 'dave');
  service.script(dave.endpoint, [{ status: 503 }, { status: 500 }, { status: 502 }]);
  await sendDirect(sys, 'alice', 'dave', 'hello');
  const daveLog = await pollUntil(() => pushLog(sys, 'dave'), (r) => r.some((x) => x.decision === 'failed'), 15_000);
  t.same(daveLog.map((r) => [r.decision, r.attempt, r.status]), [['failed', 3, 502], ['retried', 2, 500], ['retried', 1, 503]], 'newest first');
  t.equal(pushesTo(service, dave.endpoint).length, 3);
});

t.test('push: a muted conversation and a blocked sender are not pushed, and say so on record', async (t) => {
  const service = await startPushService();
  t.teardown(() => service.close());
  const sys = await startSystem(t, pushConfig());
  await subscribe(t, sys, service, 'erin');
  await sendDirect(sys, 'alice', 'erin', 'first');
  await service.waitFor(1, 10_000);
  const conversationId = directConversationId('alice', 'erin');
  // The read models learn of the conversation a moment after the push: a client mutes from what it lists.
  await pollUntil(() => restCall(sys, 'erin', 'GET', `/v1/conversations/${conversationId}/messages`), (r) => r.status === 200);
  t.same(await restCall(sys, 'erin', 'POST', `/v1/conversations/${conversationId}/mute`, {}), { status: 200, body: { conversationId, mutedUntil: null } });
  await new Promise((r) => setTimeout(r, 1_600)); // past the coalescing window: only the mute stops it now
  const muted = await sendDirect(sys, 'alice', 'erin', 'muted');
  const log = await pollUntil(() => pushLog(sys, 'erin'), (r) => r.some((x) => x.decision === 'skipped_muted'));
  t.match(log[0], { decision: 'skipped_muted', messageId: muted.id });
  t.equal(service.received.length, 1);

  // Frank blocks alice, then leaves; in a group her messages still reach him, but never as a push.
  await subscribe(t, sys, service, 'frank');
  const frank = await sys.connect('frank');
  frank.send({ type: 'block.add', ref: 'b1', payload: { userId: 'alice' } });
  await frank.next('block.added');
  await frank.close();
  await pollUntil(() => restCall(sys, 'zed', 'GET', '/v1/presence?users=frank'), (r) => r.body?.users?.[0]?.isOnline === false);
  const group = await restCall(sys, 'alice', 'POST', '/v1/conversations', { kind: 'group', title: 'g', members: ['frank'] });
  const inGroup = await restCall(sys, 'alice', 'POST', '/v1/messages', { conversationId: group.body.conversation.id, tempId: 'g1', content: 'hi all' });
  t.equal(inGroup.status, 201);
  const frankLog = await pollUntil(() => pushLog(sys, 'frank'), (r) => r.some((x) => x.decision === 'skipped_blocked'));
  t.match(frankLog.find((x) => x.decision === 'skipped_blocked'), { messageId: inGroup.body.id });
  t.equal(service.received.length, 1, `nothing went to frank: ${JSON.stringify(frankLog)} ${JSON.stringify(service.received.slice(1).map((p) => p.payload))}`);
});

t.test('push: turned on for an installation with history, it pushes only what is sent from then on', async (t) => {
  const service = await startPushService();
  t.teardown(() => service.close());
  const sys = await startSystem(t, { push: { ...defaultConfig().push, enabled: false, allowInsecure: true } });
  await subscribe(t, sys, service, 'bob');
  for (let i = 0; i < 3; i++) await sendDirect(sys, 'alice', 'bob', `before ${i}`);
  const { push } = pushConfig();
  await sys.start('push', { push: push! });
  const after = await sendDirect(sys, 'alice', 'bob', 'after');
  await service.waitFor(1, 10_000);
  await new Promise((r) => setTimeout(r, 500));
  t.same(service.received.map((p) => (p.payload as { messageId: string }).messageId), [after.id], 'only the message sent after push was turned on');
});

t.test('push: a device that asked for no previews gets none; a user whose endpoint hangs does not hold up anyone else', async (t) => {
  const service = await startPushService();
  t.teardown(() => service.close());
  const sys = await startSystem(t, pushConfig({ coalesceMs: 0, timeoutMs: 3_000, maxAttempts: 1 }));
  const quiet = service.subscribe();
  t.equal((await restCall(sys, 'quinn', 'POST', '/v1/push/subscriptions', { ...quiet, preview: false })).status, 201);
  t.same((await restCall(sys, 'quinn', 'GET', '/v1/push/subscriptions')).body.subscriptions.map((s: { preview: boolean }) => s.preview), [false]);
  await sendDirect(sys, 'alice', 'quinn', 'the secret plan');
  const [push] = await service.waitFor(1, 10_000);
  t.notOk('preview' in (push!.payload as object), 'no preview in the push');
  t.match(push!.payload, { type: 'message.new', sender: { id: 'alice' } });

  // Mallory's endpoint never answers; twenty pushes to it are waiting when one goes to bob.
  const tarpit = await subscribe(t, sys, service, 'mallory');
  service.script(tarpit.endpoint, () => ({ hang: true }));
  const bob = await subscribe(t, sys, service, 'bob');
  for (let i = 0; i < 20; i++) await sendDirect(sys, 'alice', 'mallory', `m${i}`);
  await pollUntil(async () => service.received.filter((p) => p.endpoint === tarpit.endpoint).length, (n) => n >= 8, 10_000);
  const started = Date.now();
  await sendDirect(sys, 'alice', 'bob', 'hello bob');
  await pollUntil(async () => pushesTo(service, bob.endpoint).length, (n) => n >= 1, 10_000);
  t.equal(pushesTo(service, bob.endpoint).length, 1, 'bob was pushed');
  t.ok(Date.now() - started < 2_500, `bob's push did not wait for mallory's (${Date.now() - started} ms, her pushes time out after 3 s)`);
  t.ok(service.received.filter((p) => p.endpoint === tarpit.endpoint).length <= 8, 'at most 8 of her pushes were in flight at once');
});
