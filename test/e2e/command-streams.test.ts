// One work-queue stream per command partition (lib/names.ts commandStreams): made at start, an
// empty single command stream of earlier versions removed, a non-empty one refused, all deleted.
import t, { type Test } from 'tap';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { commandStreamNames, deleteStreams, ensureStreams } from '../../lib/nats.js';
import { makeNames } from '../../lib/names.js';
import { testConfig } from '../helpers/system.js';

/** A prefix of its own with `partitions` partitions; its streams are deleted when the test ends. */
async function isolated(t: Test, partitions: number) {
  const config = { ...testConfig(), partitions };
  const names = makeNames(config.prefix);
  const nc = await connect({ servers: config.natsUrl });
  const jsm = await jetstreamManager(nc);
  t.teardown(async () => {
    await deleteStreams(jsm, names);
    await nc.close();
  });
  return { config, names, nc, jsm };
}

t.test('a stream per partition, each with its partition subject only', async (t) => {
  const { config, names, nc, jsm } = await isolated(t, 3);
  await ensureStreams(jsm, names, config);
  t.same((await commandStreamNames(jsm, names)).sort(), [0, 1, 2].map(names.commandStreams.partition));
  for (let p = 0; p < 3; p++) {
    const info = await jsm.streams.info(names.commandStreams.partition(p));
    t.same(info.config.subjects, [names.subjects.command(p)], `partition ${p}: its subject only`);
    t.equal(info.config.retention, RetentionPolicy.Workqueue);
  }
  // A command lands in its partition's stream.
  const ack = await jetstream(nc).publish(names.subjects.command(1), '{}');
  t.equal(ack.stream, names.commandStreams.partition(1));

  // Fewer partitions later: the streams made before are still found, and deleted with the rest.
  await ensureStreams(jsm, names, { ...config, partitions: 2 });
  await deleteStreams(jsm, names);
  t.same(await commandStreamNames(jsm, names), [], 'every partition stream deleted');
  await t.rejects(jsm.streams.info(names.streams.events), /not found/i);
});

t.test('the single command stream of earlier versions: removed when empty, refused while it holds commands', async (t) => {
  const { config, names, nc, jsm } = await isolated(t, 2);
  await jsm.streams.add({ name: names.commandStreams.legacy, subjects: [names.subjects.commandsAll], retention: RetentionPolicy.Workqueue, storage: StorageType.File });
  await jetstream(nc).publish(names.subjects.command(0), '{"undecided":true}');

  await t.rejects(ensureStreams(jsm, names, config), new RegExp(`${names.commandStreams.legacy} .* still holds 1 undecided commands`));
  t.equal((await jsm.streams.info(names.commandStreams.legacy)).state.messages, 1, 'the command is kept');
  t.same(await commandStreamNames(jsm, names), [], 'no partition stream made beside it');

  await jsm.streams.purge(names.commandStreams.legacy); // what the earlier engine does by deciding it
  await ensureStreams(jsm, names, config);
  await t.rejects(jsm.streams.info(names.commandStreams.legacy), /not found/i, 'the empty one is removed');
  t.same((await commandStreamNames(jsm, names)).sort(), [0, 1].map(names.commandStreams.partition));
});
