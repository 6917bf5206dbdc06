import t from 'tap';
import { startSystem } from '../helpers/system.js';
import { startRoleProcess } from '../helpers/processes.js';

t.test('--role backend runs the engine and the projectors: with a gateway apart, messages flow and the read models fill', async (t) => {
  const sys = await startSystem(t, {}, ['gateway']);
  const backend = await startRoleProcess(t, 'backend', sys.config);
  const alice = await sys.connect('alice');
  const bob = await sys.connect('bob');
  for (let i = 1; i <= 5; i++) alice.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: `b${i}`, content: `m${i}` } });
  const got = await bob.collect('message.new', 5);
  t.same(
    got.map((f) => f.payload.message.content),
    ['m1', 'm2', 'm3', 'm4', 'm5'],
  );
  await bob.next('unread.update', (f) => f.payload.unread === 5);

  // The read models come from the same process (its postgres projector).
  const base = sys.url.replace('ws://', 'http://').replace('/ws', '');
  const token = await sys.token('bob');
  let count: number | undefined;
  for (let i = 0; i < 200 && count !== 5; i++) {
    const res = await fetch(`${base}/v1/conversations`, { headers: { authorization: `Bearer ${token}` } });
    count = ((await res.json()) as { conversations: { messageCount: number }[] }).conversations[0]?.messageCount;
    if (count !== 5) await new Promise((r) => setTimeout(r, 50));
  }
  t.equal(count, 5, 'the conversation is in the read models with its 5 messages');
  t.equal(await backend.kill('SIGTERM'), 0, 'it stops cleanly on SIGTERM');
});
