import t, { type Test } from 'tap';
import fc from 'fast-check';
import { decodeJwt } from 'jose';
import { transform } from 'esbuild';
import { DEV_JWT_SECRET, defaultConfig, type Config } from '../../lib/config.js';
import { isId } from '../../schemas/index.js';
import { DEMO_FILES } from '../../gateway/demo-assets.js';
import { TestClient } from '../helpers/client.js';
import { rawRequest as raw } from '../helpers/raw-http.js';
import { startSystem, type TestSystem } from '../helpers/system.js';

/**
 * The browser demo's routes (gateway/demo-routes.ts): the page and its files from memory, the SDK
 * bundled as one browser ES module, and POST /demo/token only on a gateway that uses the
 * development secret. The gateway role alone is enough: nothing here sends a message.
 */

const base = (sys: TestSystem) => sys.url.replace('ws://', 'http://').replace('/ws', '');

const demoOn = (more: Partial<Config> = {}): Partial<Config> => ({
  demo: { enabled: true },
  auth: { ...defaultConfig().auth, secret: DEV_JWT_SECRET },
  ...more,
});

const startGateway = (t: Test, overrides: Partial<Config>) => startSystem(t, overrides, ['gateway']);

function postToken(sys: TestSystem, body: string, contentType = 'application/json') {
  return fetch(`${base(sys)}/demo/token`, { method: 'POST', headers: { 'content-type': contentType }, body });
}

/** A raw request to the system's gateway (test/helpers/raw-http.ts). */
function rawRequest(sys: TestSystem, method: string, path: string, body = '', headers: Record<string, string> = {}, waitMs = 5_000): Promise<number> {
  return raw(base(sys), { method, path, body, headers, waitMs });
}

t.test('demo on with the development secret: page, files, the SDK bundle, and tokens the gateway accepts', async (t) => {
  const sys = await startGateway(t, demoOn());
  t.match(sys.running[0]!.gateway!.demoUrl, /^http:\/\/127\.0\.0\.1:\d+\/demo$/, 'the gateway reports its demo URL');

  for (const path of ['/demo', '/demo/', '/demo/index.html', '/demo?x=1']) {
    const res = await fetch(`${base(sys)}${path}`);
    t.equal(res.status, 200, `GET ${path}`);
    t.match(res.headers.get('content-type'), /^text\/html; charset=utf-8$/);
    t.match(res.headers.get('content-security-policy'), /default-src 'self'/);
    t.equal(res.headers.get('x-content-type-options'), 'nosniff');
    t.match(await res.text(), /Parley demo/);
  }
  const app = await fetch(`${base(sys)}/demo/app.js`);
  t.equal(app.status, 200);
  t.match(app.headers.get('content-type'), /^text\/javascript/);
  t.match(await app.text(), /from '\.\/pane\.js'/, 'the page imports its modules');
  const paneModule = await fetch(`${base(sys)}/demo/pane.js`);
  t.match(paneModule.headers.get('content-type'), /^text\/javascript/);
  t.match(await paneModule.text(), /from '\.\/parley-client\.js'/, 'which import the bundle');
  for (const name of Object.keys(DEMO_FILES)) t.equal((await fetch(`${base(sys)}/demo/${name}`)).status, 200, `GET /demo/${name}`);
  const css = await fetch(`${base(sys)}/demo/style.css`);
  t.match(css.headers.get('content-type'), /^text\/css/);

  const bundleRes = await fetch(`${base(sys)}/demo/parley-client.js`);
  t.equal(bundleRes.status, 200);
  t.match(bundleRes.headers.get('content-type'), /^text\/javascript/);
  const bundle = await bundleRes.text();
  t.notMatch(bundle, /^\s*import\s|\brequire\(/m, 'one file: no imports left, nothing Node-only');
  await t.resolves(transform(bundle, { format: 'esm', loader: 'js', target: 'es2022' }), 'esbuild reads it as an ES2022 module');
  const sdk = (await import(`data:text/javascript;base64,${Buffer.from(bundle).toString('base64')}`)) as Record<string, unknown>;
  t.type(sdk.MemoryCursorStore, 'function', 'importing it gives the SDK exports');
  t.type(sdk.Backoff, 'function');

  const res = await postToken(sys, JSON.stringify({ userId: 'alice' }));
  t.equal(res.status, 200);
  t.equal(res.headers.get('cache-control'), 'no-store');
  const { token } = (await res.json()) as { token: string };
  const claims = decodeJwt(token);
  t.equal(claims.sub, 'alice');
  t.equal(claims.exp! - claims.iat!, 3600, 'an hour');
  const client = await TestClient.open(sys.url, { token });
  t.teardown(() => client.terminate());
  const ok = await client.next('connection.success');
  t.equal(ok.payload.userId, 'alice', 'the gateway accepts the minted token');

  // Wrong shapes, each with its code.
  const cases: [string, string, number, string][] = [
    ['{}', 'application/json', 400, 'validation_error'],
    ['{"userId":""}', 'application/json', 400, 'validation_error'],
    ['{"userId":"a b"}', 'application/json', 400, 'validation_error'],
    ['{"userId":"alice.x"}', 'application/json', 400, 'validation_error'],
    [`{"userId":"${'a'.repeat(129)}"}`, 'application/json', 400, 'validation_error'],
    ['{"userId":42}', 'application/json', 400, 'validation_error'],
    ['{"userId":"alice","scope":"parley:admin"}', 'application/json', 400, 'validation_error'],
    ['["alice"]', 'application/json', 400, 'validation_error'],
    ['{"userId":', 'application/json', 400, 'bad_frame'],
    ['{"userId":"alice"}', 'text/plain', 415, 'unsupported_media_type'],
    [`{"userId":"alice","pad":"${'x'.repeat(2000)}"}`, 'application/json', 413, 'payload_too_large'],
  ];
  for (const [body, type, status, code] of cases) {
    const r = await postToken(sys, body, type);
    t.equal(r.status, status, `${body.slice(0, 40)} (${type}): ${status}`);
    t.equal(((await r.json()) as { error: { code: string } }).error.code, code);
  }
  const get = await fetch(`${base(sys)}/demo/token`);
  t.equal(get.status, 404, 'GET /demo/token: no such route');
});

t.test('odd and hostile paths under /demo are 404, as any unknown path', async (t) => {
  const sys = await startGateway(t, demoOn());
  const paths = [
    '/demo/../package.json',
    '/demo/..%2Fpackage.json',
    '/demo/%2e%2e/package.json',
    '/demo/%2e%2e%2fpackage.json',
    '/demo/./app.js',
    '/demo//app.js',
    '/demo/app.js/',
    '/demo/app.js%00',
    '/demo/app.js%00.html',
    '/demo/APP.JS',
    '/demo/app%2ejs',
    '/demo/index.html/..',
    '/demo/demo-routes.ts',
    '/demo/../gateway/demo-routes.ts',
    '/demo/..\\package.json',
    '/demo/%5c..%5cpackage.json',
    '/demo/token',
    '/demo/constructor',
    '/demo/__proto__',
    '/demo/hasOwnProperty',
    '/demos',
    '/demo.html',
  ];
  for (const path of paths) {
    t.equal(await rawRequest(sys, 'GET', path), 404, `GET ${path}`);
  }
  t.equal(await rawRequest(sys, 'DELETE', '/demo'), 404, 'DELETE /demo');
  t.equal(await rawRequest(sys, 'PUT', '/demo/token', '{"userId":"a"}', { 'content-type': 'application/json' }), 404, 'PUT /demo/token');
  // Control bytes in the request line: uWS's parser never answers these (no route is reached);
  // what matters is that nothing is served and the gateway carries on.
  for (const path of ['/demo/app.js\u0000', '/demo/\tapp.js']) {
    t.not(await rawRequest(sys, 'GET', path, '', {}, 1_000).catch(() => 0), 200, `GET ${JSON.stringify(path)}: not served`);
  }
  t.equal(await rawRequest(sys, 'GET', '/demo/app.js'), 200, 'the real file still is served');
});

t.test('demo off (the default outside `parley start` with the dev secret): no /demo at all', async (t) => {
  const sys = await startGateway(t, { auth: { ...defaultConfig().auth, secret: DEV_JWT_SECRET } });
  t.equal(sys.running[0]!.gateway!.demoUrl, undefined);
  for (const path of ['/demo', '/demo/', '/demo/app.js', '/demo/parley-client.js']) {
    const res = await fetch(`${base(sys)}${path}`);
    t.equal(res.status, 404, `GET ${path}`);
    t.equal(((await res.json()) as { error: { code: string } }).error.code, 'not_found');
  }
  t.equal((await postToken(sys, '{"userId":"alice"}')).status, 404, 'POST /demo/token: 404 even with the dev secret');
});

t.test('demo on with another secret: the page is served, no token is ever minted', async (t) => {
  const sys = await startGateway(t, { demo: { enabled: true } }); // testConfig's random secret
  t.equal((await fetch(`${base(sys)}/demo`)).status, 200, 'the page');
  t.equal((await fetch(`${base(sys)}/demo/parley-client.js`)).status, 200, 'the bundle');
  const res = await postToken(sys, '{"userId":"alice"}');
  t.equal(res.status, 404, 'POST /demo/token does not exist');
  t.equal(((await res.json()) as { error: { code: string } }).error.code, 'not_found');
});

t.test('token requests are limited per address', async (t) => {
  const limited = await startGateway(t, demoOn({ rateLimits: { user: defaultConfig().rateLimits.user, address: { connectsPerSecond: 1, connectBurst: 3, maxUnauthenticated: 100 }, trustProxyHops: 0 } }));
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) statuses.push((await postToken(limited, '{"userId":"alice"}')).status);
  t.same(statuses.slice(0, 3), [200, 200, 200], 'the burst');
  t.equal(statuses[4], 429, 'then 429');
  const res = await postToken(limited, '{"userId":"alice"}');
  t.equal(res.status, 429);
  t.ok(Number(res.headers.get('retry-after')) >= 1, 'with Retry-After');
  t.equal(((await res.json()) as { error: { code: string } }).error.code, 'rate_limited');
  // An invalid request spends a token too: garbage cannot be sent without limit either.
  const bad = await postToken(limited, '{"userId":"no way"}');
  t.equal(bad.status, 429);
});

t.test('property: hostile bodies, user ids and paths never get a 5xx, never a token for an invalid id, and the gateway keeps serving', async (t) => {
  const sys = await startGateway(t, demoOn());
  const json = fc.oneof(
    fc.string({ maxLength: 200 }).map((userId) => JSON.stringify({ userId })),
    fc.string({ unit: 'binary', maxLength: 140 }).map((userId) => JSON.stringify({ userId })),
    fc.stringMatching(/^[A-Za-z0-9_-]{1,140}$/).map((userId) => JSON.stringify({ userId })),
    fc.jsonValue({ maxDepth: 4 }).map((userId) => JSON.stringify({ userId })),
    fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
    fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 })).map((d) => JSON.stringify(d)),
    fc.string({ unit: 'binary', maxLength: 2000 }),
  );
  await fc.assert(
    fc.asyncProperty(json, fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', ''), async (body, type) => {
      const res = await fetch(`${base(sys)}/demo/token`, { method: 'POST', headers: type ? { 'content-type': type } : {}, body });
      const text = await res.text();
      if (res.status >= 500) throw new Error(`${res.status} for ${JSON.stringify(body)}: ${text}`);
      if (res.status === 200) {
        const sent = (JSON.parse(body) as { userId: unknown }).userId;
        if (typeof sent !== 'string' || !isId(sent)) throw new Error(`a token for ${JSON.stringify(sent)}`);
        if (decodeJwt((JSON.parse(text) as { token: string }).token).sub !== sent) throw new Error('a token for someone else');
      } else if (!/^\{"error":\{"code":"[a-z_]+"/.test(text)) {
        throw new Error(`${res.status} without an error body: ${text}`);
      }
    }),
    { numRuns: 300 },
  );
  const pathChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz.-_~/%\\:;@!$&\'()*+,=?#[]"<>^`{|}'.split(''), '%2e', '%2f', '%00', '%5c', '..', 'app.js', 'index.html', 'parley-client.js', '\u00e9');
  await fc.assert(
    fc.asyncProperty(fc.array(pathChar, { maxLength: 30 }).map((a) => `/demo/${a.join('')}`), fc.constantFrom('GET', 'POST', 'HEAD', 'OPTIONS'), async (path, method) => {
      const status = await rawRequest(sys, method, path);
      if (status >= 500) throw new Error(`${status} for ${method} ${JSON.stringify(path)}`);
      // 200 only for a listed name, as sent (a query string aside).
      const name = path.slice('/demo/'.length).split(/[?#]/)[0]!;
      if (status === 200 && method === 'GET' && !['', 'index.html', 'app.js', 'style.css', 'parley-client.js'].includes(name)) throw new Error(`200 for ${JSON.stringify(path)}`);
    }),
    { numRuns: 300 },
  );
  t.equal((await fetch(`${base(sys)}/health`)).status, 200, 'still healthy');
  t.equal((await fetch(`${base(sys)}/demo`)).status, 200, 'still serving the page');
  t.equal((await postToken(sys, '{"userId":"bob"}')).status, 200, 'still minting');
});
