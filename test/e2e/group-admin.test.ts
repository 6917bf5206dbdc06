/**
 * Running a group over the real system, in both codecs: conversation.update and set_role reach
 * every member as conversation.updated (only what changed), add_members and remove_member as
 * member_joined / member_left with who did it, each once, in order with the other durable frames,
 * and again on a resume; the owner / admin / member rules; what a removed member may no longer do.
 */
import t from 'tap';
import type { Frame, TestClient } from '../helpers/client.js';
import { pollUntil } from '../helpers/poll.js';
import { startSystem, type TestSystem } from '../helpers/system.js';

/** The durable frames of one conversation a socket got, without what differs between members (seq, ref, at). */
function timeline(client: TestClient, conversationId: string): unknown[] {
  const out: unknown[] = [];
  for (const f of client.frames) {
    if (typeof f.seq !== 'number') continue;
    const p = f.payload ?? {};
    if ((p.conversationId ?? p.message?.conversationId ?? p.conversation?.id) !== conversationId) continue;
    if (f.type === 'conversation.created') out.push(['created']);
    else if (f.type === 'message.new' || f.type === 'message.sent') out.push(['message', p.message.content]);
    else if (f.type === 'message.deleted') out.push(['deleted', p.deletedBy]);
    else if (f.type === 'conversation.updated' || f.type === 'conversation.member_joined' || f.type === 'conversation.member_left') {
      // The group as it is now, in a new member's member_joined, is checked where it is received.
      const { conversationId: _id, at: _at, conversation: _now, ...rest } = p;
      out.push([f.type.slice('conversation.'.length), rest]);
    }
  }
  return out;
}

/** Send a frame and return the error code it is refused with (the error carries the frame's ref). */
async function refused(client: TestClient, ref: string, type: string, payload: object): Promise<string> {
  client.send({ type, ref, payload });
  return (await client.next('error', (f) => f.ref === ref)).error!.code;
}

/** Send a frame and wait for the frame of `answer` that carries its ref (the inbox's, with a seq). */
async function accepted(client: TestClient, ref: string, type: string, payload: object, answer: string): Promise<Frame> {
  client.send({ type, ref, payload });
  const frame = await client.next(answer, (f) => f.ref === ref);
  return frame;
}

/** The payload without conversationId and at: what changed, and who changed it. */
const what = (f: Frame) => {
  const { conversationId: _id, at: _at, conversation: _now, ...rest } = f.payload;
  return rest;
};

/** The members of the group as a new member's member_joined shows it, in order, with their roles. */
const rosterOf = (f: Frame) => (f.payload.conversation?.members ?? []).map((m: { userId: string; role: string }) => `${m.userId}:${m.role}`);

function rest(sys: TestSystem) {
  const base = sys.url.replace('ws://', 'http://').replace('/ws', '');
  return async (who: string, path: string) => {
    const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${await sys.token(who)}` } });
    return { status: res.status, body: (await res.json()) as any };
  };
}

for (const codec of ['json', 'msgpack'] as const) {
  t.test(`group settings and roles, ${codec}: conversation.updated to every member once, in order, replayed on resume; who may do what`, async (t) => {
    const sys = await startSystem(t);
    const get = rest(sys);
    const [ann, ben, cat, dan, eve] = await Promise.all(['ann', 'ben', 'cat', 'dan', 'eve'].map((u) => sys.connect(u, { codec, deviceId: 'phone' })));
    const catLaptop = await sys.connect('cat', { codec, deviceId: 'laptop' });
    ann!.send({ type: 'conversation.create', payload: { kind: 'group', title: 'Team', members: ['ben', 'cat'] } });
    const id = (await ann!.next('conversation.created')).payload.conversation.id as string;
    await cat!.next('conversation.created');
    await catLaptop.next('conversation.created');
    const laptopCursor = catLaptop.cursor;
    await catLaptop.close();
    const say = async (who: TestClient, content: string) => {
      const tempId = content.replaceAll(' ', '-');
      const sent = await accepted(who, tempId, 'message.send', { conversationId: id, tempId, content }, 'message.sent');
      await (who === ann ? cat : ann)!.next('message.new', (f) => f.payload.message.id === sent.payload.message.id);
      return sent.payload.message.id as string;
    };

    // The owner renames (trimmed), makes ben an admin; the admin sets the avatar, then takes it away.
    const renamed = await accepted(ann!, 'u1', 'conversation.update', { conversationId: id, title: '  Team two  ' }, 'conversation.updated');
    t.strictSame(what(renamed), { title: 'Team two', updatedBy: 'ann' }, 'only the title, trimmed');
    t.type(renamed.seq, 'number', 'a durable frame, with an inbox seq');
    t.strictSame(what(await accepted(ann!, 'r1', 'conversation.set_role', { conversationId: id, userId: 'ben', role: 'admin' }, 'conversation.updated')), {
      roles: [{ userId: 'ben', role: 'admin' }],
      updatedBy: 'ann',
    });
    const avatar = 'https://img.test/team.png';
    t.strictSame(what(await accepted(ben!, 'u2', 'conversation.update', { conversationId: id, avatar }, 'conversation.updated')), { avatar, updatedBy: 'ben' }, 'an admin updates');
    const between = await say(ann!, 'between');
    const fromCat = await say(cat!, 'from cat');
    t.strictSame(what(await accepted(ben!, 'u3', 'conversation.update', { conversationId: id, avatar: null }, 'conversation.updated')), { avatar: null, updatedBy: 'ben' }, 'avatar null: removed');

    // What changes nothing is answered with nothing.
    ann!.send({ type: 'conversation.update', ref: 'same-title', payload: { conversationId: id, title: 'Team two ' } });
    ben!.send({ type: 'conversation.update', ref: 'no-avatar', payload: { conversationId: id, avatar: null, joinPolicy: 'invite' } });
    ann!.send({ type: 'conversation.set_role', ref: 'same-role', payload: { conversationId: id, userId: 'ben', role: 'admin' } });

    // Refusals, each with its ref.
    t.equal(await refused(cat!, 'x1', 'conversation.update', { conversationId: id, title: 'mine' }), 'forbidden', 'a member does not update');
    t.equal(await refused(cat!, 'x2', 'conversation.set_role', { conversationId: id, userId: 'cat', role: 'admin' }), 'forbidden', 'a member does not give roles');
    t.equal(await refused(ben!, 'x3', 'conversation.set_role', { conversationId: id, userId: 'cat', role: 'admin' }), 'forbidden', 'an admin does not give roles');
    t.equal(await refused(dan!, 'x4', 'conversation.update', { conversationId: id, title: 'hi' }), 'conversation_not_found', 'a stranger');
    t.equal(await refused(ann!, 'x5', 'conversation.update', { conversationId: id }), 'validation_error', 'nothing to update');
    t.equal(await refused(ann!, 'x6', 'conversation.update', { conversationId: id, title: '   ' }), 'validation_error', 'a blank title');
    t.equal(await refused(ann!, 'x7', 'conversation.update', { conversationId: id, avatar: 'javascript:alert(1)' }), 'validation_error', 'not an http(s) avatar');
    t.equal(await refused(ann!, 'x8', 'conversation.set_role', { conversationId: id, userId: 'ann', role: 'member' }), 'forbidden', "the owner's role");
    t.equal(await refused(ann!, 'x9', 'conversation.set_role', { conversationId: id, userId: 'dan', role: 'admin' }), 'not_a_member');

    // Invite-only refuses a join as if the group did not exist; opened, it lets a stranger in; closed again, not.
    t.equal(await refused(dan!, 'j1', 'conversation.join', { conversationId: id }), 'conversation_not_found');
    t.strictSame(what(await accepted(ann!, 'u4', 'conversation.update', { conversationId: id, joinPolicy: 'open' }, 'conversation.updated')), { joinPolicy: 'open', updatedBy: 'ann' });
    const joined = await accepted(dan!, 'j2', 'conversation.join', { conversationId: id }, 'conversation.member_joined');
    t.strictSame(what(joined), { members: [{ userId: 'dan', role: 'member' }] }, 'a join has no addedBy');
    t.match(joined.payload.conversation, { id, kind: 'group', joinPolicy: 'open', createdBy: 'ann' }, "the joiner's copy shows the group as it is now");
    t.ok(rosterOf(joined).includes('dan:member') && rosterOf(joined).includes('ann:owner'), 'with every member and their role');
    await accepted(ann!, 'u5', 'conversation.update', { conversationId: id, joinPolicy: 'invite' }, 'conversation.updated');
    t.equal(await refused(eve!, 'j3', 'conversation.join', { conversationId: id }), 'conversation_not_found');

    // The admin adds, removes, deletes another's message.
    t.strictSame(what(await accepted(ben!, 'a1', 'conversation.add_members', { conversationId: id, userIds: ['eve', 'cat'] }, 'conversation.member_joined')), {
      members: [{ userId: 'eve', role: 'member' }],
      addedBy: 'ben',
    });
    t.strictSame(what(await accepted(ben!, 'rm1', 'conversation.remove_member', { conversationId: id, userId: 'dan' }, 'conversation.member_left')), { userId: 'dan', removedBy: 'ben' });
    t.match((await accepted(ben!, 'd1', 'message.delete', { conversationId: id, messageId: fromCat }, 'message.deleted')).payload, { messageId: fromCat, deletedBy: 'ben' });

    // Back to member: refused again.
    t.strictSame(what(await accepted(ann!, 'r2', 'conversation.set_role', { conversationId: id, userId: 'ben', role: 'member' }, 'conversation.updated')), {
      roles: [{ userId: 'ben', role: 'member' }],
      updatedBy: 'ann',
    });
    t.equal(await refused(ben!, 'x10', 'conversation.add_members', { conversationId: id, userIds: ['dan'] }), 'forbidden');
    t.equal(await refused(ben!, 'x11', 'conversation.remove_member', { conversationId: id, userId: 'eve' }), 'forbidden');
    t.equal(await refused(ben!, 'x12', 'conversation.update', { conversationId: id, title: 'x' }), 'forbidden');
    t.equal(await refused(ben!, 'x13', 'message.delete', { conversationId: id, messageId: between }), 'forbidden');
    await accepted(ann!, 'u6', 'conversation.update', { conversationId: id, avatar: 'https://img.test/two.png' }, 'conversation.updated');
    await accepted(ann!, 'r3', 'conversation.set_role', { conversationId: id, userId: 'cat', role: 'admin' }, 'conversation.updated');

    // Every member's devices: each change once, in order with the messages; the no-ops sent nothing.
    const expected = [
      ['created'],
      ['updated', { title: 'Team two', updatedBy: 'ann' }],
      ['updated', { roles: [{ userId: 'ben', role: 'admin' }], updatedBy: 'ann' }],
      ['updated', { avatar, updatedBy: 'ben' }],
      ['message', 'between'],
      ['message', 'from cat'],
      ['updated', { avatar: null, updatedBy: 'ben' }],
      ['updated', { joinPolicy: 'open', updatedBy: 'ann' }],
      ['member_joined', { members: [{ userId: 'dan', role: 'member' }] }],
      ['updated', { joinPolicy: 'invite', updatedBy: 'ann' }],
      ['member_joined', { members: [{ userId: 'eve', role: 'member' }], addedBy: 'ben' }],
      ['member_left', { userId: 'dan', removedBy: 'ben' }],
      ['deleted', 'ben'],
      ['updated', { roles: [{ userId: 'ben', role: 'member' }], updatedBy: 'ann' }],
      ['updated', { avatar: 'https://img.test/two.png', updatedBy: 'ann' }],
      ['updated', { roles: [{ userId: 'cat', role: 'admin' }], updatedBy: 'ann' }],
    ];
    for (const member of [ann!, ben!, eve!]) await member.next('conversation.updated', (f) => f.payload.roles?.[0]?.userId === 'cat');
    await cat!.next('conversation.updated', (f) => f.payload.roles?.[0]?.userId === 'cat');
    await dan!.next('conversation.member_left');
    for (const [name, member] of [['ann', ann!], ['ben', ben!], ['cat', cat!]] as const) t.strictSame(timeline(member, id), expected, `${name}: once each, in order`);
    t.strictSame(timeline(dan!, id), expected.slice(8, 12), 'dan: from his join to his removal');
    t.strictSame(timeline(eve!, id), expected.slice(10), 'eve: from her add');
    t.notOk(
      [ann!, ben!].some((c) => c.frames.some((f) => ['same-title', 'no-avatar', 'same-role'].includes(f.ref ?? ''))),
      'a no-op is answered with nothing',
    );
    const resumed = await sys.connect('cat', { codec, deviceId: 'laptop', cursor: laptopCursor });
    await resumed.next('conversation.updated', (f) => f.payload.roles?.[0]?.userId === 'cat');
    t.strictSame(timeline(resumed, id), expected.slice(1), 'replayed after a resume, in order');

    // The read models: title, avatar, join policy, and the roles.
    const list = await pollUntil(
      () => get('ann', '/v1/conversations'),
      (r) => r.body.conversations?.[0]?.members?.some((m: { userId: string; role: string }) => m.userId === 'cat' && m.role === 'admin'),
    );
    const conversation = list.body.conversations[0];
    t.match(conversation, { id, title: 'Team two', avatar: 'https://img.test/two.png', joinPolicy: 'invite', role: 'owner' });
    t.strictSame(
      conversation.members.map((m: { userId: string; role: string }) => `${m.userId}:${m.role}`).sort(),
      ['ann:owner', 'ben:member', 'cat:admin', 'eve:member'],
    );
  });
}

/** Typing is checked against a membership the gateway trusts for about a second: ask until refused (or give up). */
async function refusedSoon(client: TestClient, type: string, payload: object, timeoutMs = 5_000): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; Date.now() < deadline; i++) {
    const ref = `soon-${i}`;
    client.send({ type, ref, payload });
    const answer = await pollUntil(async () => client.frames.find((f) => f.ref === ref), (f) => f !== undefined, 300);
    if (answer) return answer.error?.code;
  }
  return undefined;
}

for (const codec of ['json', 'msgpack'] as const) {
  t.test(`group members, ${codec}: added and removed members, told to every member once with who did it; the removed hear nothing more and are refused`, async (t) => {
    const sys = await startSystem(t);
    const get = rest(sys);
    const [ann, ben, cat, dan, eve] = await Promise.all(['ann', 'ben', 'cat', 'dan', 'eve'].map((u) => sys.connect(u, { codec })));
    ann!.send({ type: 'conversation.create', payload: { kind: 'group', title: 'Club', members: ['ben', 'cat'] } });
    const id = (await ann!.next('conversation.created')).payload.conversation.id as string;
    await cat!.next('conversation.created');
    await accepted(ann!, 'r1', 'conversation.set_role', { conversationId: id, userId: 'ben', role: 'admin' }, 'conversation.updated');
    const say = async (who: TestClient, content: string, witness: TestClient) => {
      const tempId = content.replaceAll(' ', '-');
      const sent = await accepted(who, tempId, 'message.send', { conversationId: id, tempId, content }, 'message.sent');
      await witness.next('message.new', (f) => f.payload.message.id === sent.payload.message.id);
      return sent.payload.message as { id: string; seq: number };
    };
    await say(ann!, 'before one', cat!);
    await say(ann!, 'before two', cat!);

    // The owner adds to an invite-only group (duplicates and members already in left out).
    t.equal(await refused(dan!, 'j1', 'conversation.join', { conversationId: id }), 'conversation_not_found', 'invite-only: no join');
    const added = await accepted(ann!, 'a1', 'conversation.add_members', { conversationId: id, userIds: ['dan', 'eve', 'ben', 'dan'] }, 'conversation.member_joined');
    const newcomers = { members: [{ userId: 'dan', role: 'member' }, { userId: 'eve', role: 'member' }], addedBy: 'ann' };
    t.strictSame(what(added), newcomers);
    t.equal(added.payload.conversation, undefined, "a member who was there already gets no copy of the group");
    for (const member of [dan!, eve!]) {
      const told = await member.next('conversation.member_joined');
      t.strictSame(what(told), newcomers, 'the added are told too');
      t.strictSame(rosterOf(told), ['ann:owner', 'ben:admin', 'cat:member', 'dan:member', 'eve:member'], 'with the group as it is now: every member and their role');
    }

    // They send and receive at once; their history starts at the add.
    await say(dan!, 'hi from dan', eve!);
    const welcome = await say(ann!, 'welcome', dan!);
    const history = await pollUntil(() => get('dan', `/v1/conversations/${id}/messages`), (r) => r.status === 200 && r.body.messages?.length === 2);
    t.strictSame(
      history.body.messages.map((m: { content: string }) => m.content),
      ['hi from dan', 'welcome'],
      'nothing from before the add',
    );

    // An admin removes dan: everyone is told, dan included, and dan's unread count goes.
    const removed = await accepted(ben!, 'rm1', 'conversation.remove_member', { conversationId: id, userId: 'dan' }, 'conversation.member_left');
    t.strictSame(what(removed), { userId: 'dan', removedBy: 'ben' });
    t.strictSame(what(await dan!.next('conversation.member_left')), { userId: 'dan', removedBy: 'ben' });
    await dan!.next('unread.update', (f) => f.payload.conversationId === id && f.payload.unread === 0);

    // Nothing more reaches dan: a later direct message does, the group's message before it does not.
    await say(ann!, 'after dan', eve!);
    ann!.send({ type: 'message.send', payload: { toUserId: 'dan', tempId: 'dm', content: 'direct' } });
    await dan!.next('message.new', (f) => f.payload.message.content === 'direct');
    t.notOk(dan!.frames.some((f) => f.payload?.message?.content === 'after dan'), 'the group no longer reaches him');
    t.equal(await refused(dan!, 'x1', 'message.send', { conversationId: id, tempId: 'x1', content: 'let me back' }), 'conversation_not_found');
    t.equal(await refused(dan!, 'x2', 'reaction.add', { conversationId: id, messageId: welcome.id, emoji: '👍' }), 'conversation_not_found');
    t.equal(await refusedSoon(dan!, 'typing.start', { conversationId: id }), 'conversation_not_found', 'typing refused too');
    t.equal((await pollUntil(() => get('dan', `/v1/conversations/${id}/messages`), (r) => r.status === 404)).body.error.code, 'conversation_not_found');

    // Who may remove whom.
    t.equal(await refused(ben!, 'x3', 'conversation.remove_member', { conversationId: id, userId: 'ann' }), 'forbidden', 'never the owner');
    await accepted(ann!, 'r2', 'conversation.set_role', { conversationId: id, userId: 'cat', role: 'admin' }, 'conversation.updated');
    t.equal(await refused(ben!, 'x4', 'conversation.remove_member', { conversationId: id, userId: 'cat' }), 'forbidden', 'an admin does not remove an admin');
    t.equal(await refused(eve!, 'x5', 'conversation.remove_member', { conversationId: id, userId: 'cat' }), 'forbidden', 'a member removes nobody');
    t.equal(await refused(eve!, 'x6', 'conversation.add_members', { conversationId: id, userIds: ['dan'] }), 'forbidden', 'a member adds nobody');
    t.equal(await refused(ben!, 'x7', 'conversation.remove_member', { conversationId: id, userId: 'ben' }), 'validation_error', 'leaving is conversation.leave');
    t.equal(await refused(ben!, 'x8', 'conversation.remove_member', { conversationId: id, userId: 'dan' }), 'not_a_member');
    t.equal(await refused(dan!, 'x9', 'conversation.remove_member', { conversationId: id, userId: 'eve' }), 'conversation_not_found');
    t.strictSame(what(await accepted(ann!, 'rm2', 'conversation.remove_member', { conversationId: id, userId: 'ben' }, 'conversation.member_left')), {
      userId: 'ben',
      removedBy: 'ann',
    }, 'the owner removes an admin');

    const expected = [
      ['created'],
      ['updated', { roles: [{ userId: 'ben', role: 'admin' }], updatedBy: 'ann' }],
      ['message', 'before one'],
      ['message', 'before two'],
      ['member_joined', newcomers],
      ['message', 'hi from dan'],
      ['message', 'welcome'],
      ['member_left', { userId: 'dan', removedBy: 'ben' }],
      ['message', 'after dan'],
      ['updated', { roles: [{ userId: 'cat', role: 'admin' }], updatedBy: 'ann' }],
      ['member_left', { userId: 'ben', removedBy: 'ann' }],
    ];
    for (const member of [ben!, cat!, eve!]) await member.next('conversation.member_left', (f) => f.payload.userId === 'ben');
    for (const [name, member] of [['ann', ann!], ['ben', ben!], ['cat', cat!]] as const) t.strictSame(timeline(member, id), expected, `${name}: once each, in order`);
    t.strictSame(timeline(dan!, id), expected.slice(4, 8), 'dan: from his add to his removal');
    t.strictSame(timeline(eve!, id), expected.slice(4), 'eve: from her add');
  });
}
