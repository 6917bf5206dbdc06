import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { clientPayloads, plannedClientFrames, type ClientFrameType } from '../../../schemas/index.js';
import { validOf } from './from-schema.js';
import { hostileJson, hostileString, hostileValue } from './hostile.js';
import { mutated } from './mutate.js';

/** Every client frame type, from the schemas: a new frame is fuzzed as soon as it has a schema. */
export const clientFrameTypes = Object.keys(clientPayloads) as ClientFrameType[];

/** Payloads of `type` its schema accepts. */
export const validPayload = (type: ClientFrameType): fc.Arbitrary<unknown> => validOf(clientPayloads[type]);

/** Payloads of `type`: valid, valid with 1–3 things wrong, or anything at all. */
export const payloadOf = (type: ClientFrameType): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 2, arbitrary: validPayload(type) }, { weight: 5, arbitrary: mutated(validPayload(type)) }, { weight: 1, arbitrary: hostileValue });

const ref = fc.option(fc.oneof(fc.stringMatching(/^[a-z0-9-]{1,12}$/), hostileString), { nil: undefined });

/** A whole frame `{ type, ref?, payload }` of `type`, its payload from payloadOf. */
export const frameOf = (type: ClientFrameType): fc.Arbitrary<unknown> =>
  fc.record({ type: fc.constant(type), ref, payload: payloadOf(type) }, { requiredKeys: ['type', 'payload'] });

/** Any frame: one of every type, a valid one mutated anywhere (type and ref too), or any value at all. */
export const anyFrame: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...clientFrameTypes).chain(frameOf) },
  { weight: 2, arbitrary: mutated(fc.constantFrom(...clientFrameTypes).chain((type) => fc.record({ type: fc.constant(type), payload: validPayload(type) }))) },
  { weight: 1, arbitrary: fc.record({ type: plannedClientFrames.size > 0 ? fc.oneof(fc.constantFrom(...plannedClientFrames), hostileString) : hostileString, ref, payload: hostileValue }) },
  { weight: 1, arbitrary: hostileValue },
);

/** One WebSocket message as it goes on the wire: text (the JSON codec) or binary (msgpack). */
export type WireMessage = { binary: boolean; bytes: Uint8Array };

// Plain maps, as other msgpack libraries write them; and msgpackr's own records and structured
// clones, which the gateway's decoder also reads.
const packers = [new Packr({ useRecords: false }), new Packr({ useRecords: true }), new Packr({ structuredClone: true })];

/** `value` as a JSON text frame (undefined when JSON cannot hold it: a BigInt). */
function asJson(value: unknown): WireMessage | undefined {
  try {
    const text = JSON.stringify(value);
    return text === undefined ? undefined : { binary: false, bytes: Buffer.from(text) };
  } catch {
    return undefined;
  }
}

function asMsgpack(value: unknown, packer: number): WireMessage | undefined {
  try {
    return { binary: true, bytes: packers[packer]!.pack(value) };
  } catch {
    return undefined;
  }
}

/** Hand-written JSON texts: what JSON.stringify never writes but JSON.parse reads. */
const oddJsonTexts = fc.constantFrom(
  '{"type":"ping","payload":{"timestamp":1e999}}',
  '{"type":"ping","payload":{"timestamp":-0}}',
  '{"type":"ping","payload":{"timestamp":123456789012345678901234567890}}',
  '{"type":"message.send","payload":{"toUserId":"bob","tempId":"t","content":"a\\u0000b"}}',
  '{"type":"message.send","payload":{"toUserId":"bob","tempId":"t","content":"\\ud800"}}',
  '{"type":"message.send","payload":{"__proto__":{"toUserId":"bob"},"tempId":"t","content":"x"}}',
  '{"__proto__":{"type":"ping"},"payload":{}}',
  '{"type":"ping","type":"authenticate","payload":{}}',
  '{"type":"ping","ref":"r","ref":"\\u0000","payload":{}}',
  '{"type":"ping","payload":{"timestamp":1}} trailing',
  '\ufeff{"type":"ping","payload":{}}',
  '',
  '[]',
  'null',
  `${'['.repeat(50_000)}${']'.repeat(50_000)}`,
  `${'{"d":'.repeat(20_000)}1${'}'.repeat(20_000)}`,
);

/** Encoded frames, and their bytes broken: cut short, a byte flipped, or random. */
export const wireMessage: fc.Arbitrary<WireMessage> = fc.oneof(
  { weight: 4, arbitrary: anyFrame.map(asJson).filter((m): m is WireMessage => m !== undefined) },
  { weight: 4, arbitrary: fc.tuple(anyFrame, fc.nat(2)).map(([v, p]) => asMsgpack(v, p)).filter((m): m is WireMessage => m !== undefined) },
  { weight: 1, arbitrary: oddJsonTexts.map((text) => ({ binary: false, bytes: Buffer.from(text) })) },
  { weight: 1, arbitrary: fc.tuple(hostileJson, fc.nat(2)).map(([v, p]) => asMsgpack(v, p)).filter((m): m is WireMessage => m !== undefined) },
  { weight: 2, arbitrary: fc.tuple(anyFrame, fc.nat(2), fc.boolean(), fc.nat(), fc.nat(255)).map(([v, p, binary, at, byte]) => broken(binary ? asMsgpack(v, p) : asJson(v), at, byte)).filter((m): m is WireMessage => m !== undefined) },
  { weight: 1, arbitrary: fc.record({ binary: fc.boolean(), bytes: fc.uint8Array({ maxLength: 256 }) }) },
);

/** The message cut at `at` or with the byte there changed; text frames may so become invalid UTF-8. */
function broken(message: WireMessage | undefined, at: number, byte: number): WireMessage | undefined {
  if (!message || message.bytes.length === 0) return undefined;
  const bytes = Uint8Array.from(message.bytes);
  const i = at % bytes.length;
  if (byte % 2 === 0) return { binary: message.binary, bytes: bytes.subarray(0, i) };
  bytes[i] = byte;
  return { binary: message.binary, bytes };
}
