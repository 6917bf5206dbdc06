// Pure logic of the bench suite (histogram, frame templates and scanning, load plan, flags).
// The benchmarks themselves never run in `npm test`.
import t from 'tap';
import { pack } from 'msgpackr';
import { parseFlags, type FlagSpec } from '../../bench/lib/flags.js';
import { FrameTemplate, MessageIds, decode, scanFrame } from '../../bench/lib/frames.js';
import { Histogram, highestOf, indexOf } from '../../bench/lib/histogram.js';
import { messageTarget, planLoad } from '../../bench/lib/load-plan.js';

t.test('histogram: exact below 2048, within 0.1 % above, merges', async (t) => {
  for (const v of [0, 1, 2047, 2048, 2049, 4095, 4096, 123_456, 9_999_999, 2 ** 31 + 5]) {
    const i = indexOf(v);
    t.ok(highestOf(i) >= v, `bucket of ${v} holds it`);
    t.ok(highestOf(i) - v <= Math.max(0, v / 1000), `bucket of ${v} is tight`);
    if (i > 0) t.ok(highestOf(i - 1) < v, `previous bucket of ${v} is below it`);
  }
  const h = new Histogram();
  for (let v = 1; v <= 100_000; v++) h.record(v);
  t.equal(h.percentile(50), highestOf(indexOf(50_000)));
  t.ok(Math.abs(h.percentile(99) - 99_000) / 99_000 < 0.002);
  t.equal(h.percentile(100), 100_000);
  t.equal(h.summary().max, 100_000);
  const a = new Histogram();
  const b = new Histogram();
  for (let v = 1; v <= 50_000; v++) a.record(v);
  for (let v = 50_001; v <= 100_000; v++) b.record(v);
  const m = Histogram.fromSparse(a.toSparse());
  m.add(b.toSparse());
  t.same(m.summary(), h.summary());
  t.ok(Number.isNaN(new Histogram().percentile(50)));
});

t.test('frame templates: one encoding, patched ids, both codecs', async (t) => {
  const ids = new MessageIds('bx1.', 7);
  const ph = '~'.repeat(ids.length);
  for (const codec of ['json', 'msgpack'] as const) {
    const tpl = new FrameTemplate(codec, { type: 'message.send', ref: ph, payload: { conversationId: 'd_x', tempId: ph, content: 'hi' } }, ph);
    t.equal(tpl.offsets.length, 2);
    const f = decode(tpl.make(ids.id(12345)), codec);
    t.same(f, { type: 'message.send', ref: ids.id(12345), payload: { conversationId: 'd_x', tempId: ids.id(12345), content: 'hi' } });
  }
  t.equal(ids.parseString(ids.id(0)), 0);
  t.equal(ids.parseString(ids.id(36 ** 7 - 1)), 36 ** 7 - 1);
  t.equal(ids.parseString('by1.0000001'), -1);
  t.equal(ids.parseString('bx1.000001'), -1);
});

t.test('scanFrame: fast path matches a full decode; falls back otherwise', async (t) => {
  const ids = new MessageIds('bq0.', 7);
  const message = { id: 'm_1', conversationId: 'd_1', seq: 3, senderId: 'u1', tempId: ids.id(77), content: 'x', status: 'sent' };
  const frames = [
    { type: 'message.new', seq: 1042, payload: { message } },
    { type: 'message.sent', seq: 70000, ref: ids.id(77), payload: { tempId: ids.id(77), message } },
    { type: 'message.sent', seq: 5_000_000_000, payload: { tempId: ids.id(77), message } },
    { type: 'unread.update', payload: { conversationId: 'd_1', unread: 3, totalUnread: 3 } },
  ];
  for (const codec of ['json', 'msgpack'] as const) {
    for (const f of frames) {
      const buf = codec === 'json' ? Buffer.from(JSON.stringify(f)) : Buffer.from(pack(f));
      const s = scanFrame(buf, codec);
      t.equal(s.type, f.type, `${codec} ${f.type} type`);
      t.equal(s.seq, f.seq, `${codec} ${f.type} seq`);
      t.equal(s.frame, undefined, `${codec} ${f.type} took the fast path`);
      if (f.type !== 'unread.update') t.equal(ids.parse(buf, s.tempIdAt![0], s.tempIdAt![1]), 77);
    }
    const err = { type: 'error', ref: 'r', error: { code: 'rate_limited', message: 'slow down' } };
    const s = scanFrame(codec === 'json' ? Buffer.from(JSON.stringify(err)) : Buffer.from(pack(err)), codec);
    t.equal(s.type, 'error');
    t.same(s.frame, err);
  }
  // another key order: decoded, not misread
  const odd = Buffer.from(JSON.stringify({ seq: 4, type: 'message.new', payload: { message } }));
  const s = scanFrame(odd, 'json');
  t.equal(s.type, 'message.new');
  t.equal(s.seq, 4);
  t.ok(s.frame);
  t.equal(scanFrame(Buffer.from('{nope'), 'json').type, '$undecodable');
});

t.test('load plan: disjoint shares, conversations inside a share, rates add up', async (t) => {
  const plans = planLoad({ connections: 2000, members: 2, workers: 3, rate: 10_000, runTag: 'bt' });
  t.equal(plans.reduce((a, p) => a + p.users.length, 0), 2000);
  t.equal(new Set(plans.flatMap((p) => p.users)).size, 2000);
  t.equal(plans.reduce((a, p) => a + p.conversations.length, 0), 999); // 666 + 667 + 667 users
  t.ok(Math.abs(plans.reduce((a, p) => a + p.rate, 0) - 10_000) < 1e-6);
  for (const p of plans) {
    const seen = new Set<number>();
    for (const c of p.conversations) for (const k of c) {
      t.ok(k >= 0 && k < p.users.length);
      t.notOk(seen.has(k), 'each user in one conversation by default');
      seen.add(k);
    }
  }
  const groups = planLoad({ connections: 2000, members: 50, workers: 2, rate: 2000, runTag: 'bt' });
  t.same(groups.map((p) => p.conversations.length), [20, 20]);
  t.ok(groups.every((p) => p.conversations.every((c) => c.length === 50 && new Set(c).size === 50)));
  // more conversations than users / members: users in several, no direct pair twice
  const many = planLoad({ connections: 100, members: 2, conversations: 200, workers: 1, rate: 100, runTag: 'bt' });
  t.equal(new Set(many[0]!.conversations.map((c) => [...c].sort((a, b) => a - b).join())).size, 200);
  t.throws(() => planLoad({ connections: 10, members: 50, workers: 1, rate: 1, runTag: 'bt' }));
  t.same(messageTarget(0, 10, 2), { conversation: 0, sender: 0 });
  t.same(messageTarget(13, 10, 2), { conversation: 3, sender: 1 });
});

t.test('flags: types, bounds, lists, booleans', async (t) => {
  const specs: FlagSpec[] = [
    { name: 'rate', kind: 'number', default: 10, min: 1, help: '' },
    { name: 'n', kind: 'int', help: '' },
    { name: 'codec', kind: 'string', default: 'json', choices: ['json', 'msgpack'], help: '' },
    { name: 'env', kind: 'list', help: '' },
    { name: 'keep', kind: 'bool', help: '' },
  ];
  const { values } = parseFlags(specs, ['--rate', '2_500', '--n=3', '--env', 'A=1', '--env=B=2', '--keep']);
  t.same(values, { rate: 2500, n: 3, codec: 'json', env: ['A=1', 'B=2'], keep: true });
  t.throws(() => parseFlags(specs, ['--rate', '0']), { name: 'FlagError' });
  t.throws(() => parseFlags(specs, ['--n', '1.5']), { name: 'FlagError' });
  t.throws(() => parseFlags(specs, ['--codec', 'xml']), { name: 'FlagError' });
  t.throws(() => parseFlags(specs, ['--nope']), { name: 'FlagError' });
  t.throws(() => parseFlags(specs, ['--rate']), { name: 'FlagError' });
});
