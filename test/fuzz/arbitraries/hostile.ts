import fc from 'fast-check';

/**
 * What a hostile or careless client sends where text, numbers or any value go: each of these
 * strings once broke, or could break, some layer between the socket and Postgres (NUL and lone
 * surrogates in Postgres text, subject tokens in NATS, escapes in URLs, prototype keys in
 * decoders, lengths one past a schema's limit).
 */
export const hostileStringList: readonly string[] = [
  '', ' ', '\u0000', 'a\u0000b', '\ud800', '\udfff', 'a\ud800b', '\ude00\ud83d', '\ud83d', '😀', 'e\u0301', '\u202e', '\ufeff', '\u2028', '\uffff', '\ufffd',
  '%00', '%ZZ', '%E0%A4%A', '%2F', '../', 'a.b', '*', '>', 'a b', '\n', '\r\n', '\t', '\\', '"', "'",
  '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty',
  'null', 'NaN', '-1', '1e309', '0x10', '<script>', "'; DROP TABLE messages; --",
  'x'.repeat(64), 'x'.repeat(65), 'x'.repeat(128), 'x'.repeat(129), 'x'.repeat(256), 'x'.repeat(257), 'x'.repeat(2049), 'x'.repeat(16_385),
];

/** Any UTF-16 code unit, lone surrogates and NUL included (fast-check's own units never give lone surrogates). */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...hostileStringList),
  fc.string({ unit: codeUnit, maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ maxLength: 40 }),
);

/** Object keys: ordinary ones, prototype names and hostile text. */
export const hostileKey: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'type', 'payload', 'ref', 'tempId', 'conversationId', 'toUserId', 'content', 'media', 'url', 'seq', 'token', 'kind'),
  hostileString,
);

export const hostileNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(0, -0, -1, 1, 1.5, 2 ** 31, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), Number.MAX_VALUE, Number.MIN_VALUE, 1e308),
  fc.double(),
  fc.integer(),
  fc.maxSafeInteger(),
);

/** A nesting `depth` deep of single-key objects or one-item arrays around `bottom`. */
export function nested(depth: number, bottom: unknown, inArrays: boolean): unknown {
  let value = bottom;
  for (let i = 0; i < depth; i++) value = inArrays ? [value] : { d: value };
  return value;
}

/**
 * Any value a decoder can hand over: JSON values, and what msgpack adds (BigInt, Dates, typed
 * arrays, Maps, Sets), boxed values, sparse arrays, null-prototype objects, prototype keys, hostile
 * text and numbers, and nesting past the edge's limit of 16.
 */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: hostileString },
  { weight: 2, arbitrary: hostileNumber },
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.bigInt(),
  fc.date({ noInvalidDate: false }),
  {
    weight: 4,
    arbitrary: fc.anything({
      maxDepth: 4,
      key: hostileKey,
      values: [hostileString, hostileNumber, fc.boolean(), fc.constant(null)],
      withBigInt: true,
      withDate: true,
      withTypedArray: true,
      withMap: true,
      withSet: true,
      withBoxedValues: true,
      withSparseArray: true,
      withNullPrototype: true,
      withObjectString: true,
    }),
  },
  fc.tuple(fc.integer({ min: 14, max: 40 }), fc.boolean()).map(([depth, inArrays]) => nested(depth, 'bottom', inArrays)),
);

/** Only JSON values (what a JSON text can hold), hostile text and numbers included. */
export const hostileJson: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  hostileNumber.filter(Number.isFinite),
  fc.json().map((text) => JSON.parse(text) as unknown),
  fc.jsonValue({ maxDepth: 4 }),
  fc.dictionary(hostileKey, fc.oneof(hostileString, hostileNumber.filter(Number.isFinite), fc.constant(null)), { maxKeys: 5 }),
);
