import t from 'tap';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { startSystem } from '../helpers/system.js';
import { startRoleProcess } from '../helpers/processes.js';
import { makeNames } from '../../lib/names.js';
import { StreamReader } from '../../lib/stream-reader.js';
import { decodeJson } from '../../lib/json.js';
import { defaultConfig } from '../../lib/config.js';

t.test('a restarted engine starts cold conversations from a snapshot and decides exactly as before', async (t) => {
  const sys = await startSystem(t, { engine: { ...defaultConfig().engine, ackWaitMs: 2_000, snapshotEvery: 10 } }, ['gateway', 'projector']);
  const env = { PARLEY_SNAPSHOT_EVERY: '10' };
  let engine = await startRoleProcess(t, 'engine', sys.config, env);
  const alice = await sys.connect('alice');
  const bob = await sys.connect('bob');
  for (let i = 0; i < 35; i++) alice.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: `s${i}`, content: `s${i}` } });
  const sent = await alice.collect('message.sent', 35);
  const conversationId = sent[0]!.payload.message.conversationId;

  const nc = await connect({ servers: sys.config.natsUrl });
  t.teardown(() => nc.close());
  const names = makeNames(sys.config.prefix);
  const kv = new StreamReader(await jetstreamManager(nc), names.kv.stream(names.buckets.snapshots));
  const snapshotOf = async (owner: string) => {
    const entry = await kv.last(names.kv.key(names.buckets.snapshots, `${owner}-${conversationId}`));
    return entry ? decodeJson<{ version: number; lastMessageSeq: number; members: [string, string][] }>(entry.data) : undefined;
  };
  const engineSnapshot = await snapshotOf('engine');
  t.ok(engineSnapshot, 'the engine wrote a snapshot');
  t.ok(engineSnapshot!.lastMessageSeq >= 29, `it is recent (message seq ${engineSnapshot!.lastMessageSeq})`);
  t.same(engineSnapshot!.members.map(([u]) => u).sort(), ['alice', 'bob']);
  await bob.collect('message.new', 35);
  t.ok(await snapshotOf('delivery'), 'the delivery projector keeps its own');

  await engine.kill('SIGTERM');
  engine = await startRoleProcess(t, 'engine', sys.config, env);
  // A retry of a message decided before the snapshot is still known; a new one continues the seqs.
  alice.send({ type: 'message.send', ref: 'retry', payload: { toUserId: 'bob', tempId: 's3', content: 's3' } });
  const retried = await alice.next('message.sent', (f) => f.ref === 'retry');
  t.equal(retried.payload.message.id, sent[3]!.payload.message.id, 'same message as before the restart');
  alice.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: 'after', content: 'after' } });
  const after = await bob.next('message.new', (f) => f.payload.message.tempId === 'after');
  t.equal(after.payload.message.seq, 36);
  t.equal(bob.of('message.new').length, 36, 'nothing twice');
  // The snapshot carries who sent what: a message from before it can be edited and deleted.
  alice.send({ type: 'message.edit', ref: 'edit', payload: { conversationId, messageId: sent[3]!.payload.message.id, content: 's3, edited' } });
  t.equal((await bob.next('message.edited')).payload.content, 's3, edited');
  bob.send({ type: 'message.delete', ref: 'not-yours', payload: { conversationId, messageId: sent[3]!.payload.message.id } });
  t.equal((await bob.next('error', (f) => f.ref === 'not-yours')).error!.code, 'forbidden');
  alice.send({ type: 'message.delete', payload: { conversationId, messageId: sent[4]!.payload.message.id } });
  t.equal((await bob.next('message.deleted')).payload.seq, 5);
  await engine.kill('SIGTERM');
});
