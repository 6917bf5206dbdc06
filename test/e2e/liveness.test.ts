import t from 'tap';
import { connectNats } from '../../lib/nats.js';
import { ReaderLiveness } from '../../lib/liveness.js';
import { startSystem, testConfig, testLog } from '../helpers/system.js';

/**
 * A nats.js connection whose subscription callback throws stops reading for good, yet stays
 * "connected" (issue 12, C4: nobody received anything, and /health said ok). These tests make that
 * very failure happen and show it is seen.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// The system's stop at teardown, on a connection that no longer reads, waits out one NATS timeout
// after another (~100 s alone: issue 18's note); the test is about /health, not that stop.
t.setTimeout(240_000);

t.test('ReaderLiveness: a reader killed by a throwing callback is seen as dead', async (t) => {
  const nc = await connectNats(testConfig(), 'liveness-test', testLog);
  t.teardown(() => nc.close().catch(() => undefined));
  const liveness = new ReaderLiveness(nc, { everyMs: 100, deadMs: 500 });
  t.teardown(() => liveness.stop());
  const subject = `liveness.${Date.now()}`;
  nc.subscribe(subject, {
    callback: () => {
      throw new Error('a callback that throws');
    },
  });
  await sleep(400);
  t.equal(liveness.alive, true, 'alive while the reader reads');
  nc.publish(subject, 'x');
  await sleep(1_200);
  t.equal(liveness.alive, false, 'dead once the reader is gone');
  t.equal(nc.isClosed(), false, 'although the connection still looks open');
});

t.test("/health says degraded when the gateway's NATS reader dies", async (t) => {
  const sys = await startSystem(t);
  const health = () => fetch(sys.url.replace('ws://', 'http://').replace('/ws', '/health'));
  t.equal((await health()).status, 200);
  const nc = sys.running[0]!.nc;
  const subject = `liveness.${Date.now()}`;
  nc.subscribe(subject, {
    callback: () => {
      throw new Error('a callback that throws');
    },
  });
  nc.publish(subject, 'x');
  const deadline = Date.now() + 15_000;
  let last: { status: string; nats: { connected: boolean } } | undefined;
  while (Date.now() < deadline) {
    const res = await health();
    last = await res.json();
    if (res.status === 503) break;
    await sleep(250);
  }
  t.equal(last?.status, 'degraded');
  t.equal(last?.nats.connected, false, 'the shared connection is reported down');
});
