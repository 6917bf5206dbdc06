import t from 'tap';
import { MemoryCursorStore, StorageCursorStore, type CursorStore, type StorageLike } from '../../sdk/src/cursor-store.js';

/** localStorage's behaviour on a Map: strings in, strings (or null) out. */
class MapStorage implements StorageLike {
  readonly items = new Map<string, string>();
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, String(value));
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
}

/** What every cursor store does (one contract, run against each implementation). */
function contract(name: string, make: () => CursorStore & { clear(): void }) {
  t.test(`${name}: the cursor store contract`, async (t) => {
    const store = make();
    t.equal(await store.get(), undefined, 'empty at first: the server picks the start');
    await store.set(0);
    t.equal(await store.get(), 0, '0 is a cursor (replay the whole inbox), not "none"');
    await store.set(1042);
    t.equal(await store.get(), 1042);
    await store.set(7);
    t.equal(await store.get(), 7, 'it may move back (a session the server could not resume)');
    await store.set(Number.MAX_SAFE_INTEGER);
    t.equal(await store.get(), Number.MAX_SAFE_INTEGER, 'the largest exact seq survives');
    store.clear();
    t.equal(await store.get(), undefined, 'clear forgets it (sign-out)');
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      t.throws(() => store.set(bad), RangeError, `${bad} is refused`);
    }
    t.equal(await store.get(), undefined, 'a refused set changes nothing');
  });
}

contract('MemoryCursorStore', () => new MemoryCursorStore());
contract('StorageCursorStore', () => new StorageCursorStore(new MapStorage(), 'parley.cursor.u1'));

t.test('MemoryCursorStore starts from its initial cursor', async (t) => {
  t.equal(new MemoryCursorStore(5).get(), 5);
  t.throws(() => new MemoryCursorStore(-3), RangeError);
});

t.test('StorageCursorStore keeps the cursor in the storage, under its key only', async (t) => {
  const storage = new MapStorage();
  const alice = new StorageCursorStore(storage, 'parley.cursor.alice');
  const bob = new StorageCursorStore(storage, 'parley.cursor.bob');
  alice.set(12);
  bob.set(3);
  t.strictSame([...storage.items], [['parley.cursor.alice', '12'], ['parley.cursor.bob', '3']], 'a decimal string per user');
  t.equal(new StorageCursorStore(storage, 'parley.cursor.alice').get(), 12, 'a new store on the same storage (a reload) reads it back');
  alice.clear();
  t.equal(bob.get(), 3, "clearing one user's cursor leaves the other's");
});

t.test('StorageCursorStore reads a garbled entry as no cursor', async (t) => {
  const storage = new MapStorage();
  const store = new StorageCursorStore(storage, 'k');
  for (const raw of ['', 'abc', '-4', '1.5', '1e3', ' 12', '99999999999999999999']) {
    storage.items.set('k', raw);
    t.equal(store.get(), undefined, JSON.stringify(raw));
  }
  t.throws(() => new StorageCursorStore(storage, ''), RangeError, 'an empty key is refused');
});
