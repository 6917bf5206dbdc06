import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { closeCodes } from '../../../lib/errors.js';
import { wireMessage, type WireMessage } from '../arbitraries/frames.js';
import { FuzzSocket } from '../e2e/fuzz-socket.js';
import { assertErrorShape, type FuzzTarget } from '../e2e/target.js';
import type { FuzzProperty } from '../property.js';

/**
 * Frames of every kind on real sockets (JSON and msgpack, with and without a token): every frame
 * the server answers is readable in the socket's codec and, if an error, in the protocol's
 * shape; after each burst the socket still answers a ping, or was closed with a code that what
 * was sent explains.
 */

type Who = 'json' | 'msgpack' | 'anonymous';

/** A socket, and the close codes what was sent on it so far explains. */
type Tracked = { socket: FuzzSocket; mayClose: Set<number>; checked: number };

// Invalid UTF-8 in a text frame: native uWS fails the socket itself (the client sees 1006), the ws
// fallback lets the gateway close it with 1007 (test/e2e/hostile-inputs.test.ts).
const INVALID_UTF8_CLOSES = [1006, closeCodes.invalidPayload];
/** uWS closes a socket whose message passes its maxPayloadLength (twice the gateway's limit). */
const MESSAGE_TOO_BIG = 1009;

export function socketProperties(target: FuzzTarget): FuzzProperty[] {
  const sockets = new Map<Who, Tracked>();
  let probes = 0;
  target.disposers.push(() => sockets.forEach((s) => s.socket.terminate()));

  const checkReceived = (tracked: Tracked) => {
    const { received } = tracked.socket;
    for (; tracked.checked < received.length; tracked.checked++) {
      const r = received[tracked.checked]!;
      assert.equal(r.undecodable, undefined, `the server sent a frame its own codec cannot read: ${r.undecodable}`);
      const frame = r.value as { type?: unknown; error?: unknown };
      assert.ok(frame !== null && typeof frame === 'object' && typeof frame.type === 'string', `a frame with a type: ${JSON.stringify(frame)}`);
      if (frame.type === 'error') assertErrorShape(frame.error, 'error frame');
    }
  };

  const open = async (who: Who): Promise<Tracked> => {
    const known = sockets.get(who);
    if (known && !known.socket.isClosed) return known;
    if (known) {
      checkReceived(known);
      const code = (await known.socket.closed).code;
      assert.ok(known.mayClose.has(code), `a ${who} socket closed with ${code}, which nothing sent on it explains (${[...known.mayClose].join(', ')})`);
    }
    const token = who === 'anonymous' ? undefined : target.tokens[probes % target.tokens.length];
    const socket = await FuzzSocket.open(target.wsUrl, who === 'msgpack' ? 'msgpack' : 'json', token);
    // Too many bad frames is 4008 for anyone; a socket without a token is closed 4001 when its
    // authenticate fails or never comes.
    const tracked: Tracked = { socket, mayClose: new Set([closeCodes.policy, ...(who === 'anonymous' ? [closeCodes.unauthorized] : [])]), checked: 0 };
    sockets.set(who, tracked);
    if (token) assert.ok(await socket.waitFor((f) => (f as { type?: string }).type === 'connection.success', 0, 10_000), 'a fresh socket with a token is served');
    return tracked;
  };

  const explain = (tracked: Tracked, messages: WireMessage[]) => {
    for (const m of messages) {
      if (!m.binary && !isUtf8(m.bytes)) INVALID_UTF8_CLOSES.forEach((c) => tracked.mayClose.add(c));
      if (m.bytes.length > 2 * target.maxPayloadBytes) tracked.mayClose.add(MESSAGE_TOO_BIG);
    }
  };

  return [
    {
      name: 'socket: any burst of frames is answered in the protocol shape; the socket answers after it, or closed with a code it explains',
      testRuns: 250,
      property: fc.asyncProperty(fc.constantFrom<Who>('json', 'msgpack', 'anonymous'), fc.array(wireMessage, { minLength: 1, maxLength: 6 }), async (who, messages) => {
        const tracked = await open(who);
        const from = tracked.socket.received.length;
        explain(tracked, messages);
        for (const m of messages) tracked.socket.send(m);
        const ref = `probe-${++probes}`;
        tracked.socket.send({ binary: false, bytes: Buffer.from(JSON.stringify({ type: 'ping', ref, payload: {} })) });
        const answered = await tracked.socket.waitFor((f) => (f as { ref?: unknown }).ref === ref, from, 10_000);
        if (!answered) {
          assert.ok(tracked.socket.isClosed, 'the probe after the burst is answered, unless the socket was closed');
          await open(who); // checks the close code
        }
        checkReceived(tracked);
      }),
    },
  ];
}
