import t from 'tap';
import { decodeFrame, encodeFrame, negotiate, subprotocols } from '../../gateway/codec.js';

/** An exact ArrayBuffer of these bytes (as uWS hands a message to the gateway). */
function buf(bytes: Uint8Array | number[]): ArrayBuffer {
  const u = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  return u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;
}
const text = (s: string) => buf(new TextEncoder().encode(s));

const frame = {
  type: 'message.send',
  ref: 'r1',
  payload: { toUserId: 'bob', tempId: 't-1', content: 'héllo 👋', mentions: ['bob', 'carol'], n: -7, f: 1.5, big: 2 ** 40, yes: true, none: null },
};

t.test('decodeFrame', async (t) => {
  t.test('a text frame is JSON', async (t) => {
    t.strictSame(decodeFrame(text('{"type":"ping","payload":{"timestamp":1}}'), false), {
      ok: true,
      value: { type: 'ping', payload: { timestamp: 1 } },
    });
  });

  t.test('a binary frame is msgpack', async (t) => {
    // {"type":"ping"} as a msgpack fixmap, written by hand.
    const bytes = [0x81, 0xa4, ...new TextEncoder().encode('type'), 0xa4, ...new TextEncoder().encode('ping')];
    t.strictSame(decodeFrame(buf(bytes), true), { ok: true, value: { type: 'ping' } });
  });

  t.test('invalid JSON', async (t) => {
    const d = decodeFrame(text('{"type":'), false);
    t.equal(d.ok, false);
    if (!d.ok) t.match(d.message, /^invalid JSON: /);
  });

  t.test('invalid UTF-8 in a text frame: the connection is to be failed (1007), not answered bad_frame', async (t) => {
    const d = decodeFrame(buf([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), false); // {"\xff":1}
    t.strictSame(d, { ok: false, message: 'a text frame must be UTF-8', invalidUtf8: true });
  });

  t.test('msgpack integers of any width are numbers, never BigInt', async (t) => {
    // {"t": uint64 0x0000018ff0000000} and {"t": int64 -2}, written by hand.
    const key = [0x81, 0xa1, 0x74];
    t.strictSame(decodeFrame(buf([...key, 0xcf, 0, 0, 0x01, 0x8f, 0xf0, 0, 0, 0]), true), { ok: true, value: { t: 0x018ff0000000 } });
    t.strictSame(decodeFrame(buf([...key, 0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]), true), { ok: true, value: { t: -2 } });
  });

  t.test('invalid msgpack: truncated, trailing bytes, empty', async (t) => {
    for (const [name, bytes] of [
      ['truncated array', [0x92, 0x01]],
      ['truncated string', [0xa5, 0x68]],
      ['trailing bytes', [0x01, 0x02]],
      ['empty', []],
    ] as const) {
      const d = decodeFrame(buf([...bytes]), true);
      t.equal(d.ok, false, name);
      if (!d.ok) t.match(d.message, /^invalid msgpack: /, name);
    }
  });

  t.test('JSON text sent as a binary frame is not JSON-decoded', async (t) => {
    t.equal(decodeFrame(text('{"type":"ping"}'), true).ok, false);
  });
});

t.test('encodeFrame', async (t) => {
  t.test('json: a string, round trips through decodeFrame', async (t) => {
    const encoded = encodeFrame(frame, 'json');
    t.equal(encoded, JSON.stringify(frame));
    t.strictSame(decodeFrame(text(encoded as string), false), { ok: true, value: frame });
  });

  t.test('msgpack: bytes, round trips through decodeFrame', async (t) => {
    const encoded = encodeFrame(frame, 'msgpack');
    t.ok(encoded instanceof Uint8Array);
    t.strictSame(decodeFrame(buf(encoded as Uint8Array), true), { ok: true, value: frame });
  });

  t.test('msgpack uses plain maps, never msgpackr record extensions', async (t) => {
    // Same-shaped objects are what msgpackr would turn into records. With ASCII strings and small
    // ints, no byte of plain msgpack is an ext header (0xc7–0xc9, 0xd4–0xd8).
    const rows = Array.from({ length: 5 }, (_, i) => ({ id: `m${i}`, seq: i, kind: 'x' }));
    const bytes = encodeFrame({ type: 'batch', payload: { rows } }, 'msgpack') as Uint8Array;
    const ext = [...bytes].filter((b) => (b >= 0xc7 && b <= 0xc9) || (b >= 0xd4 && b <= 0xd8));
    t.strictSame(ext, []);
    t.ok([0xde, 0xdf].includes(bytes[0]!) || (bytes[0]! & 0xf0) === 0x80, 'the frame is a msgpack map');
    t.strictSame(decodeFrame(buf(bytes), true), { ok: true, value: { type: 'batch', payload: { rows } } });
  });
});

t.test('negotiate', async (t) => {
  t.strictSame(negotiate('parley.v1.msgpack'), { codec: 'msgpack', protocol: 'parley.v1.msgpack' });
  t.strictSame(negotiate('parley.v1.json'), { codec: 'json', protocol: 'parley.v1.json' });
  t.strictSame(negotiate('parley.v1.json, parley.v1.msgpack'), { codec: 'msgpack', protocol: subprotocols.msgpack }, 'msgpack preferred');
  t.strictSame(negotiate(' bearer.abc.def ,parley.v1.json '), { codec: 'json', protocol: 'parley.v1.json' }, 'spaces trimmed');
  t.strictSame(negotiate('bearer.eyJhbGci, chat'), { codec: 'json', protocol: 'chat' }, 'falls back to json, echoing a non-token protocol');
  t.strictSame(negotiate('bearer.eyJhbGci'), { codec: 'json', protocol: '' }, 'a bearer protocol is never echoed');
  t.strictSame(negotiate(''), { codec: 'json', protocol: '' }, 'nothing offered');
  t.strictSame(negotiate(' , ,'), { codec: 'json', protocol: '' }, 'only separators');
  for (const offered of ['bearer.x', 'bearer.x,bearer.y', 'bearer.x, parley.v2.json', 'bearer.x,', 'foo, bearer.x']) {
    t.notMatch(negotiate(offered).protocol, /^bearer\./, `never echoes a bearer. protocol: ${offered}`);
  }
});
