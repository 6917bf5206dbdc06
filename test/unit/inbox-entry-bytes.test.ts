import t from 'tap';
import fc from 'fast-check';
import { decodeInboxEntry, encodeInboxEntry, jsonFrameOf } from '../../lib/inbox-entry-bytes.js';
import { encodeJson } from '../../lib/json.js';
import type { InboxEntry } from '../../schemas/index.js';

/**
 * Stored inbox entries put `payload` last so that a JSON socket's frame is spliced from the
 * stored text: the spliced frame must be exactly the frame encoding would give, whatever the
 * payload and whatever a client put in its `ref`; an entry of the earlier layout is never spliced
 * (its origin would reach the socket).
 */

/** Any code point, NUL and lone surrogates among them (a client's text and ref reach entries as they are). */
const text = (maxLength: number) => fc.oneof(fc.string({ unit: 'binary', maxLength }), fc.constantFrom('\0', '\ud800', 'a\udc00b', '\\"payload\\":', ',"payload":', '\\u12'));
const json = fc.oneof(fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' }), fc.constantFrom(1e308, -0, Number.MAX_SAFE_INTEGER + 2, [[[[[[[[[[[]]]]]]]]]]], { payload: { eventSeq: 1, origin: 'x' } }));
const ref = fc.option(text(80), { nil: undefined });
const origin = fc.record({ gatewayId: fc.string({ minLength: 1 }), connectionId: fc.string({ minLength: 1 }), ref }, { requiredKeys: ['gatewayId', 'connectionId'] });
const entry = fc.record(
  {
    type: fc.constantFrom('message.new', 'message.status', 'conversation.updated', 'block.added'),
    payload: json,
    eventSeq: fc.nat(),
    origin,
  },
  { requiredKeys: ['type', 'payload', 'eventSeq'] },
);

t.test('a spliced frame is the encoded frame', async (t) => {
  fc.assert(
    fc.property(entry, fc.nat(), ref, (e, seq, ref) => {
      const { text, entry: decoded } = decodeInboxEntry(encodeInboxEntry(e as unknown as InboxEntry));
      t.strictSame(decoded, JSON.parse(JSON.stringify(e)), 'the entry reads back as it was');
      const spliced = jsonFrameOf(text, e.type, seq, ref);
      if (spliced === undefined) throw new Error('not spliced');
      const expected = JSON.parse(JSON.stringify({ type: e.type, seq, ...(ref !== undefined ? { ref } : {}), payload: e.payload }));
      t.strictSame(JSON.parse(spliced), expected, 'the frame, nothing more');
    }),
    { numRuns: 300 },
  );
});

t.test("only the actor's copy keeps the origin; the other copy is the same frame", async (t) => {
  fc.assert(
    fc.property(entry, fc.nat(), (e, seq) => {
      const full = decodeInboxEntry(encodeInboxEntry(e as unknown as InboxEntry));
      const bare = decodeInboxEntry(encodeInboxEntry(e as unknown as InboxEntry, { withOrigin: false }));
      t.equal(bare.entry.origin, undefined);
      t.strictSame(full.entry.origin, e.origin === undefined ? undefined : JSON.parse(JSON.stringify(e.origin)));
      t.equal(jsonFrameOf(bare.text, e.type, seq), jsonFrameOf(full.text, e.type, seq));
    }),
    { numRuns: 100 },
  );
});

t.test('an entry of the earlier layout (payload first) is not spliced', async (t) => {
  const old = { type: 'message.new', payload: { message: { id: 'm1' } }, eventSeq: 5, origin: { gatewayId: 'gw', connectionId: 'c' } };
  const text = new TextDecoder().decode(encodeJson(old));
  t.equal(jsonFrameOf(text, 'message.new', 9), undefined);
  t.equal(jsonFrameOf('{"type":"x","eventSeq":1}', 'x', 1), undefined, 'no payload');
  t.equal(jsonFrameOf('{"type":"x","payload":{}}', 'x', 1), undefined, 'no eventSeq');
});
