import t from 'tap';
import { startSystem } from '../helpers/system.js';
import { startRoleProcess } from '../helpers/processes.js';

t.test('kill -9 the engine mid-stream and while commands queue: every message is decided once it is back', async (t) => {
  // Gateway and delivery projector in this process; the engine in a child process we can kill.
  const sys = await startSystem(t, {}, ['gateway', 'projector']);
  let engine = await startRoleProcess(t, 'engine', sys.config);
  const alice = await sys.connect('alice');
  const bob = await sys.connect('bob');

  const total = 300;
  let sentCount = 0;
  const sendSome = async (n: number, pauseMs: number) => {
    for (let i = 0; i < n; i++, sentCount++) {
      alice.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: `k${sentCount}`, content: `n${sentCount}` } });
      if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
    }
  };
  await sendSome(100, 2);
  await engine.kill('SIGKILL'); // mid-stream: some commands decided, some in flight, some queued
  await sendSome(100, 0); // queued on the command stream while no engine runs
  await new Promise((r) => setTimeout(r, 300));
  t.ok(bob.of('message.new').length < total, 'nothing is decided while the engine is down');
  engine = await startRoleProcess(t, 'engine', sys.config);
  await sendSome(100, 1);

  const received = await bob.collect('message.new', total, 30_000);
  const acked = await alice.collect('message.sent', total, 30_000);
  await new Promise((r) => setTimeout(r, 500));
  const contents = bob.of('message.new').map((f) => f.payload.message.content as string);
  t.equal(new Set(contents).size, total, 'every message delivered');
  t.equal(contents.length, total, 'none delivered twice');
  t.equal(alice.of('message.sent').length, total, 'every send acknowledged once');
  t.same(
    received.map((f) => f.payload.message.seq),
    Array.from({ length: total }, (_, i) => i + 1),
    'per-conversation seqs are consecutive and in order',
  );
  t.same(
    acked.map((f) => f.payload.tempId),
    Array.from({ length: total }, (_, i) => `k${i}`),
    'decided in the order they were sent',
  );
  await engine.kill('SIGTERM');
});
