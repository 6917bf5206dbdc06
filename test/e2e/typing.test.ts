import t from 'tap';
import type { Config } from '../../lib/config.js';
import { defaultConfig } from '../../lib/config.js';
import type { TestClient } from '../helpers/client.js';
import { startRoleProcess } from '../helpers/processes.js';
import { startSystem } from '../helpers/system.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const typingOf = (c: TestClient) => c.frames.filter((f) => f.type.startsWith('typing.'));
/** A timeout short enough for the expiry tests; one long enough that only a stop or a close can end a typing within a test. */
const SHORT = 400;
/** For tests that renew: long enough that a busy machine's pauses do not end a renewed typing. */
const MID = 1_000;
const LONG = 60_000;
const typing = (timeoutMs: number, more: Partial<Config['typing']> = {}): Partial<Config> => ({ typing: { ...defaultConfig().typing, timeoutMs, ...more } });

let groups = 0;
async function group(owner: TestClient, members: string[], others: TestClient[]): Promise<string> {
  const ref = `group-${++groups}`;
  owner.send({ type: 'conversation.create', ref, payload: { kind: 'group', title: 'typing', members } });
  const id = (await owner.next('conversation.created', (f) => f.ref === ref)).payload.conversation.id as string;
  for (const o of others) await o.next('conversation.created', (f) => f.payload.conversation.id === id);
  return id;
}

t.test('typing reaches the other members only, ephemeral, and an explicit stop ends it', async (t) => {
  const sys = await startSystem(t, typing(LONG));
  const [alice, alice2, bob, carol, dave] = await Promise.all([
    sys.connect('alice', { deviceId: 'phone' }),
    sys.connect('alice', { deviceId: 'desktop' }),
    sys.connect('bob'),
    sys.connect('carol', { codec: 'msgpack' }),
    sys.connect('dave'),
  ]);
  const g = await group(alice!, ['bob', 'carol'], [bob!, carol!]);

  alice!.send({ type: 'typing.start', ref: 's1', payload: { conversationId: g } });
  for (const member of [bob!, carol!]) {
    const got = await member.next('typing.start');
    t.strictSame(got, { type: 'typing.start', payload: { conversationId: g, userId: 'alice' } }, 'conversation and typer, no seq, no ref');
  }
  alice!.send({ type: 'typing.stop', ref: 's2', payload: { conversationId: g } });
  for (const member of [bob!, carol!]) {
    t.strictSame(await member.next('typing.stop'), { type: 'typing.stop', payload: { conversationId: g, userId: 'alice' } });
  }
  // The control above came through; what should not come has had the same time and more.
  await sleep(300);
  t.strictSame(typingOf(dave!), [], 'a non-member hears nothing');
  t.strictSame(typingOf(alice2!), [], "the typer's other device hears nothing");
  t.strictSame(typingOf(alice!), [], 'nor the typing one');
  t.equal(alice!.of('error').length, 0, 'start and stop are not answered');

  // A second stop, and a stop of nothing, are silent; a start after the stop is a new start.
  alice!.send({ type: 'typing.stop', payload: { conversationId: g } });
  alice!.send({ type: 'typing.start', payload: { conversationId: g } });
  await bob!.collect('typing.start', 2);
  t.equal(bob!.of('typing.stop').length, 1, 'no second stop for the stop of nothing');
  t.equal(carol!.of('typing.start').length, 2);

  // Renewals inside the window reach nobody's socket again.
  for (let i = 0; i < 5; i++) alice!.send({ type: 'typing.start', payload: { conversationId: g } });
  alice!.send({ type: 'ping', ref: 'after-renewals', payload: {} });
  await alice!.next('pong', (f) => f.ref === 'after-renewals');
  await sleep(200);
  t.equal(bob!.of('typing.start').length, 2, 'renewals are not forwarded to a socket already told');
  t.equal(alice!.of('error').length, 0);

  // A receiver's device that connects while alice types hears of it at the next relayed renewal (timeout/2 later: LONG here, so not within this test); it does hear the stop only if it was told the start.
  alice!.send({ type: 'typing.stop', payload: { conversationId: g } });
  await bob!.collect('typing.stop', 2);
  t.equal(typingOf(dave!).length, 0);
});

t.test('non-members and unknown conversations: conversation_not_found with the ref, nothing relayed', async (t) => {
  const sys = await startSystem(t, typing(LONG));
  const [alice, bob, dave] = await Promise.all(['alice', 'bob', 'dave'].map((u) => sys.connect(u)));
  const g = await group(alice!, ['bob'], [bob!]);
  alice!.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: 'd1', content: 'hi' } });
  const direct = (await bob!.next('message.new')).payload.message.conversationId as string;

  const answers: Record<string, string> = {};
  for (const [ref, type, conversationId] of [
    ['group-start', 'typing.start', g],
    ['group-stop', 'typing.stop', g],
    ['direct-start', 'typing.start', direct],
    ['none-start', 'typing.start', 'g_does_not_exist'],
    ['none-stop', 'typing.stop', 'd_nothing_here'],
  ] as const) {
    dave!.send({ type, ref, payload: { conversationId } });
    const error = await dave!.next('error', (f) => f.ref === ref);
    t.equal(error.error!.code, 'conversation_not_found', `${ref}: conversation_not_found`);
    answers[ref] = error.error!.message.replace(conversationId, '<id>');
  }
  t.equal(new Set(Object.values(answers)).size, 1, 'the same words whether the conversation exists or not');
  t.equal(answers['group-start'], 'conversation <id> not found');

  // Bad payloads are validation errors (bad frames), before any lookup.
  dave!.send({ type: 'typing.start', ref: 'bad', payload: { conversationId: 'has space' } });
  t.equal((await dave!.next('error', (f) => f.ref === 'bad')).error!.code, 'validation_error');
  dave!.send({ type: 'typing.start', ref: 'extra', payload: { conversationId: g, userId: 'alice' } });
  t.equal((await dave!.next('error', (f) => f.ref === 'extra')).error!.code, 'validation_error', 'no userId of your choosing');

  // The control: a member's typing does arrive, after dave's never did.
  bob!.send({ type: 'typing.start', payload: { conversationId: g } });
  await alice!.next('typing.start');
  t.strictSame(typingOf(bob!), [], 'bob heard none of dave');
  t.strictSame(
    typingOf(alice!).map((f) => f.payload.userId),
    ['bob'],
    'alice heard bob alone',
  );
});

t.test('a member who joins is not refused; one who leaves is refused', async (t) => {
  const sys = await startSystem(t, typing(LONG));
  const [alice, bob, erin] = await Promise.all(['alice', 'bob', 'erin'].map((u) => sys.connect(u)));
  alice!.send({ type: 'conversation.create', payload: { kind: 'group', title: 'open', members: ['bob'], joinPolicy: 'open' } });
  const g = (await alice!.next('conversation.created')).payload.conversation.id as string;
  // The gateway has the group cached now, without erin.
  alice!.send({ type: 'typing.start', payload: { conversationId: g } });
  await bob!.next('typing.start');
  erin!.send({ type: 'typing.start', ref: 'before', payload: { conversationId: g } });
  t.equal((await erin!.next('error', (f) => f.ref === 'before')).error!.code, 'conversation_not_found');
  erin!.send({ type: 'conversation.join', payload: { conversationId: g } });
  await erin!.next('conversation.member_joined');
  erin!.send({ type: 'typing.start', ref: 'after', payload: { conversationId: g } });
  const got = await bob!.next('typing.start', (f) => f.payload.userId === 'erin');
  t.equal(got.payload.conversationId, g, 'a new member types at once');
  t.notOk(erin!.frames.some((f) => f.ref === 'after'), 'and is not answered');

  bob!.send({ type: 'conversation.leave', payload: { conversationId: g } });
  await bob!.next('conversation.member_left');
  // Within about a second the gateway reads the leave.
  await sleep(1_200);
  bob!.send({ type: 'typing.start', ref: 'left', payload: { conversationId: g } });
  t.equal((await bob!.next('error', (f) => f.ref === 'left')).error!.code, 'conversation_not_found', 'a member who left is refused');
});

t.test('users who block each other see no typing of each other in their direct conversation', async (t) => {
  const sys = await startSystem(t, typing(LONG));
  const [alice, bob] = await Promise.all(['alice', 'bob'].map((u) => sys.connect(u)));
  alice!.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: 'd1', content: 'hi' } });
  const direct = (await bob!.next('message.new')).payload.message.conversationId as string;
  alice!.send({ type: 'block.add', payload: { userId: 'bob' } });
  await alice!.next('block.added');
  await sleep(1_200); // the gateway's cached block list is at most a second old
  bob!.send({ type: 'typing.start', ref: 'b', payload: { conversationId: direct } });
  alice!.send({ type: 'typing.start', ref: 'a', payload: { conversationId: direct } });
  bob!.send({ type: 'ping', ref: 'p', payload: {} });
  await bob!.next('pong');
  await sleep(300);
  t.strictSame(typingOf(alice!), [], 'the blocker does not hear the blocked user type');
  t.strictSame(typingOf(bob!), [], 'nor the blocked user the blocker');
  t.equal(bob!.of('error').length, 0, 'the blocked user is not told');

  alice!.send({ type: 'block.remove', payload: { userId: 'bob' } });
  await alice!.next('block.removed');
  await sleep(1_200);
  bob!.send({ type: 'typing.stop', payload: { conversationId: direct } });
  bob!.send({ type: 'typing.start', payload: { conversationId: direct } });
  t.equal((await alice!.next('typing.start')).payload.userId, 'bob', 'after the unblock, typing flows again');
});

t.test('a typing not renewed is ended by the server', async (t) => {
  const sys = await startSystem(t, typing(SHORT));
  const [alice, bob] = await Promise.all(['alice', 'bob'].map((u) => sys.connect(u)));
  const g = await group(alice!, ['bob'], [bob!]);

  const startedAt = Date.now();
  alice!.send({ type: 'typing.start', payload: { conversationId: g } });
  await bob!.next('typing.start');
  await bob!.next('typing.stop');
  t.ok(Date.now() - startedAt >= SHORT * 0.9, 'not before the timeout');
  t.equal(alice!.of('error').length, 0);
});

t.test('renewals keep a typing alive, and reach no socket again', async (t) => {
  const sys = await startSystem(t, typing(MID));
  const [alice, bob] = await Promise.all(['alice', 'bob'].map((u) => sys.connect(u)));
  const g = await group(alice!, ['bob'], [bob!]);
  // Renewed every quarter timeout for four timeouts.
  alice!.send({ type: 'typing.start', payload: { conversationId: g } });
  await bob!.next('typing.start');
  let bob2: TestClient | undefined;
  for (let i = 0; i < 16; i++) {
    await sleep(MID / 4);
    alice!.send({ type: 'typing.start', payload: { conversationId: g } });
    if (i === 4) bob2 = await sys.connect('bob');
  }
  t.equal(bob!.of('typing.stop').length, 0, 'no stop while renewed');
  t.equal(bob!.of('typing.start').length, 1, 'and one start');
  t.equal(bob2!.of('typing.start').length, 1, "bob's device that connected meanwhile was told at a relayed renewal, once");
  await bob!.next('typing.stop');
  await bob2!.next('typing.stop');
  t.equal(alice!.of('error').length, 0);
});

t.test('closing the typing connection ends its typing; the other device of the user does not', async (t) => {
  const sys = await startSystem(t, typing(LONG));
  const [alice, alice2, bob] = await Promise.all([sys.connect('alice'), sys.connect('alice'), sys.connect('bob')]);
  const g = await group(alice!, ['bob'], [bob!]);
  alice2!.send({ type: 'typing.start', payload: { conversationId: g } });
  await bob!.next('typing.start');
  await alice!.close();
  await sleep(300);
  t.equal(bob!.of('typing.stop').length, 0, 'the device that was not typing closed: nothing ends');
  await alice2!.close();
  const stop = await bob!.next('typing.stop');
  t.strictSame(stop.payload, { conversationId: g, userId: 'alice' }, 'the typing device closed: typing.stop (long before the timeout)');
});

t.test('limits: a connection types in at most PARLEY_TYPING_MAX_CONVERSATIONS at once; the fan-out budget', async (t) => {
  // The frame limits out of the way: the loop below is the budget's to stop.
  const limits = { ...defaultConfig().limits, framesPerSecond: 1_000_000, frameBurst: 1_000_000, badFramesPerMinute: 1_000 };
  const sys = await startSystem(t, { ...typing(LONG, { maxConversations: 2, fanoutPerSecond: 1 }), limits });
  const [alice, bob] = await Promise.all(['alice', 'bob'].map((u) => sys.connect(u)));
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) ids.push(await group(alice!, ['bob'], [bob!]));
  alice!.send({ type: 'typing.start', ref: 'a', payload: { conversationId: ids[0] } });
  alice!.send({ type: 'typing.start', ref: 'b', payload: { conversationId: ids[1] } });
  alice!.send({ type: 'typing.start', ref: 'c', payload: { conversationId: ids[2] } });
  const refused = await alice!.next('error', (f) => f.ref === 'c');
  t.equal(refused.error!.code, 'rate_limited');
  t.ok((refused.error as { retryAfterMs?: number }).retryAfterMs! > 0, 'with retryAfterMs');
  await bob!.collect('typing.start', 2);
  alice!.send({ type: 'typing.stop', payload: { conversationId: ids[0] } });
  alice!.send({ type: 'typing.start', ref: 'c2', payload: { conversationId: ids[2] } });
  await bob!.next('typing.start', (f) => f.payload.conversationId === ids[2]);
  t.equal(alice!.of('error').length, 1, 'room again after a stop');

  // The fan-out budget: 1 recipient a second, bursts of 2 × 999: a start/stop loop is cut short.
  const cut = (f: { ref?: string; error?: { code: string } }) => f.error?.code === 'rate_limited' && f.ref?.startsWith('loop-') === true;
  for (let n = 0; n < 2_500 && !alice!.frames.some(cut); n++) {
    alice!.send({ type: 'typing.stop', payload: { conversationId: ids[1] } });
    alice!.send({ type: 'typing.start', ref: `loop-${n}`, payload: { conversationId: ids[1] } });
    if (n % 50 === 0) await sleep(20);
  }
  await alice!.next('error', cut, 10_000);
  const relayed = bob!.of('typing.start').length;
  t.ok(relayed < 1_100, `starts relayed are bounded by the budget (${relayed} for a budget of 999 start/stop pairs)`);
});

t.test('two gateways: a member on the other gateway hears typing', async (t) => {
  const sys = await startSystem(t, typing(SHORT));
  const second = await sys.start('gateway', { gatewayId: `${sys.config.gatewayId}-2` });
  const alice = await sys.connect('alice');
  const bob = await sys.connect('bob', { url: second.gateway!.url });
  const g = await group(alice, ['bob'], [bob]);
  alice.send({ type: 'typing.start', payload: { conversationId: g } });
  t.equal((await bob.next('typing.start')).payload.userId, 'alice');
  await bob.next('typing.stop');
});

t.test('a gateway that stops (SIGTERM) ends the typing of its connections for the members on other gateways', async (t) => {
  const sys = await startSystem(t, typing(LONG));
  const second = await sys.start('gateway', { gatewayId: `${sys.config.gatewayId}-2` });
  const alice = await sys.connect('alice', { url: second.gateway!.url });
  const bob = await sys.connect('bob');
  const g = await group(alice, ['bob'], [bob]);
  alice.send({ type: 'typing.start', payload: { conversationId: g } });
  await bob.next('typing.start');
  await second.stop();
  t.equal((await alice.closed).code, 1001, "alice's socket closed going away");
  t.strictSame((await bob.next('typing.stop')).payload, { conversationId: g, userId: 'alice' }, 'typing.stop relayed by the stopping gateway');
});

t.test("kill -9 of the typer's gateway: the receiver's gateway ends the typing itself", async (t) => {
  const sys = await startSystem(t, typing(MID), ['engine', 'projector']);
  const gatewayA = await startRoleProcess(t, 'gateway', sys.config);
  const gatewayB = await startRoleProcess(t, 'gateway', sys.config);
  const alice = await sys.connect('alice', { url: gatewayA.url });
  const bob = await sys.connect('bob', { url: gatewayB.url });
  const g = await group(alice, ['bob'], [bob]);

  // alice keeps typing until her gateway dies: her gateway never relays a stop.
  alice.send({ type: 'typing.start', payload: { conversationId: g } });
  await bob.next('typing.start');
  const renew = setInterval(() => alice.send({ type: 'typing.start', payload: { conversationId: g } }), MID / 4);
  await sleep(3 * MID);
  t.equal(bob.of('typing.stop').length, 0, 'renewed: still typing after three timeouts');
  await gatewayA.kill('SIGKILL');
  clearInterval(renew);
  const killedAt = Date.now();
  const stop = await bob.next('typing.stop', () => true, 10 * MID);
  t.comment(`typing.stop ${Date.now() - killedAt} ms after the kill (bound: twice the timeout, ${2 * MID} ms, after the last relay)`);
  t.strictSame(stop.payload, { conversationId: g, userId: 'alice' }, 'typing.stop from the receiving gateway');
  t.equal(bob.of('typing.start').length, 1);
  await gatewayB.kill('SIGTERM');
});
