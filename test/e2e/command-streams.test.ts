// One stream per command partition (lib/names.ts commandStreams), kept by count and age: made at
// start, an empty single command stream of earlier versions removed, a non-empty one refused, a
// partition work queue of earlier versions made again once empty, all deleted.
import t, { type Test } from 'tap';
import { connect } from '@nats-io/transport-node';
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { commandStreamNames, deleteStreams, ensureStreams, undecidedCommands } from '../../lib/nats.js';
import { makeNames } from '../../lib/names.js';
import { encodeJson } from '../../lib/json.js';
import { commandPartition } from '../../lib/partition.js';
import { buildSendMessage } from '../../gateway/commands.js';
import { startSystem, testConfig } from '../helpers/system.js';

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
    t.equal(info.config.retention, RetentionPolicy.Limits);
    t.equal(info.config.max_msgs, 2 * config.limits.maxCommandBacklog, 'room for twice the backlog admission allows');
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

t.test('a partition work queue of earlier versions: made again when empty, kept (and counted) while it holds commands', async (t) => {
  const { config, names, nc, jsm } = await isolated(t, 2);
  for (let p = 0; p < 2; p++) {
    await jsm.streams.add({ name: names.commandStreams.partition(p), subjects: [names.subjects.command(p)], retention: RetentionPolicy.Workqueue, storage: StorageType.File });
  }
  await jetstream(nc).publish(names.subjects.command(1), '{"undecided":true}');

  await ensureStreams(jsm, names, config);
  t.equal((await jsm.streams.info(names.commandStreams.partition(0))).config.retention, RetentionPolicy.Limits, 'the empty one is made again');
  const kept = await jsm.streams.info(names.commandStreams.partition(1));
  t.equal(kept.config.retention, RetentionPolicy.Workqueue, 'the one holding a command stays a work queue');
  t.equal(kept.state.messages, 1, 'its command is kept');
  t.equal(await undecidedCommands(jsm, names), 1, 'and counted as undecided');

  await jsm.streams.purge(names.commandStreams.partition(1)); // what the engine does by deciding it
  await ensureStreams(jsm, names, config);
  t.equal((await jsm.streams.info(names.commandStreams.partition(1))).config.retention, RetentionPolicy.Limits, 'made again at the next start');
});

t.test('undecided commands: what the engine consumer has not acked, not what the stream keeps', async (t) => {
  const { config, names, nc, jsm } = await isolated(t, 1);
  await ensureStreams(jsm, names, config);
  const js = jetstream(nc);
  for (let i = 0; i < 5; i++) await js.publish(names.subjects.command(0), `{"n":${i}}`);
  t.equal(await undecidedCommands(jsm, names), 5, 'no consumer yet: all of them');
  const stream = names.commandStreams.partition(0);
  await jsm.consumers.add(stream, { durable_name: names.consumers.enginePartition(0), ack_policy: AckPolicy.All });
  const consumer = await js.consumers.get(stream, names.consumers.enginePartition(0));
  const batch = await consumer.fetch({ max_messages: 3, expires: 2_000 });
  let last: { ack(): void } | undefined;
  for await (const m of batch) last = m;
  last!.ack();
  await nc.flush();
  t.equal(await undecidedCommands(jsm, names), 2, 'three decided and acked (one ack for all three)');
  t.equal((await jsm.streams.info(stream)).state.messages, 5, 'the stream keeps the decided ones');
});

t.test('the engine decides what a work queue of an earlier version still holds, acking each, and the next start makes it a stream like the others', async (t) => {
  const config = testConfig();
  const names = makeNames(config.prefix);
  const nc = await connect({ servers: config.natsUrl });
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  for (let p = 0; p < config.partitions; p++) {
    await jsm.streams.add({ name: names.commandStreams.partition(p), subjects: [names.subjects.command(p)], retention: RetentionPolicy.Workqueue, storage: StorageType.File });
  }
  // A send left undecided by the earlier version.
  const built = buildSendMessage({ toUserId: 'bob', tempId: 'left-over', content: 'from before the upgrade' }, { identity: { userId: 'alice', expiresAt: Date.now() + 60_000 }, now: Date.now() });
  if (!built.ok) throw new Error(built.message);
  const partition = commandPartition(built.command, config.partitions);
  await jetstream(nc).publish(names.subjects.command(partition), encodeJson(built.command));

  await startSystem(t, config);
  const wq = names.commandStreams.partition(partition);
  let info = await jsm.streams.info(wq);
  t.equal(info.config.retention, RetentionPolicy.Workqueue, 'holding a command at start, it stayed a work queue');
  for (let i = 0; i < 100 && info.state.messages > 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
    info = await jsm.streams.info(wq);
  }
  t.equal(info.state.messages, 0, 'decided and acked: the work queue removed it');
  const events = await jsm.streams.info(names.streams.events);
  t.ok(events.state.messages >= 1, 'its events are in the log');
  t.equal(await undecidedCommands(jsm, names), 0, 'nothing undecided');

  await ensureStreams(jsm, names, config);
  t.equal((await jsm.streams.info(wq)).config.retention, RetentionPolicy.Limits, 'empty now: made again at the next start');
});
