import t from 'tap';
import { MemoryEventStore } from '../../lib/memory-event-store.js';
import { eventStoreContract } from '../helpers/event-store-contract.js';

eventStoreContract(t, async () => ({ store: new MemoryEventStore(), stream: (name) => `es.${name}` }));

t.test('the memory store forgets an idempotency key after its duplicate window, as JetStream does', async (t) => {
  let now = 0;
  const store = new MemoryEventStore({ duplicateWindowMs: 1_000, now: () => now });
  const data = new Uint8Array([1]);
  t.strictSame(await store.append('s', data, { expectedVersion: 0, idempotencyKey: 'k' }), { kind: 'appended', seq: 1 });
  now = 999;
  t.strictSame(await store.append('s', data, { expectedVersion: 1, idempotencyKey: 'k' }), { kind: 'duplicate', seq: 1 }, 'inside the window');
  now = 1_000;
  t.strictSame(await store.append('s', data, { expectedVersion: 1, idempotencyKey: 'k' }), { kind: 'appended', seq: 2 }, 'after it: a new event');
  t.equal(store.lastSeq, 2);
});
