import t from 'tap';
import { defaultConfig } from '../../lib/config.js';
import { AppClient, describe, tally, assertExactlyOnce } from '../helpers/app-client.js';
import { startNatsServer } from '../helpers/nats-server.js';
import { startSystem } from '../helpers/system.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('kill -9 nats-server mid-stream and restart it: every acknowledged message delivered once, in order', async (t) => {
  // Our own server (never the shared one on 4222). Registered first, so it is torn down last:
  // startSystem's teardown still needs it to delete the streams.
  const nats = await startNatsServer(t);
  // The frame rate limit is not under test here; re-sends after the outage come in a burst.
  const sys = await startSystem(t, {
    natsUrl: [nats.url],
    limits: { ...defaultConfig().limits, framesPerSecond: 1_000, frameBurst: 2_000 },
  });
  const deadline = Date.now() + 50_000;
  const alice = await AppClient.start({ userId: 'alice', url: sys.url, token: () => sys.token('alice'), deadline });
  const bob = await AppClient.start({ userId: 'bob', url: sys.url, token: () => sys.token('bob'), deadline });
  t.teardown(() => {
    alice.stop();
    bob.stop();
  });

  const total = 400;
  const killAt = 150;
  const sending = (async () => {
    for (let i = 0; i < total; i++) {
      alice.send({ toUserId: 'bob', tempId: `n${i}`, content: `n${i}` });
      await sleep(10);
    }
  })();
  await alice.until(() => alice.sent >= killAt, 10_000, `${killAt} sends`);
  await nats.kill('SIGKILL');
  const killedAt = Date.now();
  await sleep(1_000);
  await nats.start();
  const downMs = Date.now() - killedAt;
  await sending;

  await alice.until(() => alice.outbox.size === 0 && alice.failed.size + alice.acknowledged.size === total, 35_000, 'every send confirmed');
  const fromAlice = () => bob.deliveries.filter((d) => d.senderId === 'alice').length;
  await bob.until(() => fromAlice() >= alice.acknowledged.size, 20_000, 'every acknowledged message delivered');
  await sleep(500); // anything late (a duplicate) would arrive now

  const x = tally(alice, bob);
  const closes = [...alice.closes, ...bob.closes].map((c) => c.code);
  t.comment(
    `${describe('kill -9 nats-server', x)} (server down ${downMs} ms, ${alice.resends} re-sends, ` +
      `${bob.droppedBySeq} frames dropped by cursor, socket closes ${JSON.stringify(closes)})`,
  );
  assertExactlyOnce(t, x, bob, total);
  t.same(
    [...alice.acknowledged.keys()].sort(),
    bob.deliveries.map((d) => d.tempId).sort(),
    'bob got exactly what alice had acknowledged',
  );
  t.equal(new Set(alice.acknowledged.values()).size, total, 'one message id per tempId (a re-send never made a second message)');
});
