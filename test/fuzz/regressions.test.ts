import t from 'tap';
import WebSocket from 'ws';
import { startSystem } from '../helpers/system.js';
import { send } from './e2e/http-request.js';

/** What the fuzz properties found, kept as plain tests: each counterexample, and the answer it must get. */
t.test('fuzz counterexamples', async (t) => {
  const sys = await startSystem(t);
  const base = sys.url.replace('ws://', 'http://').replace(/\/ws$/, '');
  const token = await sys.token('alice');

  t.test('a path no route has is answered in the protocol error shape, temporary included', async (t) => {
    // The REST property's first counterexample: a GET to a POST-only route.
    const res = await send(base, { method: 'GET', path: '/v1/conversations/%E9%98/read', headers: { authorization: `Bearer ${token}` } });
    t.equal(res.status, 404);
    t.same(JSON.parse(res.body), { error: { code: 'not_found', message: 'no such route', temporary: false } });
  });

  t.test('an upgrade cursor past 2^53 is refused with 400, not failed with 1011 on every reconnect', async (t) => {
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${sys.url}?cursor=99999999999999999999999`, ['parley.v1.json'], { headers: { authorization: `Bearer ${token}` } });
      ws.on('unexpected-response', (req, res) => {
        req.destroy(); // ws leaves a refused request open to whoever listens for it
        resolve(res.statusCode ?? 0);
      });
      ws.on('open', () => {
        ws.terminate();
        resolve(101);
      });
      ws.on('error', () => undefined);
    });
    t.equal(status, 400);
    const client = await sys.connect('alice', { cursor: Number.MAX_SAFE_INTEGER });
    t.ok(client.of('connection.success').length, 'the largest safe cursor is served');
  });
});
