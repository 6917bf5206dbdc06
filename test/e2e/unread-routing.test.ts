import t from 'tap';
import { connect } from '@nats-io/transport-node';
import { headers, makeNames } from '../../lib/names.js';
import { startSystem } from '../helpers/system.js';
import type { Frame, TestClient } from '../helpers/client.js';

/** The frame types a client got from `from` on, with unread counts spelled out. */
function tail(client: TestClient, from: number): string[] {
  return client.frames.slice(from).map((f: Frame) => (f.type === 'unread.update' ? `unread ${f.payload.unread}/${f.payload.totalUnread}` : f.type));
}

t.test('unread counts ride on the inbox entry once the counts are in memory, right behind the message', async (t) => {
  const sys = await startSystem(t);
  const names = makeNames(sys.config.prefix);
  const nc = await connect({ servers: sys.config.natsUrl });
  t.teardown(() => nc.close());
  const ephemeral: string[] = [];
  const carried: (string | undefined)[] = [];
  nc.subscribe(names.subjects.ephemeral('bob'), { callback: (_e, m) => void ephemeral.push(m.string()) });
  nc.subscribe(names.subjects.live('bob'), { callback: (_e, m) => void carried.push(m.headers?.get(headers.unread) || undefined) });
  await nc.flush();

  const alice = await sys.connect('alice');
  const bob = await sys.connect('bob');
  // bob's counts are not in the projector's memory yet: the first count is loaded, then sent on its own.
  alice.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: 't1', content: 'm1' } });
  const first = await bob.next('unread.update');
  const conversationId = first.payload.conversationId as string;
  t.same(first.payload, { conversationId, unread: 1, totalUnread: 1 });
  t.equal(ephemeral.length, 1, 'the cold count went on the ephemeral subject');

  // Now they are: the counts come with the entries, each right behind its message.
  const from = bob.frames.length;
  alice.send({ type: 'message.send', payload: { conversationId, tempId: 't2', content: 'm2' } });
  alice.send({ type: 'message.send', payload: { conversationId, tempId: 't3', content: 'm3' } });
  await bob.next('unread.update', (f) => f.payload.unread === 3);
  t.same(tail(bob, from), ['message.new', 'unread 2/2', 'message.new', 'unread 3/3']);
  t.same(carried.slice(-2), [`${conversationId} 2 2`, `${conversationId} 3 3`], 'carried as Parley-Unread headers');

  // bob reads: his read_ack carries his new count, 0.
  const beforeRead = bob.frames.length;
  bob.send({ type: 'message.read', payload: { conversationId } });
  await bob.next('unread.update', (f) => f.payload.unread === 0);
  t.same(tail(bob, beforeRead), ['message.read_ack', 'unread 0/0']);
  // A second device that connects now gets the counts from the KV bucket (and live ones from now on).
  alice.send({ type: 'message.send', payload: { conversationId, tempId: 't4', content: 'm4' } });
  await bob.next('unread.update', (f) => f.payload.unread === 1);
  const tablet = await sys.connect('bob', { deviceId: 'tablet' });
  const tabletFrom = tablet.frames.length;
  alice.send({ type: 'message.send', payload: { conversationId, tempId: 't5', content: 'm5' } });
  await tablet.next('unread.update', (f) => f.payload.unread === 2);
  t.same(
    tail(tablet, tabletFrom).filter((f) => f !== 'unread.summary'),
    ['message.new', 'unread 2/2'],
  );
  t.equal(ephemeral.length, 1, 'nothing else went on the ephemeral subject');
  t.equal(alice.of('unread.update').length, 0, 'own messages are never unread');
});
