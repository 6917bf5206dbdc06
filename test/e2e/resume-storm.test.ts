import t from 'tap';
import { startSystem, type TestSystem } from '../helpers/system.js';
import type { Test } from 'tap';
import type { TestClient } from '../helpers/client.js';
import type { GatewayFeeds } from '../../lib/config.js';

/**
 * Many users of one group drop, miss messages, and resume at once from their cursors, as after
 * a gateway restart: each gets exactly what it missed, in order, then live frames, in both feed
 * subscription modes (one wildcard per gateway, or two subscriptions per user).
 */
async function storm(t: Test, gatewayFeeds: GatewayFeeds): Promise<TestSystem> {
  const sys = await startSystem(t, { gatewayFeeds });
  const alice = await sys.connect('alice');
  const users = Array.from({ length: 40 }, (_, i) => `s${i}`);
  let clients: TestClient[] = await Promise.all(users.map((u) => sys.connect(u)));
  alice.send({ type: 'conversation.create', payload: { kind: 'group', title: 'storm', members: users } });
  const conversationId = (await alice.next('conversation.created')).payload.conversation.id as string;
  alice.send({ type: 'message.send', payload: { conversationId, tempId: 'before', content: 'before' } });
  await Promise.all(clients.map((c) => c.next('message.new')));
  const cursors = clients.map((c) => c.cursor);
  clients.forEach((c) => c.terminate());

  const missed = 6;
  for (let i = 0; i < missed; i++) alice.send({ type: 'message.send', payload: { conversationId, tempId: `m${i}`, content: `m${i}` } });
  await alice.collect('message.sent', missed + 1);
  clients = await Promise.all(users.map((u, i) => sys.connect(u, { cursor: cursors[i]! })));
  // Live ones while the replays run: the seam must hold for every socket.
  for (let i = 0; i < 3; i++) alice.send({ type: 'message.send', payload: { conversationId, tempId: `l${i}`, content: `l${i}` } });
  const want = [...Array.from({ length: missed }, (_, i) => `m${i}`), 'l0', 'l1', 'l2'];
  const got = await Promise.all(clients.map((c) => c.collect('message.new', want.length, 20_000)));
  await new Promise((r) => setTimeout(r, 300));
  clients.forEach((c, i) => {
    t.equal(c.of('connection.success')[0]!.payload.resumed, true, `${users[i]} resumed`);
    t.same(got[i]!.map((f) => f.payload.message.content), want, `${users[i]}: what it missed, then live, in order`);
    t.equal(c.of('message.new').length, want.length, `${users[i]}: nothing twice`);
  });
  return sys;
}

t.test('a resume storm, wildcard feeds (the default): exactly once, in order', async (t) => {
  const sys = await storm(t, 'wildcard');
  const health = sys.running[0]!.gateway!.stats();
  t.ok(health.replay.scans + health.replay.walked > 0, 'the replays were read from the inbox');
});

t.test('a resume storm, per-user feeds: exactly once, in order', async (t) => {
  await storm(t, 'per-user');
});
