import assert from 'node:assert/strict';
import fc from 'fast-check';
import { errorCodes } from '../../../lib/errors.js';
import { fuzzRequest } from '../arbitraries/requests.js';
import { send, type FuzzRequest, type FuzzResponse } from '../e2e/http-request.js';
import { restRoutes } from '../e2e/rest-routes.js';
import { assertErrorShape, type FuzzTarget } from '../e2e/target.js';
import type { FuzzProperty } from '../property.js';

/**
 * Any request to any REST route (or to none): the answer is JSON, a success or the protocol's
 * `{ error: { code, message, temporary } }` with the HTTP status of its code; never a 500,
 * never a reset connection.
 */
export function restProperties(target: FuzzTarget): FuzzProperty[] {
  const routes = restRoutes();
  const requests = fuzzRequest({ routes, tokens: target.tokens, expiredToken: target.expiredToken, maxPayloadBytes: target.maxPayloadBytes, allowedOrigin: target.allowedOrigin });
  return [
    {
      name: `REST: any request to any of the ${routes.length} routes, or to none, gets JSON, a success or an error in the protocol shape, never a 500 or a reset`,
      testRuns: 800,
      fuzzShare: 4,
      property: fc.asyncProperty(requests, async (request) => {
        const faults = target.faults();
        assertAnswered(request, await send(target.httpBase, request));
        assert.equal(target.faults(), faults, 'the request caused no unexpected error (see the log with PARLEY_TEST_LOG=error)');
      }),
    },
  ];
}

function assertAnswered(request: FuzzRequest, res: FuzzResponse): void {
  const where = `${request.method} ${request.path} → ${res.status} ${res.body.slice(0, 300)}`;
  assert.notEqual(res.status, 500, `${where}: an unexpected error`);
  if (res.status === 204) return void assert.equal(res.body, '', `${where}: no content is no body`);
  assert.match(String(res.headers['content-type']), /^application\/json\b/, `${where}: a JSON answer`);
  let body: unknown;
  assert.doesNotThrow(() => (body = JSON.parse(res.body)), `${where}: the body is JSON`);
  assert.ok(body !== null && typeof body === 'object', `${where}: a JSON object`);
  if (res.status < 400) {
    assert.ok(res.status >= 200 && res.status < 300, `${where}: a success or an error`);
    return;
  }
  const code = assertErrorShape((body as { error?: unknown }).error, where);
  assert.equal(res.status, errorCodes[code].http, `${where}: the status of ${code}`);
  if (code === 'rate_limited') assert.ok(res.headers['retry-after'] !== undefined, `${where}: a 429 says when to retry (Retry-After)`);
}
