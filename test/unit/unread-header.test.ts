import t from 'tap';
import fc from 'fast-check';
import { formatUnreadHeader, parseUnreadHeader } from '../../lib/unread-header.js';
import { UnreadFrames } from '../../gateway/unread-frames.js';
import { InboxWriter, type StoreEntry } from '../../projections/delivery/inbox-writer.js';
import type { Connection } from '../../gateway/connection.js';
import { testLog } from '../helpers/system.js';

/**
 * The unread count an inbox entry carries (Parley-Unread): what the projector writes the gateway
 * reads back, and nothing else parses; the gateway's per-socket window of unread.update frames;
 * the inbox writer waiting for a count before the entry (and only that inbox waiting).
 */

const idChars = fc.constantFrom(...'abcXYZ019_-'.split(''));
const conversationId = fc.string({ unit: idChars, minLength: 1, maxLength: 128 });

t.test('a count round-trips through the header', async (t) => {
  fc.assert(
    fc.property(conversationId, fc.nat(10_000), fc.nat(10_000), (id, unread, more) => {
      const count = { conversationId: id, unread, totalUnread: unread + more };
      t.same(parseUnreadHeader(formatUnreadHeader(count)), count);
    }),
  );
});

t.test('a hostile or broken header is no count, and never throws', async (t) => {
  const hostile = [undefined, '', 'c1', 'c1:1', 'c1:1:2:3', 'c.1:1:2', 'c 1:1:2', 'c1:-1:2', 'c1:2:1', 'c1:1e3:2000', 'c1:1:99999999999999999', `${'a'.repeat(129)}:1:1`, 'c1\0:1:1', 'c1:1\0:1', '\ud800:1:1', 'c1:1:1\udc00', 'c1:0x1:2', 'c1:1.5:2', 'c1:Infinity:Infinity', 'c1:1:2\n'];
  for (const bad of hostile) t.equal(parseUnreadHeader(bad), undefined, JSON.stringify(bad));
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.stringMatching(/^[a-z0-9_:-]{1,40}$/)), (value) => {
      const parsed = parseUnreadHeader(value);
      if (parsed === undefined) return;
      // Whatever parses is a count the gateway can send: an id, whole numbers, unread within the total.
      t.match(parsed.conversationId, /^[A-Za-z0-9_-]{1,128}$/);
      t.ok(Number.isSafeInteger(parsed.unread) && Number.isSafeInteger(parsed.totalUnread) && parsed.unread <= parsed.totalUnread, value);
      t.strictSame(parseUnreadHeader(formatUnreadHeader(parsed)), parsed);
    }),
  );
});

/** A socket stand-in: what it was sent, and in which socket writes (corks). */
function fakeConnection() {
  const writes: object[][] = [];
  let corked: object[] | undefined;
  const conn = {
    closed: false,
    unreadSentAt: Number.NEGATIVE_INFINITY,
    ws: {
      cork(fn: () => void) {
        corked = [];
        fn();
        writes.push(corked);
        corked = undefined;
      },
    },
    send(frame: object) {
      if (corked) corked.push(frame);
      else writes.push([frame]);
    },
  };
  return { conn: conn as unknown as Connection, writes };
}

const count = (conversationId: string, unread: number, totalUnread: number) => ({ conversationId, unread, totalUnread });
const frame = (c: ReturnType<typeof count>) => ({ type: 'unread.update', payload: c });

t.test('unread.update: the first in a window goes at once, later ones wait and only the latest per conversation goes', async (t) => {
  const frames = new UnreadFrames(50);
  const { conn, writes } = fakeConnection();
  frames.offer(conn, count('c1', 1, 1), 1_000);
  t.same(writes, [[frame(count('c1', 1, 1))]], 'at once');
  frames.offer(conn, count('c1', 2, 2), 1_010);
  frames.offer(conn, count('c2', 1, 3), 1_020);
  frames.offer(conn, count('c1', 3, 4), 1_030);
  t.equal(writes.length, 1, 'held within the window');
  frames.flush(1_050);
  t.same(writes[1], [frame(count('c2', 1, 3)), frame(count('c1', 3, 4))], 'one write, the latest of each, newest total last');
  frames.offer(conn, count('c1', 4, 5), 1_060);
  t.equal(writes.length, 2, 'the flush opened a new window');
  frames.offer(conn, count('c1', 5, 6), 1_200);
  t.equal(writes.length, 2, 'still held behind the one before');
  frames.flush(1_210);
  t.same(writes[2], [frame(count('c1', 5, 6))]);
  frames.offer(conn, count('c1', 6, 7), 1_300);
  t.same(writes[3], [frame(count('c1', 6, 7))], 'a quiet socket gets the next one at once');
  frames.stop();
});

t.test('unread.update: nothing is sent to a socket that closed while its counts were held', async (t) => {
  const frames = new UnreadFrames(50);
  const { conn, writes } = fakeConnection();
  frames.offer(conn, count('c1', 1, 1), 0);
  frames.offer(conn, count('c1', 2, 2), 10);
  (conn as { closed: boolean }).closed = true;
  frames.flush(50);
  t.equal(writes.length, 1);
  frames.stop();
});

t.test('the inbox writer stores an entry with its count once the count is known; other inboxes do not wait', async (t) => {
  const stored: [string, string | undefined][] = [];
  const store: StoreEntry = async (_subject, _bytes, msgId, unread) => void stored.push([msgId, unread]);
  const writer = new InboxWriter(store, { log: testLog });
  let release!: (v: string | undefined) => void;
  const slowCount = new Promise<string | undefined>((r) => (release = r));
  const bytes = new Uint8Array([1]);
  const bob1 = writer.write('bob', 'in.bob', bytes, '1:bob', slowCount);
  const bob2 = writer.write('bob', 'in.bob', bytes, '2:bob');
  await writer.write('ann', 'in.ann', bytes, '1:ann', Promise.resolve('c:1:1'));
  t.same(stored, [['1:ann', 'c:1:1']], 'ann did not wait for bob');
  release('c:2:5');
  await Promise.all([bob1, bob2]);
  t.same(stored.slice(1), [['1:bob', 'c:2:5'], ['2:bob', undefined]], "bob's entries in order, the first with its count");
  await writer.write('cid', 'in.cid', bytes, '1:cid', Promise.reject(new Error('counts not loadable')));
  t.same(stored.at(-1), ['1:cid', undefined], 'a count that cannot be had leaves the entry without one');
});
