// Per-user limits across gateways (gateway/usage-share.ts): a user flooding through two gateways
// gets about one per-user rate in all, not one per gateway.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { startSystem } from '../helpers/system.js';
import { flood } from '../helpers/flood.js';

t.test('a user flooding through two gateways is limited to about the per-user rate', async (t) => {
  const user = { sendsPerSecond: 10, sendBurst: 10, framesPerSecond: 1_000_000, frameBurst: 1_000_000 };
  const address = { connectsPerSecond: 1_000_000, connectBurst: 1_000_000, maxUnauthenticated: 1_000_000 };
  const sys = await startSystem(t, { rateLimits: { user, address, trustProxyHops: 0 } });
  const second = await sys.start('gateway', { gatewayId: `gw-${randomBytes(3).toString('hex')}` });
  const bob = await sys.connect('bob');
  const started = Date.now();
  const floodMs = 4_000;
  const until = () => Date.now() - started > floodMs;
  const flooders = [flood(sys, 'mallory', { until }), flood(sys, 'mallory', { url: second.gateway!.url, until })];
  await Promise.all(flooders.map((f) => f.done));
  const seconds = (Date.now() - started) / 1000;
  await new Promise((r) => setTimeout(r, 1_000));
  const accepted = bob.of('message.new').length;
  // Each gateway starts with a full bucket, and hears of the other's sends up to 250 ms late.
  const shared = Math.ceil(user.sendsPerSecond * seconds + 2 * user.sendBurst + 2 * user.sendsPerSecond * 0.25);
  const alone = Math.floor(2 * (user.sendsPerSecond * seconds + user.sendBurst));
  t.comment(`two gateways, ${seconds.toFixed(1)} s: ${accepted} accepted (bound ${shared}; each gateway on its own would allow ${alone})`);
  t.ok(flooders.every((f) => f.stats.connections > 1), 'both flooders were closed (4008) and reconnected');
  t.ok(accepted <= shared, `accepted ${accepted} ≤ ${shared}`);
  t.ok(accepted >= user.sendsPerSecond * (seconds - 1), `and not much less than the rate: ${accepted}`);
});
