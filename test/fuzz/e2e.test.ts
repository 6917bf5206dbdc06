import t from 'tap';
import { startSystem } from '../helpers/system.js';
import { checkInTest } from './check.js';
import { assertStillServes, fuzzConfig, fuzzTarget } from './e2e/target.js';
import { presenceSubscribeProperties } from './properties/presence-subscribe.js';
import { restProperties } from './properties/rest.js';
import { socketProperties } from './properties/socket.js';
import { typingProperties } from './properties/typing.js';
import { upgradeProperties } from './properties/upgrade.js';

/**
 * One whole Parley, fuzzed over its sockets and REST routes with a small fixed budget; then it
 * must still be healthy, still deliver, and have projected everything stored.
 */
t.test('fuzzing a running Parley over WebSocket and REST', async (t) => {
  const system = await startSystem(t, fuzzConfig);
  const target = await fuzzTarget(system);
  for (const p of [...socketProperties(target), ...typingProperties(target), ...presenceSubscribeProperties(target), ...upgradeProperties(target), ...restProperties(target)]) await t.test(p.name, (t) => checkInTest(t, p));
  await t.test('afterwards: healthy, no contained fault, still delivering, everything stored projected', async () => assertStillServes(target));
});
