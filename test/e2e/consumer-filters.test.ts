// No durable consumer carries a filter subject: on nats-server 2.9 a filter, even one equal to the
// stream's subject, makes the recount of pending messages scan them (lib/durable-consumer.ts).
import t from 'tap';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, AckPolicy } from '@nats-io/jetstream';
import { commandStreamNames, deleteStreams, ensureStreams } from '../../lib/nats.js';
import { durableConsumer } from '../../lib/durable-consumer.js';
import { makeNames } from '../../lib/names.js';
import { ensurePostgresConsumer } from '../../projections/postgres/consumer.js';
import { startSystem, testConfig, testLog } from '../helpers/system.js';

t.test('a running system: engine, delivery and postgres consumers read whole streams', async (t) => {
  const sys = await startSystem(t);
  const alice = await sys.connect('alice');
  alice.send({ type: 'message.send', ref: 'r', payload: { toUserId: 'bob', tempId: 't1', content: 'hi' } });
  await alice.next('message.sent');
  const nc = await connect({ servers: sys.config.natsUrl });
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const names = makeNames(sys.config.prefix);
  const seen: string[] = [];
  for (const stream of [...(await commandStreamNames(jsm, names)), names.streams.events]) {
    for await (const c of jsm.consumers.list(stream)) {
      seen.push(c.name);
      t.notOk(c.config.filter_subject, `${stream} > ${c.name}: no filter`);
    }
  }
  t.ok(seen.includes('engine-p0') && seen.includes('delivery-p0-of-1') && seen.includes('postgres'), `consumers seen: ${seen.join(', ')}`);
});

t.test('consumers an earlier version made with a filter are made again without, from where they stood', async (t) => {
  const config = testConfig();
  const names = makeNames(config.prefix);
  const nc = await connect({ servers: config.natsUrl });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  t.teardown(async () => {
    await deleteStreams(jsm, names);
    await nc.close();
  });
  await ensureStreams(jsm, names, config);
  for (let i = 1; i <= 3; i++) await js.publish(names.subjects.conversationEvents(`c${i}`), `{"n":${i}}`);
  const stream = names.streams.events;
  const old = { ack_policy: AckPolicy.Explicit, filter_subject: names.subjects.eventsAll };

  // An explicit-ack durable (the EventStoreDB mirror's kind) that acked event 1.
  await jsm.consumers.add(stream, { durable_name: 'mirror-like', ...old });
  const first = await (await js.consumers.get(stream, 'mirror-like')).next();
  await first!.ackAck();
  const again = await durableConsumer(jsm, js, { stream, durable: 'mirror-like', ackWaitMs: 30_000, maxAckPending: 100 });
  t.notOk((await again.info()).config.filter_subject, 'made again without a filter');
  t.equal((await again.next())?.seq, 2, 'it goes on after its ack floor');

  // The postgres projector's consumer, with its checkpoint at 2.
  await jsm.consumers.add(stream, { durable_name: names.consumers.postgres, ...old, ack_policy: AckPolicy.All });
  const before = await jsm.consumers.info(stream, names.consumers.postgres);
  await ensurePostgresConsumer({ jsm, names, config, log: testLog, before, checkpoint: 2 });
  const pg = await js.consumers.get(stream, names.consumers.postgres);
  t.notOk((await pg.info()).config.filter_subject, 'postgres consumer made again without a filter');
  t.equal((await pg.next())?.seq, 3, 'from checkpoint + 1');
});
