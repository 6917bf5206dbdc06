import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { ParleyError } from '../../../lib/errors.js';
import { encodeJson } from '../../../lib/json.js';
import { makeNames } from '../../../lib/names.js';
import { textProblem } from '../../../lib/wire-value.js';
import { createTokenVerifier, tokenFromRequest } from '../../../gateway/auth.js';
import { signDevToken } from '../../../lib/dev-token.js';
import { addressKey, clientAddress } from '../../../gateway/address-limits.js';
import { negotiate } from '../../../gateway/codec.js';
import { decodeLogEntry } from '../../../projections/postgres/decode.js';
import { eventSchemas, isId, userEventSchemas } from '../../../schemas/index.js';
import { validOf } from '../arbitraries/from-schema.js';
import { hostileJson, hostileString } from '../arbitraries/hostile.js';
import { mutated } from '../arbitraries/mutate.js';
import type { FuzzProperty } from '../property.js';

/**
 * The other decoders of what comes from outside: the JWT verifier (any Authorization header, query
 * or subprotocol), subprotocol negotiation, and the Postgres projector's reading of the log (which
 * holds what earlier versions let in).
 */

const secret = 'fuzz-secret-fuzz-secret';
const verifier = createTokenVerifier({ secret, algorithms: ['HS256'], clockToleranceSec: 5 });
const key = new TextEncoder().encode(secret);
const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** Tokens: any text, good tokens with a character changed, unsigned ones, and well-signed ones with any claims. */
const token: fc.Arbitrary<Promise<string>> = fc.oneof(
  hostileString.map(async (s) => s),
  fc.tuple(fc.stringMatching(/^[A-Za-z0-9_-]{1,128}$/), fc.nat(), hostileString).map(async ([sub, at, text]) => {
    const good = await signDevToken({ secret }, { sub }, 300);
    const i = at % good.length;
    return good.slice(0, i) + text + good.slice(i + 1);
  }),
  fc.tuple(hostileJson, hostileJson).map(async ([header, payload]) => `${b64(header)}.${b64(payload)}.`),
  fc.record({ sub: fc.oneof(fc.stringMatching(/^[A-Za-z0-9_-]{1,128}$/), hostileJson), name: hostileJson, picture: hostileJson, exp: fc.oneof(fc.constant(Math.floor(Date.now() / 1000) + 300), hostileJson) }, { requiredKeys: [] }).map(async (claims) => {
    try {
      return await new SignJWT(claims as Record<string, unknown>).setProtectedHeader({ alg: 'HS256' }).sign(key);
    } catch {
      return 'x.y.z'; // claims jose will not sign
    }
  }),
);

const names = makeNames('fuzz');
const anyEvent = fc.constantFrom(...Object.values(eventSchemas), ...Object.values(userEventSchemas)).chain(validOf);
/** Escapes JSON.stringify writes for NUL and lone surrogates, as an older edge stored them. */
const escapes = fc.constantFrom('\\u0000', '\\ud800', '\\uDFFF', '\\udbff\\u0000', '\\ud83d\\ude00', '\\u00', '\\');

/** Events as log bytes: valid ones, mutated ones, with escapes spliced into their text, and any bytes at all. */
export const logBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  anyEvent.map(encodeJson),
  mutated(anyEvent).map((v) => {
    try {
      return encodeJson(v);
    } catch {
      return new Uint8Array();
    }
  }),
  fc.tuple(anyEvent, escapes, fc.nat()).map(([event, escape, at]) => {
    const json = JSON.stringify(event);
    // Only inside a string: after an opening quote.
    const quotes = [...json.matchAll(/":"/g)].map((m) => (m.index ?? 0) + 3);
    const i = quotes.length ? quotes[at % quotes.length]! : 0;
    return Buffer.from(json.slice(0, i) + escape + json.slice(i));
  }),
  fc.uint8Array({ maxLength: 300 }),
);

function eachText(value: unknown, fn: (text: string) => void): void {
  if (typeof value === 'string') return fn(value);
  if (value === null || typeof value !== 'object') return;
  for (const [k, v] of Object.entries(value)) {
    fn(k);
    eachText(v, fn);
  }
}

export const edgeDecoderProperties: FuzzProperty[] = [
  {
    name: 'token verifier: any token is verified into an id-shaped user with storable display text, or refused with unauthorized or token_expired',
    testRuns: 400,
    property: fc.asyncProperty(token, async (pending) => {
      const text = await pending;
      try {
        const identity = await verifier.verify(text);
        assert.ok(isId(identity.userId), 'the user id is a subject token');
        for (const display of [identity.name, identity.avatar]) if (display !== undefined) assert.equal(textProblem(display), undefined, 'display claims are storable text');
      } catch (err) {
        assert.ok(err instanceof ParleyError, `refused with a ParleyError, not ${String(err)}`);
        assert.ok(['unauthorized', 'token_expired'].includes(err.code), `refused as unauthorized or token_expired, not ${err.code}`);
      }
    }),
  },
  {
    name: 'upgrade headers: any Authorization, query and subprotocols give a codec, the protocol to answer and a token or none',
    testRuns: 500,
    fuzzShare: 0.25, // cheap and small: a quarter of the time finds what there is to find
    property: fc.property(hostileString, hostileString, fc.array(fc.oneof(hostileString, fc.constantFrom('parley.v1.json', 'parley.v1.msgpack', 'bearer.', 'bearer.x')), { maxLength: 4 }), (authorization, query, protocols) => {
      const offered = protocols.join(',');
      const { codec, protocol } = negotiate(offered);
      assert.ok(codec === 'json' || codec === 'msgpack');
      assert.equal(typeof protocol, 'string');
      const found = tokenFromRequest({ authorization, query, protocols: offered });
      assert.ok(found === undefined || (typeof found === 'string' && found.length > 0));
    }),
  },
  {
    name: 'client address: any socket address and X-Forwarded-For give an address key, the key of which is itself',
    testRuns: 500,
    property: fc.property(
      fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV6().map((a) => `::ffff:${a}`), fc.ipV4().map((a) => `::ffff:${a}`), hostileString),
      fc.array(fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4Extended(), hostileString), { maxLength: 4 }).map((a) => a.join(', ')),
      fc.nat(3),
      (socketAddress, forwardedFor, hops) => {
        const key = clientAddress(socketAddress, forwardedFor, hops);
        assert.equal(typeof key, 'string');
        assert.equal(addressKey(key), key, 'a key is its own key: limits kept by it never split');
      },
    ),
  },
  {
    name: 'projector decodeLogEntry: any bytes on an event subject are applied or stepped over, never thrown; what it applies holds only storable text',
    testRuns: 800,
    property: fc.property(logBytes, fc.oneof(fc.constant('conv'), fc.constant('user'), hostileString), fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/), (data, kind, owner) => {
      const value = (() => {
        try {
          return JSON.parse(Buffer.from(data).toString('utf8')) as { conversationId?: unknown; userId?: unknown };
        } catch {
          return undefined;
        }
      })();
      // The subject the event names, where it names one: most events are on their own subject.
      const own = kind === 'conv' ? value?.conversationId : value?.userId;
      const id = typeof own === 'string' && isId(own) ? own : owner;
      const subject = kind === 'conv' ? names.subjects.conversationEvents(id) : kind === 'user' ? names.subjects.userEvents(id) : `fuzz.ev.${kind}`;
      const entry = decodeLogEntry(names, { seq: 1, subject, data });
      if (entry.event === null) return void assert.equal(typeof entry.problem, 'string', 'a stepped-over entry says why');
      eachText(entry.event, (text) => assert.equal(textProblem(text), undefined, `applied text is storable: ${JSON.stringify(text)}`));
    }),
  },
];
