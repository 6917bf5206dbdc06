import t from 'tap';
import { JetStreamEventStore } from '../../lib/jetstream-event-store.js';
import { JetStreamPublisher } from '../../lib/js-publisher.js';
import { connectNats, jetstreamManager } from '../../lib/nats.js';
import { StreamReader } from '../../lib/stream-reader.js';
import { eventStoreContract } from '../helpers/event-store-contract.js';
import { testConfig, testLog } from '../helpers/system.js';

/** The EventStore contract against the real server: each case on a stream of its own, deleted after. */
const config = testConfig();
const nc = await connectNats(config, 'event-store-test', testLog);
const jsm = await jetstreamManager(nc);
const publisher = new JetStreamPublisher(nc);
t.teardown(async () => {
  await publisher.close();
  await nc.close();
});

let streams = 0;
eventStoreContract(t, async (t) => {
  const n = ++streams;
  const name = `${config.prefix.toUpperCase()}_ES${n}`;
  const subjects = `${config.prefix}.es${n}`;
  // As the events stream is made (lib/nats.ts): Direct Get for reads, a duplicate window for keys.
  await jsm.streams.add({ name, subjects: [`${subjects}.>`], allow_direct: true, duplicate_window: 120_000_000_000 });
  t.teardown(() => jsm.streams.delete(name).then(() => undefined));
  return { store: new JetStreamEventStore(new StreamReader(jsm, name), publisher), stream: (s) => `${subjects}.${s}` };
});
