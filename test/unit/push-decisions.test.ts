import t from 'tap';
import fc from 'fast-check';
import { initialState } from '../../lib/conversation-state.js';
import { decidePushes, previewOf, type RecipientFacts } from '../../projections/push/push-decider.js';
import { backoffMs, nextStep } from '../../projections/push/push-retry.js';
import { retryAfterOf } from '../../projections/push/push-http.js';
import type { ConversationEvent, StoredPushSubscription } from '../../schemas/index.js';

const sub: StoredPushSubscription = { id: 'ps_1', endpoint: 'https://push.example/1', keys: { p256dh: 'k', auth: 'a' }, createdAt: '2026-12-07T00:00:00.000Z' };

function sent(content: string | undefined, at = '2026-12-07T10:00:00.000Z'): Extract<ConversationEvent, { type: 'MessageSent' }> {
  return {
    type: 'MessageSent',
    v: 1,
    conversationId: 'g_1',
    commandId: 'c1',
    actor: { id: 'alice' },
    at,
    data: { messageId: 'm1', seq: 3, sender: { id: 'alice', name: 'Alice' }, type: 'text', tempId: 't1', ...(content !== undefined ? { content } : {}) },
  } as Extract<ConversationEvent, { type: 'MessageSent' }>;
}

function group(...members: string[]) {
  const state = initialState('g_1');
  for (const m of members) {
    state.members.set(m, { role: 'member' } as never);
    state.unread.set(m, 2);
  }
  return state;
}

const offline: RecipientFacts = { online: false, blocksSender: false, muted: false, subscriptions: [sub] };

t.test('each member but the sender gets one decision, for the first reason that applies', async (t) => {
  const facts: Record<string, RecipientFacts> = {
    bob: offline,
    carol: { ...offline, online: true, muted: true },
    dave: { ...offline, muted: true, blocksSender: true },
    erin: { ...offline, blocksSender: true, subscriptions: [] },
    frank: { ...offline, subscriptions: [] },
    gina: { ...offline, subscriptions: [], lastPushedAt: Date.parse('2026-12-07T09:59:50.000Z') },
    hank: { ...offline, lastPushedAt: Date.parse('2026-12-07T09:59:00.000Z') },
  };
  const decisions = decidePushes(sent('hi'), group('alice', ...Object.keys(facts)), (u) => facts[u]!, { previewChars: 10, coalesceMs: 30_000 });
  t.same(
    decisions.map((d) => [d.userId, d.decision]),
    [['bob', 'push'], ['carol', 'skipped_online'], ['dave', 'skipped_muted'], ['erin', 'skipped_blocked'], ['frank', 'skipped_no_subscription'], ['gina', 'coalesced'], ['hank', 'push']],
  );
  t.same((decisions[0] as { payload: unknown }).payload, {
    type: 'message.new',
    conversationId: 'g_1',
    messageId: 'm1',
    seq: 3,
    sender: { id: 'alice', name: 'Alice' },
    preview: 'hi',
    unread: 2,
  });
});

t.test('previews: cut at a code point with an ellipsis, whitespace folded, none when off, a kind when there is no text', async (t) => {
  t.equal(previewOf('a\n\n b  c', 'text', 100), 'a b c');
  t.equal(previewOf('😀😀😀', 'text', 2), '😀😀…');
  t.equal(previewOf(undefined, 'image', 10), '[image]');
  const off = decidePushes(sent('secret'), group('alice', 'bob'), () => offline, { previewChars: 0, coalesceMs: 0 });
  t.notOk('preview' in (off[0] as { payload: object }).payload, 'previews off: no preview at all');
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 300 }), fc.integer({ min: 1, max: 120 }), (text, max) => {
      const p = previewOf(text, 'text', max);
      if (text.trim() === '') return void t.equal(p, '[text]');
      t.ok(Array.from(p).length <= max + 1, 'at most max code points and the ellipsis');
      t.ok(Buffer.from(p, 'utf8').toString('utf8') === p || /[\uD800-\uDFFF]/.test(text), 'no half surrogate made by the cut');
    }),
    { numRuns: 300 },
  );
});

t.test('the outcome of an attempt: pushed, gone, retried with back-off or Retry-After, or failed', async (t) => {
  t.match(nextStep({ status: 201 }, 1, 5), { kind: 'pushed', status: 201 });
  t.match(nextStep({ status: 410 }, 1, 5), { kind: 'gone' });
  t.match(nextStep({ status: 404 }, 2, 5), { kind: 'gone' });
  t.match(nextStep({ status: 503 }, 1, 5), { kind: 'retry', delayMs: 1_000 });
  t.match(nextStep({ status: 500 }, 3, 5), { kind: 'retry', delayMs: 4_000 });
  t.match(nextStep({ status: 500 }, 5, 5), { kind: 'failed', status: 500 });
  t.match(nextStep({ error: 'timeout' }, 1, 3), { kind: 'retry' });
  t.match(nextStep({ error: 'resolves to 10.0.0.1', code: 'EPUSHADDRESS' }, 1, 3), { kind: 'failed' });
  t.match(nextStep({ status: 429, retryAfterMs: 7_000 }, 1, 5), { kind: 'retry', delayMs: 7_000 });
  t.match(nextStep({ status: 429, retryAfterMs: 86_400_000 }, 1, 5), { kind: 'retry', delayMs: 600_000 }, 'a day is held to 10 minutes');
  t.match(nextStep({ status: 429, retryAfterMs: 0 }, 1, 5), { kind: 'retry', delayMs: 1_000 }, 'no spinning');
  t.match(nextStep({ status: 413 }, 1, 5), { kind: 'failed', status: 413 });
  for (const s of [400, 401, 403]) t.match(nextStep({ status: s }, 1, 5), { kind: 'failed', status: s });
  t.equal(backoffMs(30), 300_000, 'back-off tops out at 5 minutes');
  t.equal(retryAfterOf('12'), 12_000);
  t.equal(retryAfterOf('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('Wed, 21 Oct 2015 07:27:00 GMT')), 60_000);
  t.equal(retryAfterOf('soon'), undefined);
  fc.assert(
    fc.property(fc.integer({ min: 100, max: 599 }), fc.option(fc.nat()), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 10 }), (status, retryAfterMs, attempt, max) => {
      const step = nextStep({ status, ...(retryAfterMs !== null ? { retryAfterMs } : {}) }, attempt, max);
      if (step.kind === 'retry') t.ok(attempt < max && step.delayMs >= 1_000 && step.delayMs <= 600_000);
    }),
    { numRuns: 300 },
  );
});
