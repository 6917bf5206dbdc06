import t from 'tap';
import WebSocket from 'ws';
import { makeNames } from '../../lib/names.js';
import { decodeLogEntry } from '../../projections/postgres/decode.js';
import { validateEvent } from '../../schemas/index.js';
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

t.test('an event whose type names an Object method is invalid with a reason, not "validated" by Object itself', async (t) => {
  // The log-decoder property's counterexample (10-minute run): {"type":"constructor", ...} on an event subject.
  const names = makeNames('fuzzreg');
  for (const type of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    const event = { type, v: 1, id: '_', conversationId: '0', actor: { id: 'A' }, at: '1970-01-01T00:00:00.000Z', commandId: '', data: { userId: '-', upToSeq: 1 } };
    const checked = validateEvent(event);
    t.equal(checked.ok, false, `${type}: invalid`);
    if (!checked.ok) t.type(checked.message, 'string', `${type}: says why`);
    const entry = decodeLogEntry(names, { seq: 1, subject: names.subjects.conversationEvents('0'), data: Buffer.from(JSON.stringify(event)) });
    t.equal(entry.event, null, `${type}: stepped over by the projector`);
    t.type(entry.problem, 'string', `${type}: with the reason logged`);
  }
});
