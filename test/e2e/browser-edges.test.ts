import t from 'tap';
import WebSocket from 'ws';
import { startSystem } from '../helpers/system.js';

const APP = 'https://app.example.com';
const EVIL = 'https://evil.example.net';

/** An upgrade with this Origin (none when undefined): the HTTP status it was refused with, or 101 and the first frame. */
function upgrade(url: string, token: string, origin?: string): Promise<{ status: number; first?: { type: string; payload?: { userId?: string } } }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['parley.v1.json'], { headers: { authorization: `Bearer ${token}`, ...(origin !== undefined ? { origin } : {}) } });
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      ws.terminate();
    });
    ws.once('message', (data) => {
      resolve({ status: 101, first: JSON.parse(data.toString()) });
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

t.test('PARLEY_ALLOWED_ORIGINS: upgrades and /v1 calls from other origins are refused, CORS for the allowed ones', async (t) => {
  const sys = await startSystem(t, { allowedOrigins: [APP, 'http://localhost:5173'] });
  const base = sys.url.replace('ws://', 'http://').replace('/ws', '');
  const token = await sys.token('alice');

  t.test('WebSocket upgrade: another origin gets 403 before the upgrade; the allowed origin and no Origin connect', async (t) => {
    t.same(await upgrade(sys.url, token, EVIL), { status: 403 }, 'refused origin: 403, no socket');
    t.same(await upgrade(sys.url, token, 'https://app.example.com.evil.example.net'), { status: 403 }, 'compared exactly, not by prefix');
    const allowed = await upgrade(sys.url, token, APP);
    t.equal(allowed.status, 101);
    t.match(allowed.first, { type: 'connection.success', payload: { userId: 'alice' } }, 'the allowed origin is served');
    t.match((await upgrade(sys.url, token, 'http://localhost:5173')).first, { type: 'connection.success' }, 'every listed origin');
    t.match((await upgrade(sys.url, token)).first, { type: 'connection.success' }, 'no Origin (not a browser): allowed');
  });

  t.test('preflight: OPTIONS /v1/… answers 204 with the CORS headers for an allowed origin', async (t) => {
    const res = await fetch(`${base}/v1/messages`, {
      method: 'OPTIONS',
      headers: { origin: APP, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    t.equal(res.status, 204);
    t.equal(res.headers.get('access-control-allow-origin'), APP, 'the origin itself');
    t.match(res.headers.get('access-control-allow-methods'), /\bPOST\b/);
    t.match(res.headers.get('access-control-allow-methods'), /\bGET\b/);
    t.match(res.headers.get('access-control-allow-headers'), /\bauthorization\b/);
    t.match(res.headers.get('access-control-allow-headers'), /\bcontent-type\b/);
    t.equal(res.headers.get('access-control-max-age'), '600');
    t.equal(res.headers.get('vary'), 'Origin');
    t.equal(await res.text(), '', 'no body');

    const nested = await fetch(`${base}/v1/conversations/d_x/read`, { method: 'OPTIONS', headers: { origin: APP, 'access-control-request-method': 'POST' } });
    t.equal(nested.status, 204, 'any path under /v1');

    const refused = await fetch(`${base}/v1/messages`, { method: 'OPTIONS', headers: { origin: EVIL, 'access-control-request-method': 'POST' } });
    t.equal(refused.status, 403, 'another origin: refused');
    t.equal(refused.headers.get('access-control-allow-origin'), null, 'and told nothing that would let it in');
    t.same(await refused.json(), { error: { code: 'forbidden', message: 'origin not allowed', temporary: false } }, 'in the protocol error shape (found by test/fuzz)');
  });

  t.test('every /v1 answer to an allowed origin carries Access-Control-Allow-Origin and Vary: Origin', async (t) => {
    const auth = { authorization: `Bearer ${token}` };
    const get = await fetch(`${base}/v1/unread`, { headers: { ...auth, origin: APP } });
    t.equal(get.status, 200);
    t.equal(get.headers.get('access-control-allow-origin'), APP);
    t.equal(get.headers.get('vary'), 'Origin');
    t.equal(get.headers.get('access-control-expose-headers'), 'idempotent-replay', 'browser code may read the replay mark');
    t.same(await get.json(), { conversations: [], totalUnread: 0 });

    const error = await fetch(`${base}/v1/unread`, { headers: { origin: APP } });
    t.equal(error.status, 401, 'errors too');
    t.equal(error.headers.get('access-control-allow-origin'), APP, 'so that browser code can read why');
    t.equal((await error.json()).error.code, 'unauthorized');

    const plain = await fetch(`${base}/v1/unread`, { headers: auth });
    t.equal(plain.status, 200, 'no Origin: served');
    t.equal(plain.headers.get('access-control-allow-origin'), null);
    t.equal(plain.headers.get('vary'), 'Origin');
    await plain.body?.cancel();

    const foreign = await fetch(`${base}/v1/messages`, {
      method: 'POST',
      headers: { ...auth, origin: EVIL, 'content-type': 'application/json' },
      body: JSON.stringify({ toUserId: 'bob', tempId: 'evil-1', content: 'sent by another site' }),
    });
    t.equal(foreign.status, 403, 'another origin: refused');
    t.equal(foreign.headers.get('access-control-allow-origin'), null);
    t.match(await foreign.json(), { error: { code: 'forbidden', message: 'origin not allowed', temporary: false } });
    const sent = await fetch(`${base}/v1/conversations`, { headers: auth });
    t.same((await sent.json()).conversations, [], 'and nothing was sent for it');
  });
});

t.test('REST bodies are JSON only: another content type gets 415 unsupported_media_type', async (t) => {
  const sys = await startSystem(t);
  const base = sys.url.replace('ws://', 'http://').replace('/ws', '');
  const token = await sys.token('alice');
  const post = (path: string, body: string | undefined, contentType?: string) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, ...(contentType !== undefined ? { 'content-type': contentType } : {}) },
      ...(body !== undefined ? { body } : {}),
    });
  const message = (tempId: string) => JSON.stringify({ toUserId: 'bob', tempId, content: 'hi' });

  for (const [what, contentType, body] of [
    ['text/plain', 'text/plain;charset=UTF-8', message('plain')],
    ['a form', 'application/x-www-form-urlencoded', 'toUserId=bob&tempId=form&content=hi'],
    ['JSON in another charset', 'application/json; charset=iso-8859-1', message('latin')],
    ['no content type', undefined, message('untyped')],
  ] as const) {
    // A Blob without a type: fetch then sends the body with no content-type at all.
    const res = contentType === undefined
      ? await fetch(`${base}/v1/messages`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: new Blob([body]) })
      : await post('/v1/messages', body, contentType);
    t.equal(res.status, 415, `${what}: 415`);
    t.same(await res.json(), { error: { code: 'unsupported_media_type', message: 'send the body as content-type: application/json', temporary: false } }, `${what}: the error shape`);
  }

  const json = await post('/v1/messages', message('json-1'), 'application/json');
  t.equal(json.status, 201, 'application/json: created');
  const conversationId = (await json.json()).conversationId as string;
  const utf8 = await post('/v1/messages', message('json-2'), 'Application/JSON; charset=utf-8');
  t.equal(utf8.status, 201, 'with charset=utf-8, any case: created');
  t.equal((await utf8.json()).seq, 2);

  const read = await post(`/v1/conversations/${conversationId}/read`, undefined);
  t.equal(read.status, 200, 'an empty body needs no content type (read has an optional body)');
  t.same(await read.json(), { conversationId, changed: false }, 'own messages are read already');
});

t.test('PARLEY_ALLOWED_ORIGINS unset (development): any origin is allowed and echoed', async (t) => {
  const sys = await startSystem(t);
  const base = sys.url.replace('ws://', 'http://').replace('/ws', '');
  const token = await sys.token('carol');
  t.match((await upgrade(sys.url, token, EVIL)).first, { type: 'connection.success' }, 'any origin upgrades');
  const pre = await fetch(`${base}/v1/unread`, { method: 'OPTIONS', headers: { origin: EVIL, 'access-control-request-method': 'GET' } });
  t.equal(pre.status, 204);
  t.equal(pre.headers.get('access-control-allow-origin'), EVIL, 'the origin echoed, never *');
  const get = await fetch(`${base}/v1/unread`, { headers: { authorization: `Bearer ${token}`, origin: EVIL } });
  t.equal(get.status, 200);
  t.equal(get.headers.get('access-control-allow-origin'), EVIL);
  t.equal(get.headers.get('vary'), 'Origin');
  await get.body?.cancel();
});
