import t from 'tap';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { JetStreamPublisher } from '../../lib/js-publisher.js';
import { testConfig } from '../helpers/system.js';

t.test('whenPendingBelow waits for acknowledgements, the way the delivery projector pauses taking events', async (t) => {
  const config = testConfig();
  const nc = await connect({ servers: config.natsUrl });
  const jsm = await jetstreamManager(nc);
  const stream = `${config.prefix.toUpperCase()}_PUB`;
  await jsm.streams.add({ name: stream, subjects: [`${config.prefix}.pub.>`] });
  const publisher = new JetStreamPublisher(nc);
  t.teardown(async () => {
    await publisher.close();
    await jsm.streams.delete(stream);
    await nc.close();
  });

  await t.resolves(publisher.whenPendingBelow(1), 'nothing pending: at once');
  const acked: number[] = [];
  for (let i = 0; i < 500; i++) void publisher.publish(`${config.prefix}.pub.${i % 10}`, new Uint8Array([i % 256])).then((a) => void acked.push(a.seq));
  t.equal(publisher.pending, 500, 'all 500 await their ack');
  const half = publisher.whenPendingBelow(250).then(() => publisher.pending);
  const none = publisher.whenPendingBelow(1).then(() => publisher.pending);
  t.ok((await half) < 250, 'the first waiter wakes once fewer than 250 are pending');
  t.equal(await none, 0, 'the second once none is');
  // The acks resolve their publishes in the same turn, after the waiter was woken.
  await new Promise((r) => setImmediate(r));
  t.equal(acked.length, 500, 'every publish acknowledged');
  t.equal((await jsm.streams.info(stream)).state.messages, 500);
});
