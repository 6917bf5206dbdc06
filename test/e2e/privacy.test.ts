/**
 * Privacy over the real system (NATS, engine, projectors, Postgres, gateway): a stranger cannot
 * tell a conversation that exists from one that does not, groups are invite-only unless opened,
 * and a joiner's history starts at their join.
 */
import t from 'tap';
import { directConversationId } from '../../lib/ids.js';
import type { TestClient } from '../helpers/client.js';
import { pollUntil } from '../helpers/poll.js';
import { startSystem, type TestSystem } from '../helpers/system.js';


type Json = { status: number; body: any };

function rest(sys: TestSystem) {
  const base = sys.url.replace('ws://', 'http://').replace('/ws', '');
  const call = async (who: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<Json> => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${await sys.token(who)}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: await res.json() };
  };
  return {
    get: (who: string, path: string) => call(who, 'GET', path),
    post: (who: string, path: string, body: unknown = {}) => call(who, 'POST', path, body),
  };
}

/** The seqs of a history page. */
const seqs = (page: Json): number[] => (page.body.messages ?? []).map((m: { seq: number }) => m.seq);

t.test('a stranger gets the same answers for an existing group, a direct conversation of others and a random id', async (t) => {
  const sys = await startSystem(t);
  const api = rest(sys);
  const [ann, ben, mallory] = await Promise.all(['ann', 'ben', 'mallory'].map((u) => sys.connect(u)));

  ann!.send({ type: 'conversation.create', payload: { kind: 'group', title: 'Secret', members: ['ben'] } });
  const group = (await ann!.next('conversation.created')).payload.conversation.id as string;
  ann!.send({ type: 'message.send', payload: { conversationId: group, tempId: 'g1', content: 'in the group' } });
  ann!.send({ type: 'message.send', payload: { toUserId: 'ben', tempId: 'd1', content: 'just us' } });
  await ben!.collect('message.new', 2);
  const direct = directConversationId('ann', 'ben');
  t.equal((await ben!.next('message.new', (f) => f.payload.message.content === 'just us')).payload.message.conversationId, direct);
  // Both are in the read models before anyone probes them (ann sees her history over REST).
  for (const id of [group, direct]) await pollUntil(() => api.get('ann', `/v1/conversations/${id}/messages`), (r) => seqs(r).length === 1);

  const random = 'g_nothing_here';
  const neverTalked = directConversationId('cat', 'dan');
  /** Everything mallory can ask about `id`, with the id taken out of the answers. */
  const probe = async (client: TestClient, id: string) => {
    const answers: Record<string, unknown> = {};
    const ws = async (name: string, frame: { type: string; payload: object }) => {
      const ref = `${name}-${id}`;
      client.send({ ...frame, ref });
      const error = (await client.next('error', (f) => f.ref === ref)).error!;
      answers[`ws ${name}`] = { code: error.code, message: error.message.replaceAll(id, '<id>') };
    };
    await ws('join', { type: 'conversation.join', payload: { conversationId: id } });
    await ws('leave', { type: 'conversation.leave', payload: { conversationId: id } });
    await ws('send', { type: 'message.send', payload: { conversationId: id, tempId: `probe-${id}`, content: 'hello?' } });
    await ws('read', { type: 'message.read', payload: { conversationId: id } });
    await ws('read up to', { type: 'message.read', payload: { conversationId: id, upToSeq: 1 } });
    await ws('delivered', { type: 'message.delivered', payload: { conversationId: id, upToSeq: 1 } });
    const http = (name: string, r: Json) => {
      answers[`rest ${name}`] = { status: r.status, code: r.body.error?.code, message: r.body.error?.message?.replaceAll(id, '<id>') };
    };
    http('history', await api.get('mallory', `/v1/conversations/${id}/messages`));
    http('history page', await api.get('mallory', `/v1/conversations/${id}/messages?limit=1&before=2`));
    http('read', await api.post('mallory', `/v1/conversations/${id}/read`));
    http('send', await api.post('mallory', '/v1/messages', { conversationId: id, tempId: `rest-${id}`, content: 'hello?' }));
    return answers;
  };

  const expected = await probe(mallory!, random);
  t.match(expected, {
    'ws join': { code: 'conversation_not_found', message: 'conversation <id> not found' },
    'rest history': { status: 404, code: 'conversation_not_found', message: 'conversation <id> not found' },
    'rest send': { status: 404, code: 'conversation_not_found' },
  });
  t.strictSame(await probe(mallory!, group), expected, 'an invite-only group of others: as if it did not exist');
  t.strictSame(await probe(mallory!, direct), expected, 'a direct conversation of two others: as if they never talked');
  t.strictSame(await probe(mallory!, neverTalked), expected, 'two users who never talked: the same');

  // Nothing of theirs reached mallory, and the conversations are as they were.
  t.equal(mallory!.of('message.new').length + mallory!.of('conversation.member_joined').length, 0);
  const annView = await api.get('ann', '/v1/conversations');
  t.same(annView.body.conversations.map((c: { members: { userId: string }[] }) => c.members.map((m) => m.userId).sort()), [['ann', 'ben'], ['ann', 'ben']]);
});

t.test('groups are invite-only unless created open: join refused as not found, or accepted', async (t) => {
  const sys = await startSystem(t);
  const api = rest(sys);
  const [ann, dan] = await Promise.all(['ann', 'dan'].map((u) => sys.connect(u)));

  ann!.send({ type: 'conversation.create', ref: 'closed', payload: { kind: 'group', title: 'Closed', members: [] } });
  const closed = (await ann!.next('conversation.created', (f) => f.ref === 'closed')).payload.conversation;
  t.equal(closed.joinPolicy, 'invite', 'invite is the default');
  ann!.send({ type: 'conversation.create', ref: 'open', payload: { kind: 'group', title: 'Open', members: [], joinPolicy: 'open' } });
  const open = (await ann!.next('conversation.created', (f) => f.ref === 'open')).payload.conversation;
  t.equal(open.joinPolicy, 'open');

  dan!.send({ type: 'conversation.join', ref: 'j-closed', payload: { conversationId: closed.id } });
  const refused = (await dan!.next('error', (f) => f.ref === 'j-closed')).error!;
  t.strictSame({ code: refused.code, message: refused.message }, { code: 'conversation_not_found', message: `conversation ${closed.id} not found` });

  dan!.send({ type: 'conversation.join', ref: 'j-open', payload: { conversationId: open.id } });
  const joined = await ann!.next('conversation.member_joined', (f) => f.payload.conversationId === open.id);
  t.same(joined.payload.members, [{ userId: 'dan', role: 'member' }]);
  await dan!.next('conversation.member_joined');
  t.equal(dan!.of('error').length, 1, 'only the invite-only group refused him');

  // REST: create with a policy, and the list shows it for groups only.
  const created = await api.post('ann', '/v1/conversations', { kind: 'group', title: 'Open too', members: [], joinPolicy: 'open' });
  t.equal(created.status, 201);
  t.equal(created.body.conversation.joinPolicy, 'open');
  t.equal((await api.post('ann', '/v1/conversations', { kind: 'group', title: 'x', members: [], joinPolicy: 'public' })).status, 400, 'only open or invite');
  ann!.send({ type: 'message.send', payload: { toUserId: 'dan', tempId: 'dm', content: 'hi' } });
  const list = await pollUntil(() => api.get('ann', '/v1/conversations'), (r) => r.body.conversations?.length === 4);
  const policies = Object.fromEntries(list.body.conversations.map((c: { title?: string; kind: string; joinPolicy?: string }) => [c.title ?? c.kind, c.joinPolicy ?? null]));
  t.strictSame(policies, { Closed: 'invite', Open: 'open', 'Open too': 'open', direct: null });
  const danList = await pollUntil(() => api.get('dan', '/v1/conversations'), (r) => r.body.conversations?.length === 2);
  t.same(danList.body.conversations.map((c: { title?: string }) => c.title ?? 'direct').sort(), ['Open', 'direct'], 'dan is in the open group only');
});

t.test("a joiner's REST history starts after their join, also after leaving and rejoining", async (t) => {
  const sys = await startSystem(t);
  const api = rest(sys);
  const [ann, dan] = await Promise.all(['ann', 'dan'].map((u) => sys.connect(u)));
  ann!.send({ type: 'conversation.create', payload: { kind: 'group', title: 'Club', members: [], joinPolicy: 'open' } });
  const id = (await ann!.next('conversation.created')).payload.conversation.id as string;
  const say = async (tempId: string) => {
    ann!.send({ type: 'message.send', payload: { conversationId: id, tempId, content: tempId } });
    await ann!.next('message.sent', (f) => f.payload.tempId === tempId);
  };
  const history = (who: string, query = '') => api.get(who, `/v1/conversations/${id}/messages${query}`);
  /** Wait for the read models to hold `seq`, as ann (a member from the start) sees them. */
  const projected = (seq: number) => pollUntil(() => history('ann', '?limit=1'), (r) => seqs(r)[0] === seq);

  for (const m of ['before-1', 'before-2', 'before-3']) await say(m);
  await projected(3);
  dan!.send({ type: 'conversation.join', payload: { conversationId: id } });
  await dan!.next('conversation.member_joined');
  await say('after-4');
  await say('after-5');
  await projected(5);

  const mine = await history('dan');
  t.equal(mine.status, 200);
  t.strictSame(seqs(mine), [4, 5], 'only what was said after the join');
  t.equal(mine.body.hasMore, false, 'nothing more to page back to');
  t.strictSame(seqs(await history('ann')), [1, 2, 3, 4, 5], 'a member from the start sees it all');

  // Paging stops at the join: hasMore is about what dan may see.
  const first = await history('dan', '?limit=1');
  t.strictSame([seqs(first), first.body.hasMore, first.body.nextBefore], [[5], true, 5]);
  const second = await history('dan', '?limit=1&before=5');
  t.strictSame([seqs(second), second.body.hasMore], [[4], false]);
  t.strictSame(seqs(await history('dan', '?before=4')), [], 'before the join: nothing');
  const exact = await history('dan', '?limit=2');
  t.strictSame([seqs(exact), exact.body.hasMore], [[4, 5], false], 'a page that ends exactly at the join has no more');

  // Leave, miss a message, rejoin: history from the rejoin.
  dan!.send({ type: 'conversation.leave', payload: { conversationId: id } });
  await dan!.next('conversation.member_left');
  await pollUntil(() => history('dan'), (r) => r.status === 404);
  t.equal((await history('dan')).body.error.code, 'conversation_not_found', 'after leaving: a stranger again');
  await say('away-6');
  await projected(6);
  dan!.send({ type: 'conversation.join', payload: { conversationId: id } });
  await dan!.collect('conversation.member_joined', 2);
  await say('back-7');
  await projected(7);
  const back = await pollUntil(() => history('dan'), (r) => r.status === 200 && seqs(r).includes(7));
  t.strictSame(seqs(back), [7], 'from the rejoin only');
});
