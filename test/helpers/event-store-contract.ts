/**
 * One contract for every EventStore (lib/event-store.ts), run against each implementation:
 * test/unit/event-store-memory.test.ts and test/e2e/event-store-jetstream.test.ts. The in-memory
 * twin is only worth its unit tests if it answers as JetStream does, so every rule here is checked
 * against the real server too.
 */
import type { Test } from 'tap';
import type { EventStore, StoredEvent } from '../../lib/event-store.js';

/** A fresh, empty store (torn down with `t`) and a way to name its streams. */
export type EventStoreFactory = (t: Test) => Promise<{ store: EventStore; stream(name: string): string }>;

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (event: StoredEvent | null) => (event ? new TextDecoder().decode(event.data) : null);

async function all(events: AsyncIterable<StoredEvent>): Promise<{ seq: number; subject: string; data: string | null }[]> {
  const out = [];
  for await (const e of events) out.push({ seq: e.seq, subject: e.subject, data: text(e) });
  return out;
}

export function eventStoreContract(t: Test, make: EventStoreFactory): void {
  t.test('the first append to a stream expects version 0', async (t) => {
    const { store, stream } = await make(t);
    const a = stream('a');
    t.strictSame(await store.append(a, bytes('one'), { expectedVersion: 0, idempotencyKey: 'k1' }), { kind: 'appended', seq: 1 });
    t.strictSame(await all(store.readAfter(a, 0)), [{ seq: 1, subject: a, data: 'one' }], 'read back as written');
    t.strictSame(await store.append(a, bytes('two'), { expectedVersion: 1, idempotencyKey: 'k2' }), { kind: 'appended', seq: 2 }, 'then its last sequence');
  });

  t.test('a stale or early expected version is a conflict and stores nothing', async (t) => {
    const { store, stream } = await make(t);
    const a = stream('a');
    t.strictSame(await store.append(a, bytes('x'), { expectedVersion: 3, idempotencyKey: 'early' }), { kind: 'conflict' }, 'expecting events an empty stream lacks');
    await store.append(a, bytes('one'), { expectedVersion: 0, idempotencyKey: 'k1' });
    await store.append(a, bytes('two'), { expectedVersion: 1, idempotencyKey: 'k2' });
    t.strictSame(await store.append(a, bytes('y'), { expectedVersion: 0, idempotencyKey: 'k3' }), { kind: 'conflict' }, 'expecting an empty stream');
    t.strictSame(await store.append(a, bytes('z'), { expectedVersion: 1, idempotencyKey: 'k4' }), { kind: 'conflict' }, 'expecting an older last event');
    t.strictSame((await all(store.readAfter(a, 0))).map((e) => e.data), ['one', 'two'], 'only the accepted appends are stored');
    t.equal(await store.bySeq(3), null, 'no sequence was used up');
    t.strictSame(await store.append(a, bytes('y'), { expectedVersion: 2, idempotencyKey: 'k3' }), { kind: 'appended', seq: 3 }, 'a conflicted key is not remembered');
  });

  t.test('two writers expecting the same version: one appends, the other conflicts', async (t) => {
    const { store, stream } = await make(t);
    const a = stream('a');
    await store.append(a, bytes('zero'), { expectedVersion: 0, idempotencyKey: 'k0' });
    const outcomes = await Promise.all([
      store.append(a, bytes('first'), { expectedVersion: 1, idempotencyKey: 'w1' }),
      store.append(a, bytes('second'), { expectedVersion: 1, idempotencyKey: 'w2' }),
    ]);
    t.strictSame(outcomes, [{ kind: 'appended', seq: 2 }, { kind: 'conflict' }], 'the first to arrive wins');
    t.strictSame((await all(store.readAfter(a, 0))).map((e) => e.data), ['zero', 'first']);
  });

  t.test('a repeated idempotency key is a duplicate: the original sequence, no new event', async (t) => {
    const { store, stream } = await make(t);
    const a = stream('a');
    await store.append(a, bytes('one'), { expectedVersion: 0, idempotencyKey: 'cmd-1' });
    await store.append(a, bytes('two'), { expectedVersion: 1, idempotencyKey: 'cmd-2' });
    t.strictSame(await store.append(a, bytes('one again'), { expectedVersion: 2, idempotencyKey: 'cmd-1' }), { kind: 'duplicate', seq: 1 });
    t.strictSame(
      await store.append(a, bytes('one again'), { expectedVersion: 0, idempotencyKey: 'cmd-1' }),
      { kind: 'duplicate', seq: 1 },
      'checked before the expected version: a redelivery behind the stream is still recognised',
    );
    t.strictSame(
      await store.append(stream('b'), bytes('elsewhere'), { expectedVersion: 0, idempotencyKey: 'cmd-2' }),
      { kind: 'duplicate', seq: 2 },
      'keys are store-wide, not per stream (the engine scopes them with the aggregate id)',
    );
    t.strictSame((await all(store.readAfter(a, 0))).map((e) => e.data), ['one', 'two'], 'nothing new stored');
    t.strictSame(await all(store.readAfter(stream('b'), 0)), []);
    t.equal(await store.bySeq(3), null);
  });

  t.test('reading a stream after a version and up to a sequence', async (t) => {
    const { store, stream } = await make(t);
    const a = stream('a');
    for (let i = 1; i <= 4; i++) await store.append(a, bytes(`e${i}`), { expectedVersion: i - 1, idempotencyKey: `k${i}` });
    t.strictSame((await all(store.readAfter(a, 2))).map((e) => e.seq), [3, 4], 'after a version: what came later');
    t.strictSame((await all(store.readAfter(a, 0, 2))).map((e) => e.seq), [1, 2], 'up to a sequence, inclusive');
    t.strictSame((await all(store.readAfter(a, 1, 3))).map((e) => e.data), ['e2', 'e3'], 'both bounds');
    t.strictSame(await all(store.readAfter(a, 4)), [], 'after the last: nothing');
    t.strictSame(await all(store.readAfter(stream('never'), 0)), [], 'a stream with no events');
  });

  t.test('one event by its sequence, whichever stream holds it', async (t) => {
    const { store, stream } = await make(t);
    const [a, b] = [stream('a'), stream('b')];
    await store.append(a, bytes('in a'), { expectedVersion: 0, idempotencyKey: 'ka' });
    await store.append(b, bytes('in b'), { expectedVersion: 0, idempotencyKey: 'kb' });
    const second = await store.bySeq(2);
    t.strictSame(second && { seq: second.seq, subject: second.subject, data: text(second) }, { seq: 2, subject: b, data: 'in b' });
    t.equal(text(await store.bySeq(1)), 'in a');
    t.equal(await store.bySeq(3), null, 'past the end: null');
  });

  t.test('streams are independent: one global sequence, a last sequence each', async (t) => {
    const { store, stream } = await make(t);
    const [a, b] = [stream('a'), stream('b')];
    t.strictSame(await store.append(a, bytes('a1'), { expectedVersion: 0, idempotencyKey: 'a1' }), { kind: 'appended', seq: 1 });
    t.strictSame(await store.append(b, bytes('b1'), { expectedVersion: 0, idempotencyKey: 'b1' }), { kind: 'appended', seq: 2 }, 'a new stream expects 0 whatever the others hold');
    t.strictSame(await store.append(a, bytes('a2'), { expectedVersion: 2, idempotencyKey: 'a2' }), { kind: 'conflict' }, "another stream's last sequence is not this one's");
    t.strictSame(await store.append(a, bytes('a2'), { expectedVersion: 1, idempotencyKey: 'a2' }), { kind: 'appended', seq: 3 });
    t.strictSame(await store.append(b, bytes('b2'), { expectedVersion: 2, idempotencyKey: 'b2' }), { kind: 'appended', seq: 4 });
    t.strictSame((await all(store.readAfter(a, 0))).map((e) => [e.seq, e.data]), [[1, 'a1'], [3, 'a2']], 'a read sees its own stream only');
    t.strictSame((await all(store.readAfter(b, 1))).map((e) => [e.seq, e.data]), [[2, 'b1'], [4, 'b2']], 'after a sequence of another stream');
  });
}
