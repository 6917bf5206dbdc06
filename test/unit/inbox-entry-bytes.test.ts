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

const json = fc.jsonValue({ maxDepth: 3 });
const origin = fc.record({ gatewayId: fc.string({ minLength: 1 }), connectionId: fc.string({ minLength: 1 }), ref: fc.option(fc.string({ maxLength: 80 }), { nil: undefined }) }, { requiredKeys: ['gatewayId', 'connectionId'] });
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
    fc.property(entry, fc.nat(), fc.option(fc.string({ maxLength: 80 }), { nil: undefined }), (e, seq, ref) => {
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

t.test('an entry of the earlier layout (payload first) is not spliced', async (t) => {
  const old = { type: 'message.new', payload: { message: { id: 'm1' } }, eventSeq: 5, origin: { gatewayId: 'gw', connectionId: 'c' } };
  const text = new TextDecoder().decode(encodeJson(old));
  t.equal(jsonFrameOf(text, 'message.new', 9), undefined);
  t.equal(jsonFrameOf('{"type":"x","eventSeq":1}', 'x', 1), undefined, 'no payload');
  t.equal(jsonFrameOf('{"type":"x","payload":{}}', 'x', 1), undefined, 'no eventSeq');
});
