import t from 'tap';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startSystem } from '../helpers/system.js';
import { startRoleProcess } from '../helpers/processes.js';
import { makeNames } from '../../lib/names.js';
import { defaultConfig } from '../../lib/config.js';

t.test('SIGTERM an engine mid-burst: it finishes and acks what it holds; nothing is lost or left pending', async (t) => {
  const limits = { ...defaultConfig().limits, framesPerSecond: 100_000, frameBurst: 100_000 };
  const sys = await startSystem(t, { limits }, ['gateway', 'projector']);
  const engine = await startRoleProcess(t, 'engine', sys.config);
  const alice = await sys.connect('alice');
  const bob = await sys.connect('bob');
  const total = 400;
  for (let i = 0; i < total; i++) {
    alice.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: `s${i}`, content: `s${i}` } });
    if (i === 150) await new Promise((r) => setTimeout(r, 20));
    if (i === 200) engine.child.kill('SIGTERM');
  }
  t.equal(await engine.exited, 0, 'the engine exits 0 after a clean stop');

  const nc = await connect({ servers: sys.config.natsUrl });
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const names = makeNames(sys.config.prefix);
  let held = 0;
  for (let p = 0; p < sys.config.partitions; p++) {
    held += (await jsm.consumers.info(names.commandStreams.partition(p), names.consumers.enginePartition(p))).num_ack_pending;
  }
  // Commands still on the wire when the engine unsubscribed come back after ack_wait; the next
  // engine waits that out, so order holds. Everything the engine had started was finished and acked.
  t.comment(`commands left for redelivery after a clean stop: ${held}`);

  await startRoleProcess(t, 'engine', sys.config);
  const got = await bob.collect('message.new', total, 20_000).catch(async (err) => {
    for (let p = 0; p < sys.config.partitions; p++) {
      const i = await jsm.consumers.info(names.commandStreams.partition(p), names.consumers.enginePartition(p));
      t.comment(`p${p}: pending ${i.num_pending} ack_pending ${i.num_ack_pending} waiting ${i.num_waiting} redelivered ${i.num_redelivered} delivered ${i.delivered.stream_seq} floor ${i.ack_floor.stream_seq}`);
    }
    const d = await jsm.consumers.info(names.streams.events, names.consumers.deliveryPartition(0, sys.config.delivery.partitions));
    t.comment(`delivery: pending ${d.num_pending} ack_pending ${d.num_ack_pending} delivered ${d.delivered.stream_seq}`);
    t.comment(`alice got ${alice.of('message.sent').length} sent, ${alice.of('error').length} errors: ${JSON.stringify(alice.of('error').slice(0, 2))}`);
    throw err;
  });
  await new Promise((r) => setTimeout(r, 300));
  t.equal(bob.of('message.new').length, total, 'each message once');
  t.same(got.map((f) => f.payload.message.content), Array.from({ length: total }, (_, i) => `s${i}`), 'in order');
});
