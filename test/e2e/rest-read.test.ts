import t from 'tap';
import { pollUntil } from '../helpers/poll.js';
import { startSystem } from '../helpers/system.js';


t.test('REST reads over the Postgres read models', async (t) => {
  const sys = await startSystem(t);
  const base = sys.url.replace('ws://', 'http://').replace('/ws', '');
  const tokens = { alice: await sys.token('alice', { name: 'Alice' }), bob: await sys.token('bob'), mallory: await sys.token('mallory') };
  const get = async (who: keyof typeof tokens, path: string) => {
    const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${tokens[who]}` } });
    return { status: res.status, body: await res.json() };
  };
  const alice = await sys.connect('alice', { name: 'Alice' });
  const total = 57;
  for (let i = 1; i <= total; i++) alice.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: `h${i}`, content: `history ${i}` } });
  const sent = await alice.collect('message.sent', total);
  const conversationId = sent[0]!.payload.message.conversationId;

  // Pages of 20, newest first by `before`; every message exactly once, in order.
  await pollUntil(() => get('bob', `/v1/conversations/${conversationId}/messages?limit=1`), (r) => r.body.messages?.[0]?.seq === total);
  const seen: number[] = [];
  let before: number | undefined;
  let pages = 0;
  for (;;) {
    const page = await get('bob', `/v1/conversations/${conversationId}/messages?limit=20${before ? `&before=${before}` : ''}`);
    t.equal(page.status, 200);
    pages++;
    const seqs = page.body.messages.map((m: { seq: number }) => m.seq);
    t.same(seqs, [...seqs].sort((a: number, b: number) => a - b), 'a page is in order');
    seen.unshift(...seqs);
    if (!page.body.hasMore) break;
    before = page.body.nextBefore;
  }
  t.equal(pages, 3);
  t.same(seen, Array.from({ length: total }, (_, i) => i + 1), 'every message once, in order');
  const first = (await get('alice', `/v1/conversations/${conversationId}/messages?limit=1&before=2`)).body.messages[0];
  t.match(first, { seq: 1, senderId: 'alice', sender: { id: 'alice', name: 'Alice' }, content: 'history 1', tempId: 'h1', type: 'text' });

  const list = await pollUntil(() => get('bob', '/v1/conversations'), (r) => r.body.conversations?.[0]?.unread === total);
  t.equal(list.status, 200);
  t.match(list.body.conversations[0], { id: conversationId, kind: 'direct', messageCount: total, unread: total, lastMessage: { seq: total, senderId: 'alice' } });
  t.same(list.body.conversations[0].members.map((m: { userId: string }) => m.userId).sort(), ['alice', 'bob']);
  t.same((await get('bob', '/v1/unread')).body, { conversations: [{ conversationId, unread: total }], totalUnread: total });

  const read = await fetch(`${base}/v1/conversations/${conversationId}/read`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tokens.bob}`, 'content-type': 'application/json' },
    body: JSON.stringify({ upToSeq: 50 }),
  });
  t.equal(read.status, 200);
  const unread = await pollUntil(() => get('bob', '/v1/unread'), (r) => r.body.totalUnread === 7);
  t.same(unread.body, { conversations: [{ conversationId, unread: 7 }], totalUnread: 7 });

  // Members only; to anyone else the conversation is not there (test/e2e/privacy.test.ts).
  const outsider = await get('mallory', `/v1/conversations/${conversationId}/messages`);
  t.equal(outsider.status, 404);
  t.equal(outsider.body.error.code, 'conversation_not_found');
  const missing = await get('bob', '/v1/conversations/g_nope/messages');
  t.equal(missing.status, 404);
  t.equal(missing.body.error.code, 'conversation_not_found');
  t.same((await get('mallory', '/v1/conversations')).body, { conversations: [] });
  const bad = await get('bob', `/v1/conversations/${conversationId}/messages?limit=abc`);
  t.equal(bad.status, 400);
  t.equal(bad.body.error.code, 'validation_error');
  const anonymous = await fetch(`${base}/v1/unread`);
  t.equal(anonymous.status, 401);
});
