import assert from 'node:assert/strict';
import fc from 'fast-check';
import { unpack } from 'msgpackr';
import WebSocket from 'ws';
import { closeCodes } from '../../../lib/errors.js';
import { hostileString } from '../arbitraries/hostile.js';
import { assertErrorShape, type FuzzTarget } from '../e2e/target.js';
import type { FuzzProperty } from '../property.js';

/**
 * The WebSocket upgrade with any query (cursor, deviceId, token), subprotocols, Origin, device
 * header, X-Forwarded-For and Authorization: refused before any socket exists (400 for a cursor
 * that is not a whole number, 403 for an origin not allowed, 429 past the per-address limits), or
 * a socket that a valid token gets served on (connection.success, or a reset of a cursor from the
 * future), and an invalid one closed 4001 (4008 when its user is over the frame limit).
 */

/** What goes in a URL query: escaped text, numbers of every shape, nothing. */
const queryValue = fc.oneof(
  fc.constantFrom('0', '1', '-1', '-0', '1.5', '1e3', '1e308', '0x10', ' 5', '', '9007199254740991', '9007199254740993', '99999999999999999999999', 'NaN', 'Infinity', '%00', '%ZZ'),
  hostileString.map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '\ufffd'))),
);
const query = fc.record({ cursor: queryValue, deviceId: queryValue, token: queryValue }, { requiredKeys: [] }).map((q) =>
  Object.entries(q)
    .map(([k, v]) => `${k}=${v}`)
    .join('&'),
);

/** Subprotocols a client can offer (tokens, which `ws` checks): ours, a bearer token, others; always one not a token, so the answer can name one. */
const protocolToken = fc.stringMatching(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,30}$/);
const headerText = (s: string) => s.replace(/[^\t\x20-\x7e\x80-\xff]/g, '?').trim();

type Upgraded = { refused: number } | { first: unknown; closed?: number };

/** Upgrade, and read the first frame; with no token offered, the socket is open and waits for `authenticate`: nothing to read. */
function upgrade(url: string, protocols: string[], headers: Record<string, string>, offersToken: boolean): Promise<Upgraded> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { headers });
    let first: unknown;
    if (!offersToken) {
      ws.on('open', () => {
        clearTimeout(timer);
        ws.terminate();
        resolve({ first });
      });
    }
    const timer = setTimeout(() => {
      ws.terminate();
      resolve({ first });
    }, 2_000);
    ws.on('unexpected-response', (req, res) => {
      clearTimeout(timer);
      req.destroy(); // ws leaves a refused request to whoever listens for it
      res.resume();
      resolve({ refused: res.statusCode ?? 0 });
    });
    ws.on('message', (data: Buffer, isBinary) => {
      if (first !== undefined) return;
      first = isBinary ? unpack(data) : JSON.parse(data.toString('utf8'));
      // Served or refused: what comes first says it.
      if ((first as { type?: string }).type !== 'error') {
        clearTimeout(timer);
        ws.terminate();
        resolve({ first });
      }
    });
    ws.on('close', (code) => {
      clearTimeout(timer);
      resolve({ first, closed: code });
    });
    ws.on('error', (err) => {
      if (ws.readyState === WebSocket.CONNECTING && !(err.message.includes('Unexpected server response'))) reject(err);
    });
  });
}

export function upgradeProperties(target: FuzzTarget): FuzzProperty[] {
  const token = fc.constantFrom(...target.tokens, target.expiredToken, 'x.y.z', '');
  return [
    {
      name: 'upgrade: any query, subprotocols and headers are refused before the socket (400, 403, 429), or served with a valid token, or closed 4001 without one',
      testRuns: 150,
      fuzzShare: 2,
      property: fc.asyncProperty(
        query,
        fc.array(fc.oneof(fc.constantFrom('parley.v1.json', 'parley.v1.msgpack'), protocolToken), { minLength: 1, maxLength: 3 }),
        fc.option(token, { nil: undefined }),
        fc.constantFrom('header', 'subprotocol'),
        fc.option(fc.oneof(fc.constant(target.allowedOrigin), fc.constant('https://elsewhere.example'), hostileString.map(headerText)), { nil: undefined }),
        fc.option(hostileString.map(headerText), { nil: undefined }),
        fc.option(fc.oneof(fc.ipV4(), fc.ipV6(), fc.array(fc.oneof(fc.ipV4(), fc.ipV6(), hostileString.map(headerText))).map((a) => a.join(', '))), { nil: undefined }),
        async (q, offered, auth, via, origin, deviceId, forwardedFor) => {
          const faults = target.faults();
          const protocols = [...new Set(offered)];
          const headers: Record<string, string> = {};
          if (auth !== undefined && via === 'header') headers.authorization = `Bearer ${auth}`;
          if (auth && via === 'subprotocol') protocols.push(`bearer.${auth}`);
          if (origin !== undefined) headers.origin = origin;
          if (deviceId !== undefined) headers['x-device-id'] = deviceId;
          if (forwardedFor !== undefined) headers['x-forwarded-for'] = forwardedFor;
          // gateway/auth.ts tokenFromRequest: the header first, then a non-empty ?token=, then a bearer subprotocol.
          const queryToken = new URLSearchParams(q).get('token') ?? '';
          const offersToken = !!auth || queryToken !== '';
          const validToken = target.tokens.includes(auth ?? '') && (via === 'header' || queryToken === '');
          const result = await upgrade(`${target.wsUrl}?${q}`, protocols, headers, offersToken);
          if ('refused' in result) {
            // 429: too many upgrades from this address (the abuse limits).
            assert.ok([400, 403, 429].includes(result.refused), `refused with ${result.refused}: 400 (cursor), 403 (origin) or 429 only`);
          } else {
            const first = result.first as { type?: string; error?: unknown } | undefined;
            if (first?.type === 'error') assertErrorShape(first.error, 'the first frame');
            if (first === undefined) assert.ok(!validToken || result.closed !== undefined, 'a socket with a valid token is answered');
            if (first?.type === 'error') {
              // A user over its frame limit (the REST property spends the same users' frames) is closed 4008 at authentication.
              const expected = (first.error as { code?: string }).code === 'rate_limited' ? closeCodes.policy : closeCodes.unauthorized;
              assert.equal(result.closed, expected, `refused at open with ${JSON.stringify(first.error)}: closed ${expected}, not ${result.closed}`);
            }
            else if (first !== undefined) assert.ok(['connection.success', 'resume.reset'].includes(first.type ?? ''), `served: ${JSON.stringify(first).slice(0, 200)}`);
          }
          assert.equal(target.faults(), faults, 'the upgrade caused no unexpected error (see the log with PARLEY_TEST_LOG=error)');
        },
      ),
    },
  ];
}
