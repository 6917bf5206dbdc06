import t from 'tap';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { headers, makeNames } from '../../lib/names.js';
import { decodeJson } from '../../lib/json.js';
import { startSystem } from '../helpers/system.js';

/**
 * Unread counts ride on the inbox entry that changed them (header Parley-Unread): the gateway sends
 * unread.update right behind the entry, nothing goes on the user's ephemeral subject, and a burst
 * is coalesced to the latest count without losing it. Only the actor's copy keeps the origin.
 */
t.test('an unread count comes with its entry, not as a publish of its own', async (t) => {
  const sys = await startSystem(t);
  const names = makeNames(sys.config.prefix);
  const nc = await connect({ servers: sys.config.natsUrl });
  t.teardown(() => nc.close());
  const ephemeral: string[] = [];
  nc.subscribe(names.subjects.ephemeral('bob'), { callback: (_e, m) => void ephemeral.push(decodeJson<{ type: string }>(m.data).type) });

  const alice = await sys.connect('alice');
  const bob = await sys.connect('bob');
  alice.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: 'u1', content: 'one' } });
  const first = await bob.next('message.new');
  const conversationId = first.payload.message.conversationId;
  const update = await bob.next('unread.update');
  t.same(update.payload, { conversationId, unread: 1, totalUnread: 1 });
  t.equal(bob.frames.indexOf(update), bob.frames.indexOf(first) + 1, 'right behind its entry');

  const jsm = await jetstreamManager(nc);
  const stored = await jsm.streams.getMessage(names.streams.inbox, { last_by_subj: names.subjects.inbox('bob') });
  t.equal(stored?.header.get(headers.unread), `${conversationId}:1:1`, 'the stored entry carries the count');
  const own = await jsm.streams.getMessage(names.streams.inbox, { last_by_subj: names.subjects.inbox('alice') });
  t.equal(own?.header.get(headers.unread), '', "the sender's own copy carries none (no count of hers changed)");
  t.ok(decodeJson<{ origin?: unknown }>(own!.data).origin, "the sender's copy keeps the origin (message.sent and ref go by it)");
  t.equal(decodeJson<{ origin?: unknown }>(stored!.data).origin, undefined, "the recipient's copy goes without it");

  // A burst: counts within the gateway's window are held and the latest goes.
  for (let i = 2; i <= 6; i++) alice.send({ type: 'message.send', payload: { conversationId, tempId: `u${i}`, content: `m${i}` } });
  await bob.collect('message.new', 6);
  const last = await bob.next('unread.update', (f) => f.payload.unread === 6);
  t.same(last.payload, { conversationId, unread: 6, totalUnread: 6 });
  const counts = bob.of('unread.update').map((f) => f.payload.unread as number);
  t.same([...counts].sort((a, b) => a - b), counts, 'counts only go up, in order');
  t.ok(counts.length <= 6, `at most one per message (${counts.length})`);

  // Reading brings it to 0 on the read_ack's entry.
  bob.send({ type: 'message.read', payload: { conversationId } });
  await bob.next('message.read_ack');
  const zero = await bob.next('unread.update', (f) => f.payload.unread === 0);
  t.same(zero.payload, { conversationId, unread: 0, totalUnread: 0 });
  await nc.flush();
  t.same(ephemeral.filter((type) => type === 'unread.update'), [], 'no unread.update was published on the ephemeral subject');
});
