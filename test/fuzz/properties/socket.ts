import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { closeCodes } from '../../../lib/errors.js';
import { wireMessage, type WireMessage } from '../arbitraries/frames.js';
import { FuzzSocket, UpgradeRefused } from '../e2e/fuzz-socket.js';
import { assertErrorShape, type FuzzTarget } from '../e2e/target.js';
import type { FuzzProperty } from '../property.js';

/**
 * Bursts of frames of every kind on real sockets (JSON and msgpack, with and without a token):
 * every frame the server answers is readable in the socket's codec and, if an error, in the
 * protocol's shape; after the burst the socket still answers a ping, or was closed with a code
 * that the burst explains (docs/protocol.md, Close codes). A socket of its own per burst, so a
 * counterexample is the whole story and shrinks to one.
 */

type Who = 'json' | 'msgpack' | 'anonymous';

// Invalid UTF-8 in a text frame: native uWS fails the socket itself (1006), the ws fallback lets
// the gateway close it with 1007.
const INVALID_UTF8_CLOSES = [1006, closeCodes.invalidPayload];
/** A message over twice the gateway's limit: native uWS drops the socket (1006), ws says 1009. */
const MESSAGE_TOO_BIG_CLOSES = [1006, 1009];

/** The close codes a burst explains: too many bad frames for anyone, a failed authenticate without a token, and the above. */
function explainedCloses(who: Who, burst: WireMessage[], maxPayloadBytes: number): Set<number> {
  const codes = new Set<number>([closeCodes.policy]);
  if (who === 'anonymous') codes.add(closeCodes.unauthorized);
  for (const m of burst) {
    if (!m.binary && !isUtf8(m.bytes)) INVALID_UTF8_CLOSES.forEach((c) => codes.add(c));
    if (m.bytes.length > 2 * maxPayloadBytes) MESSAGE_TOO_BIG_CLOSES.forEach((c) => codes.add(c));
  }
  return codes;
}

function assertAnswersInShape(socket: FuzzSocket): void {
  for (const r of socket.received) {
    assert.equal(r.undecodable, undefined, `the server sent a frame its own codec cannot read: ${r.undecodable}`);
    const frame = r.value as { type?: unknown; error?: unknown };
    assert.ok(frame !== null && typeof frame === 'object' && typeof frame.type === 'string', `a frame with a type: ${JSON.stringify(frame)}`);
    if (frame.type === 'error') assertErrorShape(frame.error, 'error frame');
  }
}

/** Mostly short bursts; some long enough to pass the bad-frame limit (30 a minute) and be closed 4008. */
const burst = fc.oneof({ weight: 9, arbitrary: fc.array(wireMessage, { minLength: 1, maxLength: 8 }) }, { weight: 1, arbitrary: fc.array(wireMessage, { minLength: 30, maxLength: 40 }) });

export function socketProperties(target: FuzzTarget): FuzzProperty[] {
  let probes = 0;
  let sockets = 0;
  return [
    {
      name: 'socket: any burst of frames is answered in the protocol shape; the socket answers after it, or closed with a code it explains',
      testRuns: 400,
      fuzzShare: 4,
      property: fc.asyncProperty(fc.constantFrom<Who>('json', 'msgpack', 'anonymous'), burst, async (who, messages) => {
        // A user of its own per burst: one burst's frames never count against another's limits.
        const token = who === 'anonymous' ? undefined : await target.system.token(`fuzz-s${++sockets}`);
        const faults = target.faults();
        let socket: FuzzSocket;
        try {
          socket = await FuzzSocket.open(target.wsUrl, who === 'msgpack' ? 'msgpack' : 'json', token);
        } catch (err) {
          // Too many sockets from this address: the limiter's answer, and a well-formed one. Not
          // for sockets left unauthenticated: this property holds one at a time, so the count leaked.
          if (!(err instanceof UpgradeRefused) || err.status !== 429) throw err;
          assert.doesNotMatch(err.body, /unauthenticated/, 'the count of unauthenticated sockets leaked');
          return void assert.ok(err.retryAfter !== undefined, 'a 429 says when to retry (Retry-After)');
        }
        try {
          if (token) assert.ok(await socket.waitFor((f) => (f as { type?: string }).type === 'connection.success', 0, 10_000), 'a socket with a token is served');
          const from = socket.received.length;
          for (const m of messages) socket.send(m);
          const ref = `probe-${++probes}`;
          socket.send({ binary: false, bytes: Buffer.from(JSON.stringify({ type: 'ping', ref, payload: {} })) });
          if (!(await socket.waitFor((f) => (f as { ref?: unknown }).ref === ref, from, 10_000))) {
            assert.ok(socket.isClosed, 'the ping after the burst is answered, unless the socket was closed');
            const { code } = await socket.closed;
            const explained = explainedCloses(who, messages, target.maxPayloadBytes);
            assert.ok(explained.has(code), `closed with ${code}, which the burst does not explain (${[...explained].join(', ')})`);
          }
          assertAnswersInShape(socket);
          assert.equal(target.faults(), faults, 'the burst caused no unexpected error (see the log with PARLEY_TEST_LOG=error)');
        } finally {
          socket.terminate();
        }
      }),
    },
  ];
}
