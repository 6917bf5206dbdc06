import t from 'tap';
import type { Socket } from 'node:net';
import { connect } from '@nats-io/transport-node';
import { writeCoalescer } from '../../lib/write-coalescing.js';
import { testConfig } from '../helpers/system.js';

/** Publishes `n` messages one `await` apart within one turn; returns the socket's physical writes and what arrived. */
async function burst(coalesce: boolean, n: number, maxHeld?: number): Promise<{ writes: number; received: number }> {
  const config = testConfig();
  const nc = await connect({ servers: config.natsUrl });
  const sub = await connect({ servers: config.natsUrl });
  try {
    const subject = `${config.prefix}.coalesce`;
    let received = 0;
    sub.subscribe(subject, { callback: () => void received++ });
    await sub.flush();
    const socket = (nc as unknown as { protocol: { transport: { socket: Socket } } }).protocol.transport.socket;
    const internal = socket as unknown as { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
    let writes = 0;
    const write = internal._write.bind(socket);
    const writev = internal._writev.bind(socket);
    internal._write = (...a) => (writes++, write(...a));
    internal._writev = (...a) => (writes++, writev(...a));
    const cork = writeCoalescer(nc, maxHeld);
    for (let i = 0; i < n; i++) {
      if (coalesce) cork();
      nc.publish(subject, `m${i}`);
      await Promise.resolve(); // nats.js flushes in a microtask: each await lets it
      await Promise.resolve();
    }
    await nc.flush();
    await sub.flush();
    const until = Date.now() + 2_000;
    while (received < n && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    return { writes, received };
  } finally {
    await nc.close();
    await sub.close();
  }
}

t.test("a turn's NATS writes leave as one socket write, and all arrive", async (t) => {
  const plain = await burst(false, 50);
  const coalesced = await burst(true, 50);
  t.equal(plain.received, 50);
  t.equal(coalesced.received, 50, 'nothing held back or lost');
  t.ok(plain.writes >= 25, `without it: ${plain.writes} writes for 50 messages`);
  t.ok(coalesced.writes <= 3, `with it: ${coalesced.writes} writes (the burst and the flush ping together)`);
});

t.test('with maxHeld, a long turn lets its writes go every maxHeld publishes', async (t) => {
  const held = await burst(true, 50, 10);
  t.equal(held.received, 50, 'nothing held back or lost');
  // 50 publishes in one turn: five writes of ten (the last with the flush ping), give or take one.
  t.ok(held.writes >= 4 && held.writes <= 7, `${held.writes} writes for 50 messages with maxHeld 10`);
});
