import t from 'tap';
import { defaultConfig } from '../../lib/config.js';
import { startSystem } from '../helpers/system.js';
import { startRoleProcess } from '../helpers/processes.js';

t.test('past the command backlog limit sends are refused with overloaded, and accepted again once the engine catches up', async (t) => {
  // No engine at first: every command stays in the command stream.
  const limits = { ...defaultConfig().limits, maxCommandBacklog: 5 };
  const sys = await startSystem(t, { limits }, ['gateway', 'projector']);
  const alice = await sys.connect('alice');
  const bob = await sys.connect('bob');
  for (let i = 1; i <= 8; i++) alice.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: `q${i}`, content: `queued ${i}` } });
  const health = sys.url.replace('ws://', 'http://').replace('/ws', '/health');
  // The gateway reads the backlog twice a second.
  let body: { commands: { backlog: number; overloaded: boolean } } | undefined;
  for (let i = 0; i < 60 && !body?.commands.overloaded; i++) {
    await new Promise((r) => setTimeout(r, 100));
    body = (await (await fetch(health)).json()) as typeof body;
  }
  t.same(body?.commands, { backlog: 8, overloaded: true }, '/health shows the backlog and the refusal');

  alice.send({ type: 'message.send', ref: 'r9', payload: { toUserId: 'bob', tempId: 'q9', content: 'refused' } });
  const refused = await alice.next('error', (f) => f.ref === 'r9');
  t.match(refused.error, { code: 'overloaded', temporary: true, tempId: 'q9' });
  // Receipts and other commands still go through: only sends are refused.
  alice.send({ type: 'ping', ref: 'p' });
  await alice.next('pong');

  // An engine drains the backlog; the refused send, retried with its tempId, is accepted.
  await startRoleProcess(t, 'engine', sys.config);
  await bob.collect('message.new', 8, 20_000);
  for (let i = 0; i < 60 && body?.commands.overloaded; i++) {
    await new Promise((r) => setTimeout(r, 100));
    body = (await (await fetch(health)).json()) as typeof body;
  }
  t.equal(body?.commands.overloaded, false, 'no longer refusing');
  alice.send({ type: 'message.send', ref: 'r9b', payload: { toUserId: 'bob', tempId: 'q9', content: 'refused' } });
  const sent = await alice.next('message.sent', (f) => f.payload.tempId === 'q9');
  t.equal(sent.ref, 'r9b');
  t.equal(alice.of('error').filter((f) => f.error!.code === 'overloaded').length, 1, 'one refusal in all');
  await bob.collect('message.new', 9);
  await new Promise((r) => setTimeout(r, 200));
  t.same(
    bob.of('message.new').map((f) => f.payload.message.tempId),
    ['q1', 'q2', 'q3', 'q4', 'q5', 'q6', 'q7', 'q8', 'q9'],
    'nothing lost, nothing twice, in order',
  );
});
