import fc from 'fast-check';
import type { FuzzRequest } from '../e2e/http-request.js';
import { bodyOfRoute, type Route } from '../e2e/rest-routes.js';
import { clientFrameTypes, payloadOf } from './frames.js';
import { hostileJson, hostileString } from './hostile.js';
import { muteBody, pushSubscriptionBody } from './push.js';

/** Text as a URL carries it: percent-escaped UTF-8, and a lone surrogate as the bytes WTF-8 gives it. */
export function escaped(text: string): string {
  let out = '';
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c >= 0xd800 && c <= 0xdfff) out += [0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f)].map(hex).join('');
    else out += encodeURIComponent(ch);
  }
  return out;
}
const hex = (b: number) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`;

/** A path segment: an id, hostile text escaped, raw escapes of any bytes, or broken escapes. */
const segment: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/) },
  { weight: 3, arbitrary: hostileString.map(escaped) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 12 }).map((bytes) => [...bytes].map(hex).join('')) },
  { weight: 2, arbitrary: fc.constantFrom('%ZZ', '%', '%0', '%00', '%E0%A4%A', '%ED%A0%80', '%C0%80', '..', '.', '%2F', '%2e%2e', 'a%2Fb', '~', "!$&'()*+,;=:@", 'x'.repeat(200), 'x'.repeat(5_000)) },
);

const queryKey = fc.oneof(fc.constantFrom('limit', 'before', 'after', 'cursor', 'token', 'deviceId'), hostileString.map(escaped));
const queryValue = fc.oneof(
  fc.constantFrom('', '0', '1', '-1', '50', '200', '201', '1e3', '1.5', 'abc', '9007199254740993', '99999999999999999999', '%00', '%ZZ'),
  hostileString.map(escaped),
);
const query: fc.Arbitrary<string> = fc.oneof(
  fc.constant(''),
  fc.array(fc.tuple(queryKey, queryValue), { minLength: 1, maxLength: 4 }).map((pairs) => `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`),
  fc.constantFrom('?', '?&', '?=', '?limit', '?limit=1&limit=2'),
);

/** Header values as HTTP/1.1 carries them (visible Latin-1); node:http refuses control characters before sending. */
const headerText = (s: string) => s.replace(/[^\t\x20-\x7e\x80-\xff]/g, '?');

const contentType = fc.option(
  fc.oneof(
    fc.constantFrom('application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'application/json;charset=latin1', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/msgpack', 'application/vnd.api+json', ''),
    hostileString.map(headerText),
  ),
  { nil: undefined },
);

/** Routes whose body is not a client frame's payload. */
const otherBodyOfRoute: Record<string, fc.Arbitrary<unknown>> = {
  'POST /v1/push/subscriptions': pushSubscriptionBody,
  'POST /v1/conversations/:id/mute': muteBody,
};

/** A body: what the route takes (valid, mutated or anything), any JSON, any bytes, too many bytes, or none. */
function bodyFor(route: Route, maxPayloadBytes: number): fc.Arbitrary<Uint8Array | undefined> {
  const key = `${route.method} ${route.pattern}`;
  const frameType = bodyOfRoute[key];
  const payloads = otherBodyOfRoute[key] ?? (frameType ? payloadOf(frameType) : fc.constantFrom(...clientFrameTypes).chain(payloadOf));
  const json = (v: unknown) => {
    try {
      const text = JSON.stringify(v);
      return text === undefined ? undefined : Buffer.from(text);
    } catch {
      return undefined; // a BigInt: no JSON body
    }
  };
  return fc.oneof(
    { weight: 6, arbitrary: payloads.map(json) },
    { weight: 2, arbitrary: hostileJson.map(json) },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }) },
    { weight: 1, arbitrary: fc.constantFrom('', ' ', '{', '[]', 'null', '"x"', '{"__proto__":{"a":1}}', `${'['.repeat(10_000)}${']'.repeat(10_000)}`).map((s) => Buffer.from(s)) },
    { weight: 1, arbitrary: fc.constant(Buffer.alloc(maxPayloadBytes + 1, 0x20)) },
  );
}

export type RequestContext = { routes: Route[]; tokens: string[]; expiredToken: string; maxPayloadBytes: number; allowedOrigin: string };

/**
 * A request to one of the routes (its own method mostly; others too), or to a path no route
 * has: hostile path parameters, query strings, content types, bodies and authorization.
 */
export function fuzzRequest(ctx: RequestContext): fc.Arbitrary<FuzzRequest> {
  const authorization = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...ctx.tokens).map((t) => `Bearer ${t}`) },
    { weight: 2, arbitrary: fc.constant(undefined) },
    fc.constantFrom('Bearer', 'Bearer ', 'bearer x.y.z', 'Basic YTpi', `Bearer ${ctx.expiredToken}`, `Bearer ${ctx.tokens[0]}x`, `Bearer ${ctx.tokens[0]} ${ctx.tokens[1]}`),
    hostileString.map((s) => `Bearer ${headerText(s)}`),
  );
  const origin = fc.option(fc.oneof(fc.constantFrom(ctx.allowedOrigin, 'https://elsewhere.example', 'null', `${ctx.allowedOrigin}.evil`, ''), hostileString.map(headerText)), { nil: undefined });
  const routed = fc.constantFrom(...ctx.routes).chain((route) =>
    fc.record({
      method: fc.oneof({ weight: 5, arbitrary: fc.constant(route.method) }, fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS')),
      // Each `:param` and `*` of the pattern becomes a segment.
      path: fc.array(segment, { minLength: 3, maxLength: 3 }).map((segments) => route.pattern.replace(/:[A-Za-z]+|\*/g, () => segments.pop()!)),
      query,
      authorization,
      contentType,
      origin,
      body: bodyFor(route, ctx.maxPayloadBytes),
    }),
  );
  const unrouted = fc.record({
    method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'),
    path: fc.oneof(fc.constantFrom('/', '//', '/v1', '/v1/', '/v1/conversations/', '/v1/conversations//messages', '/v1/messages/x', '/health/x', '/ws', '/%00', '/v2/messages'), fc.array(segment, { maxLength: 4 }).map((s) => `/${s.join('/')}`)),
    query,
    authorization,
    contentType,
    origin,
    body: fc.option(fc.uint8Array({ maxLength: 64 }), { nil: undefined }),
  });
  return fc.oneof({ weight: 9, arbitrary: routed }, { weight: 1, arbitrary: unrouted }).map(({ method, path, query, authorization, contentType, origin, body }) => ({
    method,
    path: path + query,
    headers: {
      ...(authorization !== undefined ? { authorization } : {}),
      ...(contentType !== undefined ? { 'content-type': contentType } : {}),
      ...(origin !== undefined ? { origin } : {}),
    },
    ...(body !== undefined ? { body } : {}),
  }));
}
