import t from 'tap';
import { loadConfig } from '../../lib/config.js';
import { newId, timeOfId } from '../../lib/ids.js';
import { hasScope } from '../../gateway/auth.js';
import { OriginPolicy } from '../../gateway/origins.js';
import { isJsonContentType } from '../../gateway/rest/http.js';

t.test('PARLEY_ALLOWED_ORIGINS: * or exact origins; anything else fails at start-up', async (t) => {
  t.equal(loadConfig({}).allowedOrigins, '*', 'unset: any origin');
  t.equal(loadConfig({ PARLEY_ALLOWED_ORIGINS: '*' }).allowedOrigins, '*');
  t.same(loadConfig({ PARLEY_ALLOWED_ORIGINS: 'https://app.example.com, http://localhost:5173' }).allowedOrigins, ['https://app.example.com', 'http://localhost:5173']);
  for (const bad of ['https://app.example.com/', 'https://App.example.com', 'app.example.com', 'https://a.example.com/path', 'ftp://a.example.com', '*,https://a.example.com', ',']) {
    t.throws(() => loadConfig({ PARLEY_ALLOWED_ORIGINS: bad }), /PARLEY_ALLOWED_ORIGINS/, JSON.stringify(bad));
  }
  t.equal(loadConfig({}).admin.gatherMs, 500);
  t.throws(() => loadConfig({ PARLEY_ADMIN_GATHER_MS: '5' }), /PARLEY_ADMIN_GATHER_MS/);
});

t.test('OriginPolicy: no Origin always passes; a list is compared exactly', async (t) => {
  const list = new OriginPolicy(['https://app.example.com']);
  t.ok(list.allows(''), 'no Origin header');
  t.ok(list.allows('https://app.example.com'));
  t.notOk(list.allows('https://app.example.com:8443'));
  t.notOk(list.allows('http://app.example.com'));
  t.notOk(list.allows('null'), 'opaque origins (sandboxed frames, file:) too');
  t.same(list.responseHeaders('https://evil.example'), { vary: 'Origin' });
  t.match(list.responseHeaders('https://app.example.com'), { vary: 'Origin', 'access-control-allow-origin': 'https://app.example.com' });
  t.ok(new OriginPolicy('*').allows('https://anything.example'));
});

t.test('isJsonContentType: application/json, with charset utf-8 at most', async (t) => {
  for (const ok of ['application/json', 'application/json; charset=utf-8', 'Application/JSON;charset=UTF-8', 'application/json; charset="utf-8"', 'application/json;']) {
    t.ok(isJsonContentType(ok), ok);
  }
  for (const bad of ['', 'text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=iso-8859-1', 'application/jsonp', 'application/json-seq', 'application/json; boundary=x']) {
    t.notOk(isJsonContentType(bad), bad || '(none)');
  }
});

t.test('hasScope: a space-separated string or an array, whole names only', async (t) => {
  t.ok(hasScope('parley:admin', 'parley:admin'));
  t.ok(hasScope('openid profile parley:admin', 'parley:admin'));
  t.ok(hasScope(['openid', 'parley:admin'], 'parley:admin'));
  t.notOk(hasScope('parley:admins', 'parley:admin'));
  t.notOk(hasScope('parley', 'parley:admin'));
  t.notOk(hasScope(undefined, 'parley:admin'));
  t.notOk(hasScope({ 'parley:admin': true }, 'parley:admin'));
  t.notOk(hasScope([['parley:admin']], 'parley:admin'));
});

t.test('timeOfId: the creation time newId encodes', async (t) => {
  const at = Date.UTC(2026, 11, 6, 18, 30, 0, 123);
  t.equal(timeOfId(newId('conn', at)), at);
  t.ok(Number.isNaN(timeOfId('conn_short')));
  t.ok(Number.isNaN(timeOfId('d_abc')));
});
