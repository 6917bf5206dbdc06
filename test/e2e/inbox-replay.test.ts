import { randomBytes } from 'node:crypto';
import t from 'tap';
import { jetstream } from '@nats-io/jetstream';
import { DirectGets, DirectReader } from '../../gateway/direct-get.js';
import { InboxReplay } from '../../gateway/inbox-replay.js';
import { makeNames } from '../../lib/names.js';
import { connectNats, deleteStreams, ensureStreams, jetstreamManager } from '../../lib/nats.js';
import { testConfig, testLog } from '../helpers/system.js';

/**
 * The replay reader against a real inbox stream: reads that arrive together share one scan,
 * late reads are answered from what that scan kept, a lone read walks, and every answer is
 * exactly the user's entries in (afterSeq, untilSeq], in order.
 */
t.test('inbox replay: shared scan, answers from memory for late reads, walks for a lone one', async (t) => {
  const config = testConfig();
  const names = makeNames(config.prefix);
  const nc = await connectNats(config, 'test-replay', testLog);
  const jsm = await jetstreamManager(nc);
  await ensureStreams(jsm, names, config);
  t.teardown(async () => {
    await deleteStreams(jsm, names);
    await nc.close();
  });
  const js = jetstream(nc);
  const users = Array.from({ length: 60 }, (_, i) => `r${i}_${randomBytes(2).toString('hex')}`);
  const stored = new Map<string, number[]>(users.map((u) => [u, []]));
  // Ten rounds, one entry per user each: every user's entries are 60 apart in the stream.
  for (let round = 0; round < 10; round++) {
    const acks = await Promise.all(users.map((u) => js.publish(names.subjects.inbox(u), JSON.stringify({ type: 'test', payload: { round } }))));
    acks.forEach((ack, i) => stored.get(users[i]!)!.push(ack.seq));
  }
  const gets = new DirectGets(nc);
  const replay = new InboxReplay(nc, new DirectReader(gets, names.streams.inbox), testLog);
  t.teardown(() => {
    replay.close();
    gets.close();
  });
  const expect = (u: string, after: number, until: number) => stored.get(u)!.filter((s) => s > after && s <= until);
  const seqs = (entries: { seq: number }[]) => entries.map((e) => e.seq);

  // 50 users resume together from their round-2 entry (cursor) to their last entry.
  const storm = users.slice(0, 50);
  const answers = await Promise.all(storm.map((u) => replay.read(names.subjects.inbox(u), stored.get(u)![2]!, stored.get(u)![9]!)));
  storm.forEach((u, i) => t.same(seqs(answers[i]!), expect(u, stored.get(u)![2]!, stored.get(u)![9]!), `${u}: its entries after the cursor, in order`));
  t.equal(replay.served.scans, 1, 'one shared scan');
  t.equal(replay.served.walked, 0, 'nothing walked');

  // Stragglers a moment later, with somewhat older cursors: answered from what the scan kept.
  const late = users.slice(50, 58);
  const lateAnswers = await Promise.all(late.map((u) => replay.read(names.subjects.inbox(u), stored.get(u)![1]!, stored.get(u)![8]!)));
  late.forEach((u, i) => t.same(seqs(lateAnswers[i]!), expect(u, stored.get(u)![1]!, stored.get(u)![8]!), `${u} (late): exact range`));
  t.equal(replay.served.scans, 1, 'still one scan: the late reads came from memory');
  t.equal(replay.served.walked, 0);

  // A cursor older than anything the scan read is walked, and exact too.
  const lone = users[59]!;
  const loneAnswer = await replay.read(names.subjects.inbox(lone), 0, stored.get(lone)![9]!);
  t.same(seqs(loneAnswer), stored.get(lone), 'the whole inbox, by walking');
  t.equal(replay.served.walked, 1);

  // An unbounded read walks to whatever the inbox holds.
  const open = await replay.read(names.subjects.inbox(users[0]!), stored.get(users[0]!)![7]!, Number.POSITIVE_INFINITY);
  t.same(seqs(open), stored.get(users[0]!)!.slice(8));
});
