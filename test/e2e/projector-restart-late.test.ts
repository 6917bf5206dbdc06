import t from 'tap';
import { connect, headers as natsHeaders } from '@nats-io/transport-node';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { defaultConfig } from '../../lib/config.js';
import { encodeJson } from '../../lib/json.js';
import { headers, makeNames } from '../../lib/names.js';
import { startSystem } from '../helpers/system.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A delivery projector that stopped holding unacked events, started again after the inbox's
 * duplicate window has passed: the entries it had already stored are not written a second time
 * (projections/delivery/stored-before.ts), and what it had not stored is.
 */
t.test('a projector back after the duplicate window writes only the entries it had not stored', async (t) => {
  const sys = await startSystem(t, { inbox: { ...defaultConfig().inbox, duplicateWindowSec: 1 } }, ['engine', 'gateway']);
  const names = makeNames(sys.config.prefix);
  const nc = await connect({ servers: sys.config.natsUrl });
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);

  const alice = await sys.connect('alice');
  alice.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: 'late1', content: 'hello' } });
  let last = 0;
  for (let i = 0; i < 100 && last === 0; i++) {
    last = (await jsm.streams.info(names.streams.events)).state.last_seq;
    if (last === 0) await sleep(50);
  }
  t.ok(last > 0, `the message is in the log (event ${last})`);

  // The stopped projector (of an earlier version: its one durable, which the partitions' durables
  // start from): it took every event, acked none, and stored bob's entry of the last one.
  await jsm.consumers.add(names.streams.events, { durable_name: names.consumers.delivery, ack_policy: AckPolicy.All });
  const taken = await (await js.consumers.get(names.streams.events, names.consumers.delivery)).fetch({ max_messages: last, expires: 2_000 });
  let n = 0;
  for await (const _m of taken) if (++n === last) break;
  t.equal(n, last, 'delivered, not acked');
  const hdrs = natsHeaders();
  hdrs.set(headers.msgId, `${last}:bob`);
  await js.publish(names.subjects.inbox('bob'), encodeJson({ type: 'message.new', payload: { marker: 'stored before the stop' }, eventSeq: last }), { headers: hdrs });
  await sleep(1_500); // past the duplicate window: nats-server no longer holds that id

  await sys.start('projector');
  const sent = await alice.next('message.sent', undefined, 10_000);
  t.equal(sent.payload.tempId, 'late1', "alice's own entry was written: the event was projected again");

  await sleep(300); // anything written twice would be stored by now
  const bobs: { msgId: string; data: string }[] = [];
  const stored = (await jsm.streams.info(names.streams.inbox, { subjects_filter: names.subjects.inbox('bob') })).state.subjects?.[names.subjects.inbox('bob')] ?? 0;
  const reader = await js.consumers.get(names.streams.inbox, { filter_subjects: names.subjects.inbox('bob') });
  for await (const m of await reader.fetch({ max_messages: stored, expires: 2_000 })) {
    bobs.push({ msgId: m.headers?.get(headers.msgId) ?? '', data: m.string() });
    if (bobs.length === stored) break;
  }
  const durables = [];
  for await (const c of jsm.consumers.list(names.streams.events)) if (names.consumers.isDelivery(c.name)) durables.push(c.name);
  t.same(durables, [names.consumers.deliveryPartition(0, 1)], "the earlier version's durable is gone, its partition's took over");
  const ofLast = bobs.filter((b) => b.msgId === `${last}:bob`);
  t.equal(ofLast.length, 1, "bob's entry of that event is in his inbox once");
  t.match(ofLast[0]?.data, /stored before the stop/, 'the one stored before the stop');
});
