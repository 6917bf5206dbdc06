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
  // Sent at once, between two reads of the backlog: the gateway counts what it let through itself.
  for (let i = 1; i <= 8; i++) alice.send({ type: 'message.send', ref: `r${i}`, payload: { toUserId: 'bob', tempId: `q${i}`, content: `queued ${i}` } });
  for (const i of [7, 8]) {
    const refused = await alice.next('error', (f) => f.ref === `r${i}`);
    t.match(refused.error, { code: 'overloaded', temporary: true, tempId: `q${i}` }, `q${i} refused: 6 wait, more than the limit of 5`);
  }
  const health = sys.url.replace('ws://', 'http://').replace('/ws', '/health');
  // The gateway reads the backlog four times a second: once the 6 are stored, the read agrees.
  let body: { commands: { backlog: number; overloaded: boolean } } | undefined;
  for (let i = 0; i < 60 && body?.commands.backlog !== 6; i++) {
    await new Promise((r) => setTimeout(r, 100));
    body = (await (await fetch(health)).json()) as typeof body;
  }
  t.match(body?.commands, { backlog: 6, overloaded: true }, '/health shows the backlog and the refusal');
  await new Promise((r) => setTimeout(r, 600)); // two more reads: what they see adds nothing
  body = (await (await fetch(health)).json()) as typeof body;
  t.match(body?.commands, { backlog: 6, overloaded: true }, 'a read does not count the same sends twice');

  alice.send({ type: 'message.send', ref: 'r9', payload: { toUserId: 'bob', tempId: 'q9', content: 'refused' } });
  const refused = await alice.next('error', (f) => f.ref === 'r9');
  t.match(refused.error, { code: 'overloaded', temporary: true, tempId: 'q9' });
  // Receipts and other commands still go through: only sends are refused.
  alice.send({ type: 'ping', ref: 'p' });
  await alice.next('pong');

  // An engine drains the backlog; the refused sends, retried with their tempIds, are accepted.
  await startRoleProcess(t, 'engine', sys.config);
  await bob.collect('message.new', 6, 20_000);
  for (let i = 0; i < 60 && body?.commands.overloaded; i++) {
    await new Promise((r) => setTimeout(r, 100));
    body = (await (await fetch(health)).json()) as typeof body;
  }
  t.equal(body?.commands.overloaded, false, 'no longer refusing');
  for (const i of [7, 8, 9]) {
    alice.send({ type: 'message.send', ref: `again${i}`, payload: { toUserId: 'bob', tempId: `q${i}`, content: i === 9 ? 'refused' : `queued ${i}` } });
    const sent = await alice.next('message.sent', (f) => f.payload.tempId === `q${i}`);
    t.equal(sent.ref, `again${i}`);
  }
  t.equal(alice.of('error').filter((f) => f.error!.code === 'overloaded').length, 3, 'three refusals in all');
  await bob.collect('message.new', 9);
  await new Promise((r) => setTimeout(r, 200));
  t.same(
    bob.of('message.new').map((f) => f.payload.message.tempId),
    ['q1', 'q2', 'q3', 'q4', 'q5', 'q6', 'q7', 'q8', 'q9'],
    'nothing lost, nothing twice, in order',
  );
});
