import t from 'tap';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { startSystem } from '../helpers/system.js';
import { startRoleProcess } from '../helpers/processes.js';
import { TestClient } from '../helpers/client.js';
import { validateEvent } from '../../schemas/index.js';
import { makeNames } from '../../lib/names.js';

t.test('the event log is plain JSON that any NATS client reads, and matches the published schemas', async (t) => {
  const sys = await startSystem(t);
  const alice = await sys.connect('alice', { name: 'Alice' });
  alice.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: 'log-1', content: 'for the record' } });
  alice.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: 'log-2', content: 'and again' } });
  await alice.collect('message.sent', 2);

  // A client that knows nothing of Parley: plain nats.js, an ordered consumer over the stream.
  const nc = await connect({ servers: sys.config.natsUrl });
  t.teardown(() => nc.close());
  const names = makeNames(sys.config.prefix);
  const consumer = await jetstream(nc).consumers.get(names.streams.events);
  const events: any[] = [];
  const iter = await consumer.fetch({ max_messages: 10, expires: 2_000 });
  for await (const m of iter) events.push(m.json());
  t.same(events.map((e) => e.type), ['ConversationCreated', 'MessageSent', 'MessageSent']);
  for (const e of events) t.ok(validateEvent(e).ok, `${e.type} matches its schema`);
  t.equal(events[1].data.content, 'for the record');
  t.equal(events[1].data.sender.name, 'Alice');
  t.same(events.slice(1).map((e) => e.data.seq), [1, 2]);
  t.equal(events[0].data.kind, 'direct');
});

t.test('SIGTERM: the gateway closes sockets with 1001 and the process exits 0', async (t) => {
  const sys = await startSystem(t, {}, []);
  const proc = await startRoleProcess(t, 'all', sys.config);
  const token = await sys.token('leaver');
  const c = await TestClient.open(proc.url, { token });
  await c.next('connection.success');
  const exited = proc.kill('SIGTERM');
  t.equal((await c.closed).code, 1001);
  t.equal(await exited, 0);
});
