import t from 'tap';
import { startSystem } from '../helpers/system.js';
import { send } from './e2e/http-request.js';

/** What the fuzz properties found, kept as plain tests: each counterexample, and the answer it must get. */
t.test('a path no route has is answered in the protocol error shape, temporary included', async (t) => {
  const sys = await startSystem(t);
  const base = sys.url.replace('ws://', 'http://').replace(/\/ws$/, '');
  // The REST fuzz's first counterexample: a GET to a POST-only route.
  const res = await send(base, { method: 'GET', path: '/v1/conversations/%E9%98/read', headers: { authorization: `Bearer ${await sys.token('alice')}` } });
  t.equal(res.status, 404);
  t.same(JSON.parse(res.body), { error: { code: 'not_found', message: 'no such route', temporary: false } });
});
