import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { decodeFrame, encodeFrame } from '../../../gateway/codec.js';
import { wireValueProblem } from '../../../lib/wire-value.js';
import { anyFrame, wireMessage, type WireMessage } from '../arbitraries/frames.js';
import { hostileValue } from '../arbitraries/hostile.js';
import type { FuzzProperty } from '../property.js';

/** The bytes as uWS hands them over: an ArrayBuffer of exactly the message. */
function arrayBufferOf(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/**
 * What the edge accepts, every codec writes and reads back the same: the gateway relays accepted
 * values to other users' sockets in their codecs, and stores them as JSON.
 */
function assertRoundTrips(value: unknown): void {
  const json = encodeFrame(value, 'json') as string;
  assert.equal(typeof json, 'string', 'JSON writes it');
  const fromJson = JSON.parse(json) as unknown;
  assert.equal(wireValueProblem(fromJson), undefined, 'read back from JSON, still accepted');
  assert.equal(JSON.stringify(fromJson), json, 'JSON reads it back the same');
  const packed = encodeFrame(value, 'msgpack') as Uint8Array;
  const fromMsgpack = decodeFrame(arrayBufferOf(packed), true);
  assert.ok(fromMsgpack.ok, 'msgpack reads back what it wrote');
  assert.equal(wireValueProblem(fromMsgpack.value), undefined, 'read back from msgpack, still accepted');
  assert.equal(JSON.stringify(fromMsgpack.value), json, 'msgpack reads it back the same');
}

function checkDecoded(message: WireMessage): void {
  const decoded = decodeFrame(arrayBufferOf(message.bytes), message.binary);
  if (!decoded.ok) {
    assert.equal(typeof decoded.message, 'string');
    assert.equal(decoded.invalidUtf8 === true, !message.binary && !isUtf8(message.bytes), 'invalidUtf8 exactly for text that is not UTF-8');
    return;
  }
  if (!message.binary) assert.ok(isUtf8(message.bytes), 'text that decodes is UTF-8');
  if (wireValueProblem(decoded.value) === undefined) assertRoundTrips(decoded.value);
}

export const decoderProperties: FuzzProperty[] = [
  {
    name: 'decodeFrame: any bytes, text or binary, decode or are refused, never throw; what the edge accepts round-trips',
    testRuns: 1_500,
    property: fc.property(wireMessage, checkDecoded),
  },
  {
    name: 'wireValueProblem: any value is judged without throwing; what it accepts JSON and msgpack both write and read back the same',
    testRuns: 1_500,
    property: fc.property(fc.oneof(hostileValue, anyFrame), (value) => {
      const problem = wireValueProblem(value);
      if (problem !== undefined) {
        assert.equal(typeof problem, 'string');
        return;
      }
      assertRoundTrips(value);
    }),
  },
];
