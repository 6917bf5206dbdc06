import t from 'tap';
import { mayNeedSanitizing, sanitizeText, textProblem, wireValueProblem } from '../../lib/wire-value.js';

t.test('plain JSON values pass', async (t) => {
  t.equal(wireValueProblem({ type: 'message.send', payload: { content: 'héllo 👋', media: [{ url: 'x', width: 3 }], n: null, yes: true } }), undefined);
  t.equal(wireValueProblem([]), undefined);
  t.equal(wireValueProblem('text'), undefined);
});

t.test('what no codec or store can hold is named, with its path', async (t) => {
  const cases: [string, unknown, RegExp][] = [
    ['BigInt', { payload: { media: [{ x: 2n ** 62n }] } }, /^\/payload\/media\/0\/x: integer out of range/],
    ['NaN', { a: Number.NaN }, /\/a: numbers must be finite/],
    ['Infinity', { a: [Number.POSITIVE_INFINITY] }, /\/a\/0: numbers must be finite/],
    ['undefined', { a: undefined }, /\/a: undefined is not a JSON value/],
    ['a Date (msgpack timestamp)', { at: new Date() }, /\/at: not a JSON value \(Date\)/],
    ['a typed array (msgpack bin)', { b: new Uint8Array(2) }, /\/b: not a JSON value/],
    ['a Map', { m: new Map() }, /\/m: not a JSON value \(Map\)/],
    ['NUL', { c: 'a\u0000b' }, /\/c: text must not contain NUL/],
    ['a lone high surrogate', { c: 'a\ud800' }, /\/c: text must be valid Unicode/],
    ['a lone low surrogate', { c: '\udc00b' }, /valid Unicode/],
    ['NUL in a key', { ['k\u0000']: 1 }, /NUL/],
    // Found by test/fuzz: msgpack clients would get it back as `__proto_`.
    ['a __proto__ key (JSON.parse makes it an own field)', JSON.parse('{"a":{"__proto__":{"x":1}}}'), /^\/a\/__proto__: not a field name/],
  ];
  for (const [name, value, message] of cases) t.match(wireValueProblem(value), message, name);
});

t.test('nesting and size are bounded, without recursing past the bound', async (t) => {
  let deep: unknown = 'x';
  for (let i = 0; i < 100_000; i++) deep = [deep];
  t.match(wireValueProblem(deep), /nested deeper than 16 levels/);
  let sixteen: unknown = 1;
  for (let i = 0; i < 16; i++) sixteen = { a: sixteen };
  t.equal(wireValueProblem(sixteen), undefined, '16 levels are fine');
  t.match(wireValueProblem({ a: sixteen }), /deeper/, '17 are not');
  t.match(wireValueProblem(new Array(20_001).fill(0)), /too many values/);
  t.match(wireValueProblem({ a: 1 }, { maxDepth: 16, maxNodes: 1 }), /too many values/);
});

t.test('textProblem: paired surrogates are fine', async (t) => {
  t.equal(textProblem('😀 \ud83d\ude00'), undefined);
  t.ok(textProblem('\ude00\ud83d'), 'a pair in the wrong order is two lone surrogates');
});

t.test('sanitizeText replaces NUL and lone surrogates with U+FFFD, deeply, and leaves the rest', async (t) => {
  t.strictSame(sanitizeText({ a: ['x\u0000y', 'z\ud800'], b: 1, c: null, d: '😀', ['k\u0000']: true }), { a: ['x\ufffdy', 'z\ufffd'], b: 1, c: null, d: '😀', ['k\ufffd']: true });
});

t.test('mayNeedSanitizing looks at JSON bytes for the escapes JSON.stringify writes', async (t) => {
  const json = (v: unknown) => Buffer.from(JSON.stringify(v));
  t.equal(mayNeedSanitizing(json({ c: 'a\u0000' })), true);
  t.equal(mayNeedSanitizing(json({ c: 'a\udbff' })), true);
  t.equal(mayNeedSanitizing(json({ c: 'plain 😀 é' })), false);
});
