/**
 * Running a group over REST: PATCH /v1/conversations/:id, POST …/members, DELETE and PATCH
 * …/members/:userId, POST …/join answer once decided, with the frames' rules and error codes, and
 * what they change reaches the members' sockets.
 */
import t from 'tap';
import { directConversationId } from '../../lib/ids.js';
import { pollUntil } from '../helpers/poll.js';
import { startSystem, type TestSystem } from '../helpers/system.js';

/** A REST call as `who` (their token), with a JSON body when given: the status and the JSON answer. */
function restCaller(sys: TestSystem) {
  const base = sys.url.replace('ws://', 'http://').replace('/ws', '');
  return async (who: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${await sys.token(who)}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
}

t.test('REST group administration: the same rules and codes as the frames, {changed, …} answers, frames to the members', async (t) => {
  const sys = await startSystem(t);
  const call = restCaller(sys);
  /** The status and error code of a refused call. */
  const refusal = async (who: string, method: string, path: string, body?: unknown) => {
    const r = await call(who, method, path, body);
    return [r.status, r.body.error?.code];
  };
  /** The answer without the time. */
  const changed = (r: { body: Record<string, any> }) => {
    const [key, value] = Object.entries(r.body).find(([k]) => k !== 'changed') ?? [];
    if (!key) return r.body;
    const { at: _at, ...rest } = value as Record<string, unknown>;
    return { changed: r.body.changed, [key]: rest };
  };

  const ben = await sys.connect('ben');
  const created = await call('ann', 'POST', '/v1/conversations', { kind: 'group', title: 'Team', members: ['ben'] });
  t.equal(created.status, 201);
  const id = created.body.conversation.id as string;
  const group = `/v1/conversations/${id}`;
  await ben.next('conversation.created');

  // PATCH the conversation: trimmed title, only what changed; nothing changed → changed false.
  const renamed = await call('ann', 'PATCH', group, { title: '  Renamed  ' });
  t.equal(renamed.status, 200);
  t.strictSame(changed(renamed), { changed: true, update: { conversationId: id, title: 'Renamed', updatedBy: 'ann' } });
  t.ok(Date.parse(renamed.body.update.at), 'with the time of the change');
  t.strictSame((await call('ann', 'PATCH', group, { title: 'Renamed', joinPolicy: 'invite' })).body, { changed: false }, 'the values it has: no change');
  const avatar = 'https://img.test/team.png';
  t.strictSame(changed(await call('ann', 'PATCH', group, { avatar })), { changed: true, update: { conversationId: id, avatar, updatedBy: 'ann' } });
  t.strictSame(changed(await call('ann', 'PATCH', group, { avatar: null })), { changed: true, update: { conversationId: id, avatar: null, updatedBy: 'ann' } }, 'null removes it');
  t.strictSame(await refusal('ann', 'PATCH', group, {}), [400, 'validation_error'], 'an empty body');
  t.strictSame(await refusal('ann', 'PATCH', group, { avatar: 'javascript:alert(1)' }), [400, 'validation_error'], 'a script avatar');
  t.strictSame(await refusal('ann', 'PATCH', group, { title: '   ' }), [400, 'validation_error'], 'a blank title');
  t.strictSame(await refusal('ann', 'PATCH', group, { joinPolicy: 'public' }), [400, 'validation_error']);
  t.strictSame(await refusal('ann', 'PATCH', group, { title: 'x', extra: 1 }), [400, 'validation_error'], 'an unknown field');
  t.strictSame(await refusal('ben', 'PATCH', group, { title: 'mine' }), [403, 'forbidden'], 'a member');
  t.strictSame(await refusal('mallory', 'PATCH', group, { title: 'mine' }), [404, 'conversation_not_found'], 'a stranger');
  t.strictSame(await refusal('ann', 'PATCH', '/v1/conversations/g_nothing', { title: 'x' }), [404, 'conversation_not_found'], 'no such group');

  // POST members: the owner adds; users already in are left out; nobody new → changed false.
  const added = await call('ann', 'POST', `${group}/members`, { userIds: ['cat', 'dan', 'ben'] });
  t.equal(added.status, 200);
  t.strictSame(changed(added), {
    changed: true,
    joined: { conversationId: id, members: [{ userId: 'cat', role: 'member' }, { userId: 'dan', role: 'member' }], addedBy: 'ann' },
  });
  t.strictSame((await call('ann', 'POST', `${group}/members`, { userIds: ['cat'] })).body, { changed: false });
  t.strictSame(await refusal('ann', 'POST', `${group}/members`, { userIds: [] }), [400, 'validation_error']);
  t.strictSame(await refusal('ann', 'POST', `${group}/members`, {}), [400, 'validation_error']);
  t.strictSame(await refusal('ben', 'POST', `${group}/members`, { userIds: ['eve'] }), [403, 'forbidden']);
  t.strictSame(await refusal('mallory', 'POST', `${group}/members`, { userIds: ['mallory'] }), [404, 'conversation_not_found']);

  // PATCH a member's role: the owner only.
  const promoted = await call('ann', 'PATCH', `${group}/members/ben`, { role: 'admin' });
  t.strictSame(changed(promoted), { changed: true, update: { conversationId: id, roles: [{ userId: 'ben', role: 'admin' }], updatedBy: 'ann' } });
  t.strictSame((await call('ann', 'PATCH', `${group}/members/ben`, { role: 'admin' })).body, { changed: false });
  t.strictSame(await refusal('ann', 'PATCH', `${group}/members/ben`, { role: 'boss' }), [400, 'validation_error'], 'no such role');
  t.strictSame(await refusal('ann', 'PATCH', `${group}/members/ben`, {}), [400, 'validation_error']);
  t.strictSame(await refusal('ann', 'PATCH', `${group}/members/ann`, { role: 'member' }), [403, 'forbidden'], "the owner's role");
  t.strictSame(await refusal('ann', 'PATCH', `${group}/members/mallory`, { role: 'admin' }), [403, 'not_a_member']);
  t.strictSame(await refusal('ben', 'PATCH', `${group}/members/cat`, { role: 'admin' }), [403, 'forbidden'], 'an admin gives no roles');
  t.strictSame(await refusal('mallory', 'PATCH', `${group}/members/cat`, { role: 'admin' }), [404, 'conversation_not_found']);

  // DELETE a member: another user is removed, yourself is leaving.
  const removed = await call('ben', 'DELETE', `${group}/members/dan`);
  t.equal(removed.status, 200);
  t.strictSame(changed(removed), { changed: true, left: { conversationId: id, userId: 'dan', removedBy: 'ben' } }, 'an admin removes a member');
  t.strictSame(await refusal('ben', 'DELETE', `${group}/members/ann`), [403, 'forbidden'], 'never the owner');
  t.strictSame(await refusal('cat', 'DELETE', `${group}/members/ben`), [403, 'forbidden'], 'a member removes nobody');
  t.strictSame(await refusal('ben', 'DELETE', `${group}/members/dan`), [403, 'not_a_member'], 'no longer a member');
  t.strictSame(await refusal('dan', 'DELETE', `${group}/members/cat`), [404, 'conversation_not_found'], 'the removed are strangers');
  const left = await call('cat', 'DELETE', `${group}/members/cat`);
  t.strictSame(changed(left), { changed: true, left: { conversationId: id, userId: 'cat' } }, 'your own id: a leave, without removedBy');

  // POST join: refused while invite-only (as not found), accepted once open.
  t.strictSame(await refusal('mallory', 'POST', `${group}/join`), [404, 'conversation_not_found']);
  t.strictSame(changed(await call('ben', 'PATCH', group, { joinPolicy: 'open' })), { changed: true, update: { conversationId: id, joinPolicy: 'open', updatedBy: 'ben' } });
  const joined = await call('mallory', 'POST', `${group}/join`);
  t.equal(joined.status, 200);
  t.strictSame(changed(joined), { changed: true, joined: { conversationId: id, members: [{ userId: 'mallory', role: 'member' }] } }, 'a join has no addedBy');
  t.strictSame(await refusal('mallory', 'POST', `${group}/join`), [409, 'already_a_member']);

  // A direct conversation has no administration.
  ben.send({ type: 'message.send', payload: { toUserId: 'ann', tempId: 'dm', content: 'hi' } });
  await ben.next('message.sent');
  const direct = `/v1/conversations/${directConversationId('ann', 'ben')}`;
  t.strictSame(await refusal('ann', 'PATCH', direct, { title: 'us' }), [403, 'forbidden']);
  t.strictSame(await refusal('ann', 'POST', `${direct}/members`, { userIds: ['cat'] }), [403, 'forbidden']);
  t.strictSame(await refusal('ann', 'DELETE', `${direct}/members/ben`), [403, 'forbidden']);

  // ben's socket got each change once, in order (the no-ops sent nothing).
  await ben.next('conversation.member_joined', (f) => f.payload.members[0].userId === 'mallory');
  const frames = ben.frames
    .filter((f) => typeof f.seq === 'number' && f.type.startsWith('conversation.') && f.type !== 'conversation.created')
    .map((f) => {
      const { at: _at, conversationId: _id, ...rest } = f.payload;
      return [f.type, rest];
    });
  t.strictSame(frames, [
    ['conversation.updated', { title: 'Renamed', updatedBy: 'ann' }],
    ['conversation.updated', { avatar: 'https://img.test/team.png', updatedBy: 'ann' }],
    ['conversation.updated', { avatar: null, updatedBy: 'ann' }],
    ['conversation.member_joined', { members: [{ userId: 'cat', role: 'member' }, { userId: 'dan', role: 'member' }], addedBy: 'ann' }],
    ['conversation.updated', { roles: [{ userId: 'ben', role: 'admin' }], updatedBy: 'ann' }],
    ['conversation.member_left', { userId: 'dan', removedBy: 'ben' }],
    ['conversation.member_left', { userId: 'cat' }],
    ['conversation.updated', { joinPolicy: 'open', updatedBy: 'ben' }],
    ['conversation.member_joined', { members: [{ userId: 'mallory', role: 'member' }] }],
  ]);

  // GET /v1/conversations: the settings and the roles.
  const list = await pollUntil(
    () => call('ann', 'GET', '/v1/conversations'),
    (r) => r.body.conversations?.some((c: { id: string; members: { userId: string }[] }) => c.id === id && c.members.some((m) => m.userId === 'mallory')),
  );
  const conversation = list.body.conversations.find((c: { id: string }) => c.id === id);
  t.match(conversation, { title: 'Renamed', joinPolicy: 'open', role: 'owner' });
  t.equal(conversation.avatar, undefined, 'the avatar was removed');
  t.strictSame(conversation.members.map((m: { userId: string; role: string }) => `${m.userId}:${m.role}`).sort(), ['ann:owner', 'ben:admin', 'mallory:member']);
});

t.test('handing a group over: the owner cannot leave while others are in; after PATCH {role: owner} they are an admin and can', async (t) => {
  const sys = await startSystem(t);
  const call = restCaller(sys);
  const ben = await sys.connect('ben');
  const created = await call('ann', 'POST', '/v1/conversations', { kind: 'group', title: 'Team', members: ['ben', 'cat'] });
  const id = created.body.conversation.id as string;
  const group = `/v1/conversations/${id}`;
  await ben.next('conversation.created');

  const stay = await call('ann', 'DELETE', `${group}/members/ann`);
  t.strictSame([stay.status, stay.body.error?.code], [403, 'forbidden'], 'the owner cannot leave a group with others in it');

  const handed = await call('ann', 'PATCH', `${group}/members/ben`, { role: 'owner' });
  t.equal(handed.status, 200);
  t.strictSame(handed.body.update.roles, [
    { userId: 'ben', role: 'owner' },
    { userId: 'ann', role: 'admin' },
  ]);
  const told = await ben.next('conversation.updated');
  t.strictSame(told.payload.roles, handed.body.update.roles, 'the members are told both roles');

  t.strictSame([(await call('ann', 'PATCH', `${group}/members/cat`, { role: 'admin' })).status], [403], 'the previous owner gives no roles any more');
  const left = await call('ann', 'DELETE', `${group}/members/ann`);
  t.strictSame([left.status, left.body.changed], [200, true], 'and, an admin now, can leave');
  t.strictSame([(await call('ben', 'PATCH', `${group}/members/cat`, { role: 'admin' })).status], [200], 'the new owner runs the group');
});
