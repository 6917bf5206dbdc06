import t from 'tap';
import { defaultConfig } from '../../lib/config.js';
import { startSystem } from '../helpers/system.js';
import { startRoleProcess } from '../helpers/processes.js';

t.test('past half the command backlog limit the heaviest sender is refused with overloaded, past the limit everyone; accepted again once the engine catches up', async (t) => {
  // No engine at first: every command stays in the command stream.
  const limits = { ...defaultConfig().limits, maxCommandBacklog: 5 };
  const sys = await startSystem(t, { limits }, ['gateway', 'projector']);
  const alice = await sys.connect('alice');
  const bob = await sys.connect('bob');
  // Sent at once, between two reads of the backlog: the gateway counts what it let through itself.
  // Past half the limit (2.5) alice, sending far more than a person types, is refused.
  for (let i = 1; i <= 8; i++) alice.send({ type: 'message.send', ref: `r${i}`, payload: { toUserId: 'bob', tempId: `q${i}`, content: `queued ${i}` } });
  for (const i of [4, 5, 6, 7, 8]) {
    const refused = await alice.next('error', (f) => f.ref === `r${i}`);
    t.match(refused.error, { code: 'overloaded', temporary: true, tempId: `q${i}` }, `q${i} refused: 3 wait, more than half the limit of 5, and alice sends the most`);
  }
  const health = sys.url.replace('ws://', 'http://').replace('/ws', '/health');
  type Commands = { backlog: number; overloaded: boolean; shedding: boolean };
  let body: { commands: Commands } | undefined;
  const until = async (ok: (c: Commands) => boolean) => {
    for (let i = 0; i < 60 && !(body && ok(body.commands)); i++) {
      await new Promise((r) => setTimeout(r, 100));
      body = (await (await fetch(health)).json()) as typeof body;
    }
  };
  // The gateway reads the backlog four times a second: once the 3 are stored, the read agrees.
  await until((c) => c.backlog === 3);
  t.match(body?.commands, { backlog: 3, shedding: true, overloaded: false }, '/health shows the backlog and the shedding');
  await new Promise((r) => setTimeout(r, 600)); // two more reads: what they see adds nothing
  body = (await (await fetch(health)).json()) as typeof body;
  t.match(body?.commands, { backlog: 3 }, 'a read does not count the same sends twice');

  // Bob sends as a person does: the other half of the room is his.
  for (let i = 1; i <= 3; i++) {
    bob.send({ type: 'message.send', ref: `b${i}`, payload: { toUserId: 'alice', tempId: `b${i}`, content: `from bob ${i}` } });
    await new Promise((r) => setTimeout(r, 400));
  }
  t.equal(bob.of('error').length, 0, 'bob is not refused');
  await until((c) => c.backlog === 6);
  t.match(body?.commands, { backlog: 6, overloaded: true }, 'past the limit');

  // Past the limit everyone is refused, however little they send.
  alice.send({ type: 'message.send', ref: 'r9', payload: { toUserId: 'bob', tempId: 'q9', content: 'refused' } });
  t.match((await alice.next('error', (f) => f.ref === 'r9')).error, { code: 'overloaded', temporary: true, tempId: 'q9' });
  bob.send({ type: 'message.send', ref: 'b4', payload: { toUserId: 'alice', tempId: 'b4', content: 'refused' } });
  t.match((await bob.next('error', (f) => f.ref === 'b4')).error, { code: 'overloaded', tempId: 'b4' });
  // Receipts and other commands still go through: only sends are refused.
  alice.send({ type: 'ping', ref: 'p' });
  await alice.next('pong');

  // An engine drains the backlog; the refused sends, retried with their tempIds, are accepted.
  await startRoleProcess(t, 'engine', sys.config);
  await bob.collect('message.new', 3, 20_000);
  await alice.collect('message.new', 3, 20_000);
  await until((c) => !c.shedding);
  t.equal(body?.commands.shedding, false, 'no longer refusing');
  // Retried at a person's pace: with a limit of 5, three sends let in between two reads are past half of it.
  for (const i of [4, 5, 6, 7, 8, 9]) {
    await new Promise((r) => setTimeout(r, 400));
    alice.send({ type: 'message.send', ref: `again${i}`, payload: { toUserId: 'bob', tempId: `q${i}`, content: i === 9 ? 'refused' : `queued ${i}` } });
    const sent = await alice.next('message.sent', (f) => f.payload.tempId === `q${i}`);
    t.equal(sent.ref, `again${i}`);
  }
  t.equal(alice.of('error').filter((f) => f.error!.code === 'overloaded').length, 6, 'six refusals in all');
  await bob.collect('message.new', 9);
  await new Promise((r) => setTimeout(r, 200));
  t.same(
    bob.of('message.new').map((f) => f.payload.message.tempId),
    ['q1', 'q2', 'q3', 'q4', 'q5', 'q6', 'q7', 'q8', 'q9'],
    'nothing lost, nothing twice, in order',
  );
});
