import t from 'tap';
import { InboxWriter, type StoreEntry } from '../../projections/delivery/inbox-writer.js';
import { testLog } from '../helpers/system.js';

/**
 * The delivery projector's inbox writes (pure ordering logic; the store is a stand-in that says
 * which attempts fail): one inbox's entries are stored in the order written, a failed one is
 * retried before anything newer for that inbox, other inboxes do not wait, and a stop gives up
 * without storing anything behind what it gave up.
 */

const bytes = new Uint8Array([1]);
const retryMs = { first: 1, last: 4 };

/** A store that fails the first `failures.get(msgId)` attempts of a write, recording what it stored in order. */
function flakyStore(failures: Map<string, number>) {
  const stored: string[] = [];
  const attempts: string[] = [];
  const store: StoreEntry = async (_subject, _bytes, msgId) => {
    attempts.push(msgId);
    await new Promise((r) => setImmediate(r));
    const left = failures.get(msgId) ?? 0;
    if (left > 0) {
      failures.set(msgId, left - 1);
      throw new Error(`fails: ${msgId}`);
    }
    stored.push(msgId);
  };
  return { store, stored, attempts };
}

t.test("a failed write is retried in place: the inbox's newer entries wait for it, other inboxes do not", async (t) => {
  const { store, stored, attempts } = flakyStore(new Map([['5:bob', 2]]));
  const writer = new InboxWriter(store, { log: testLog, retryMs });
  const writes = [
    writer.write('bob', 'in.bob', bytes, '5:bob'),
    writer.write('ann', 'in.ann', bytes, '5:ann'),
    writer.write('bob', 'in.bob', bytes, '6:bob'),
    writer.write('ann', 'in.ann', bytes, '6:ann'),
  ];
  await Promise.all(writes);
  t.strictSame(
    stored.filter((m) => m.endsWith(':bob')),
    ['5:bob', '6:bob'],
    "bob's inbox in log order although 5 failed twice",
  );
  t.ok(stored.indexOf('6:ann') < stored.indexOf('5:bob'), "ann's entries did not wait for bob's retries");
  t.equal(attempts.filter((m) => m === '5:bob').length, 3, 'two failures, then stored');
  t.equal(attempts.indexOf('6:bob'), attempts.length - 1, "bob's 6 was not even attempted before his 5 was stored");
  t.equal(writer.queued, 0);
});

t.test('writes are queued until stored: whenQueuedBelow waits for them', async (t) => {
  const { store } = flakyStore(new Map([['1:bob', 1]]));
  const writer = new InboxWriter(store, { log: testLog, retryMs });
  const all = [1, 2, 3].map((n) => writer.write('bob', 'in.bob', bytes, `${n}:bob`));
  t.equal(writer.queued, 3);
  await writer.whenQueuedBelow(1);
  t.equal(writer.queued, 0);
  await Promise.all(all);
});

t.test("a stop gives up a failing write, and nothing behind it for that inbox is stored; a healthy inbox drains", async (t) => {
  const { store, stored, attempts } = flakyStore(new Map([['7:bob', Number.POSITIVE_INFINITY]]));
  const writer = new InboxWriter(store, { log: testLog, retryMs: { first: 50, last: 50 } });
  const bob7 = writer.write('bob', 'in.bob', bytes, '7:bob');
  const bob8 = writer.write('bob', 'in.bob', bytes, '8:bob');
  const ann7 = writer.write('ann', 'in.ann', bytes, '7:ann');
  await new Promise((r) => setTimeout(r, 20));
  writer.stop();
  const [r7, r8, a7] = await Promise.allSettled([bob7, bob8, ann7]);
  t.equal(r7.status, 'rejected', 'the failing write is given up');
  t.equal(r8.status, 'rejected', 'the one behind it too');
  t.equal(a7.status, 'fulfilled', 'another inbox is not affected');
  t.notOk(attempts.includes('8:bob'), 'and it was never attempted');
  t.strictSame(stored, ['7:ann']);
  const later = await Promise.allSettled([writer.write('bob', 'in.bob', bytes, '9:bob')]);
  t.equal(later[0]!.status, 'rejected', 'nor anything written to that inbox after the stop');
});
