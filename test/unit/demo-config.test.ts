import t from 'tap';
import fc from 'fast-check';
import { loadConfig } from '../../lib/config.js';
import { demoUserId } from '../../gateway/demo-routes.js';
import { isId } from '../../schemas/index.js';

t.test('PARLEY_DEMO: on/off when set; unset, on exactly when no secret and no JWKS are configured', async (t) => {
  t.equal(loadConfig({}).demo.enabled, true, 'no secret: `parley start` falls back to the dev secret, demo on');
  t.equal(loadConfig({ PARLEY_JWT_SECRET: 'real' }).demo.enabled, false, 'a real secret: off');
  t.equal(loadConfig({ PARLEY_JWKS_URL: 'https://idp.example/jwks' }).demo.enabled, false, 'JWKS: off');
  t.equal(loadConfig({ PARLEY_DEMO: 'off' }).demo.enabled, false);
  t.equal(loadConfig({ PARLEY_DEMO: 'on', PARLEY_JWT_SECRET: 'real' }).demo.enabled, true, 'on with a real secret (the page only)');
  t.equal(loadConfig({ PARLEY_DEMO: '' }).demo.enabled, true, 'empty is unset');
  for (const bad of ['1', 'yes', 'ON', 'true']) t.throws(() => loadConfig({ PARLEY_DEMO: bad }), /PARLEY_DEMO must be one of on, off/);
});

t.test('demoUserId: only {"userId": <id>} passes, and what passes is that id', async (t) => {
  t.equal(demoUserId({ userId: 'alice' }), 'alice');
  fc.assert(
    fc.property(fc.jsonValue(), (body) => {
      let userId: string | undefined;
      try {
        userId = demoUserId(body);
      } catch (err) {
        return (err as { code?: string }).code === 'validation_error';
      }
      return isId(userId) && typeof body === 'object' && body !== null && Object.keys(body).join() === 'userId' && (body as { userId: unknown }).userId === userId;
    }),
    { numRuns: 2000 },
  );
});
