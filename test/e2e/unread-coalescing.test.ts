import t, { type Test } from 'tap';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { ensureStreams, deleteStreams } from '../../lib/nats.js';
import { makeNames } from '../../lib/names.js';
import { decodeJson } from '../../lib/json.js';
import { JetStreamPublisher } from '../../lib/js-publisher.js';
import { StreamReader } from '../../lib/stream-reader.js';
import { LiveUnreadUpdates } from '../../projections/delivery/live-unread.js';
import { UnreadTotals } from '../../projections/delivery/unread-totals.js';
import { readUnread } from '../../lib/unread-map.js';
import { testConfig } from '../helpers/system.js';

/** A prefix of its own with the streams and buckets, a publisher, and the unread bucket to read back; removed at teardown. */
async function unreadBucket(t: Test) {
  const config = testConfig();
  const names = makeNames(config.prefix);
  const nc = await connect({ servers: config.natsUrl });
  const jsm = await jetstreamManager(nc);
  await ensureStreams(jsm, names, config);
  const publisher = new JetStreamPublisher(nc);
  t.teardown(async () => {
    await publisher.close();
    await deleteStreams(jsm, names);
    await nc.close();
  });
  return { names, nc, jsm, publisher, kvStream: names.kv.stream(names.buckets.unread) };
}

t.test('unread counts: a burst becomes one KV write per user and one live frame per conversation', async (t) => {
  const { names, nc, jsm, publisher, kvStream } = await unreadBucket(t);
  const kv = new StreamReader(jsm, kvStream);
  const totals = new UnreadTotals(kv, publisher, names, 100, 50);
  const live = new LiveUnreadUpdates(nc, names, 50);
  const frames: { conversationId: string; unread: number; totalUnread: number }[] = [];
  const sub = nc.subscribe(names.subjects.ephemeral('ann'), {
    callback: (_e, m) => {
      frames.push(decodeJson<{ payload: (typeof frames)[0] }>(m.data).payload);
    },
  });
  t.teardown(() => sub.unsubscribe());

  // 30 messages into two conversations within one flush window.
  const stored: Promise<unknown>[] = [];
  for (let i = 1; i <= 30; i++) {
    const conversationId = i % 3 === 0 ? 'c2' : 'c1';
    const value = i % 3 === 0 ? i / 3 : i - Math.floor(i / 3);
    const changed = await totals.set('ann', conversationId, value);
    t.ok(changed, `change ${i} is a change`);
    stored.push(changed!.stored);
    live.queue('ann', { conversationId, unread: value, totalUnread: changed!.total });
  }
  await Promise.all(stored);
  t.equal((await jsm.streams.info(kvStream)).state.messages, 1, 'one KV revision for the whole burst');
  t.same(await readUnread(kv, names, 'ann'), { c1: 20, c2: 10 }, 'holding the latest counts');

  await t.resolves(new Promise<void>((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error('no frames')), 2_000);
    const poll = setInterval(() => {
      if (frames.length >= 2) {
        clearInterval(poll);
        clearTimeout(deadline);
        setTimeout(resolve, 150);
      }
    }, 10);
  }));
  t.same(
    frames,
    [
      { conversationId: 'c1', unread: 20, totalUnread: 29 },
      { conversationId: 'c2', unread: 10, totalUnread: 30 },
    ],
    'one frame per conversation, the newest last with the current total',
  );

  // Unchanged counts are not written again; a later change is a new write.
  t.equal(await totals.set('ann', 'c1', 20), null);
  const later = await totals.set('ann', 'c1', 0);
  await later!.stored;
  t.same(await readUnread(kv, names, 'ann'), { c2: 10 });
});

t.test('two projectors writing one user: each sets its own conversations, neither count is lost', async (t) => {
  const { names, jsm, publisher, kvStream } = await unreadBucket(t);
  const kv = new StreamReader(jsm, kvStream);
  const a = new UnreadTotals(kv, publisher, names, 100, 20);
  const b = new UnreadTotals(kv, publisher, names, 100, 20);
  // Both hold ann's (empty) map before either writes: each one's first write expects revision 0.
  t.same([await a.get('ann'), await b.get('ann')], [{}, {}]);
  const [ca, cb] = await Promise.all([a.set('ann', 'c1', 3), b.set('ann', 'c2', 5)]);
  await Promise.all([ca!.stored, cb!.stored]);
  t.same(await readUnread(kv, names, 'ann'), { c1: 3, c2: 5 }, 'the second write read the first and kept it');

  // A's copy is stale now (B wrote last): its next write merges again.
  const again = await a.set('ann', 'c1', 4);
  await again!.stored;
  t.same(await readUnread(kv, names, 'ann'), { c1: 4, c2: 5 });
  t.equal(await a.get('ann').then((m) => m.c2), 5, "A's cache holds B's count after the merge");
  const cleared = await b.set('ann', 'c2', 0);
  await cleared!.stored;
  t.same(await readUnread(kv, names, 'ann'), { c1: 4 }, "B's count back to 0, A's kept");
});
