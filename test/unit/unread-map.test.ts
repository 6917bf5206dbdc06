import t from 'tap';
import { encodeJson } from '../../lib/json.js';
import { makeNames } from '../../lib/names.js';
import { readUnread, totalOf, unreadKey, unreadMapOf, type LastBySubject } from '../../lib/unread-map.js';

const names = makeNames('unit');

t.test('unreadKey: the user key of the unread bucket', async (t) => {
  t.equal(unreadKey(names, 'ann'), names.kv.key(names.buckets.unread, 'ann'));
  t.equal(unreadKey(names, 'ann'), '$KV.UNIT_UNREAD.ann');
});

t.test('unreadMapOf: no entry and an empty one (a deleted key) are no unread; otherwise the stored map', async (t) => {
  t.strictSame(unreadMapOf(null), {});
  t.strictSame(unreadMapOf({ data: new Uint8Array() }), {});
  t.strictSame(unreadMapOf({ data: encodeJson({ c1: 3, c2: 1 }) }), { c1: 3, c2: 1 });
});

t.test('readUnread: the last entry of the user key, through any reader of last-by-subject', async (t) => {
  const asked: string[] = [];
  const stored = new Map([[unreadKey(names, 'ann'), encodeJson({ c1: 2, c9: 5 })]]);
  const reader: LastBySubject = {
    last: async (subject) => {
      asked.push(subject);
      const data = stored.get(subject);
      return data ? { data } : null;
    },
  };
  const ann = await readUnread(reader, names, 'ann');
  t.strictSame(ann, { c1: 2, c9: 5 });
  t.equal(totalOf(ann), 7);
  t.strictSame(await readUnread(reader, names, 'bob'), {}, 'a user never counted has none');
  t.strictSame(asked, [unreadKey(names, 'ann'), unreadKey(names, 'bob')]);
});

t.test('totalOf: the sum of the counts', async (t) => {
  t.equal(totalOf({}), 0);
  t.equal(totalOf({ a: 1, b: 2, c: 3 }), 6);
});
