/**
 * `parley replay` and `parley export` against real NATS, called in-process (runReplay/runExport)
 * with captured stdout/stderr. Every check compares with the log read back independently, one
 * message at a time with Direct Get.
 */
import t, { type Test } from 'tap';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { settleLog } from '../helpers/event-log.js';
import { startSystem, testLog } from '../helpers/system.js';
import { connectNats, ensureStreams, type NatsConnection } from '../../lib/nats.js';
import { makeNames, type Names } from '../../lib/names.js';
import type { Config } from '../../lib/config.js';
import { directConversationId } from '../../lib/ids.js';
import { runReplay } from '../../cli/replay.js';
import { runExport } from '../../cli/export.js';
import type { CliIo } from '../../cli/io.js';
import { isoFromNanos, nanosFromIso } from '../../cli/iso-time.js';
import { parseBound } from '../../cli/log-range.js';
import { formatDuration, Progress } from '../../cli/progress.js';

type Captured = { stream: Writable & { isTTY?: boolean; columns?: number }; buffer(): Buffer; text(): string };

function capture(isTTY = false): Captured {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      chunks.push(Buffer.from(chunk));
      callback();
    },
  }) as Captured['stream'];
  if (isTTY) {
    stream.isTTY = true;
    stream.columns = 100;
  }
  return { stream, buffer: () => Buffer.concat(chunks), text: () => Buffer.concat(chunks).toString('utf8') };
}

type Ran = { code: number; stdout: Buffer; out: string; err: string };

function envFor(config: Config): Record<string, string> {
  return { PARLEY_NATS_URL: config.natsUrl.join(','), PARLEY_PREFIX: config.prefix, PARLEY_LOG_LEVEL: 'warn' };
}

async function cli(command: (argv: string[], io: CliIo) => Promise<number>, config: Config, argv: string[], stderrTTY = false): Promise<Ran> {
  const stdout = capture();
  const stderr = capture(stderrTTY);
  const code = await command(argv, { stdout: stdout.stream, stderr: stderr.stream, env: envFor(config) });
  return { code, stdout: stdout.buffer(), out: stdout.text(), err: stderr.text() };
}

type Stored = { seq: number; subject: string; timeNs: bigint; data: Buffer };

/** The whole events stream, read one message at a time with Direct Get (deleted ones skipped). */
async function storedLog(jsm: JetStreamManager, names: Names): Promise<Stored[]> {
  const info = await jsm.streams.info(names.streams.events);
  const out: Stored[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.last_seq > 0; seq++) {
    const m = await jsm.direct.getMessage(names.streams.events, { seq });
    if (m) out.push({ seq: m.seq, subject: m.subject, timeNs: nanosFromIso(m.timestamp)!, data: Buffer.from(m.data) });
  }
  return out;
}

/** The export line for a stored message, built by hand: the contract, byte for byte. */
function expectedLine(s: Stored): string {
  return `{"logSeq":${s.seq},"subject":${JSON.stringify(s.subject)},"time":"${isoFromNanos(s.timeNs)}","event":${s.data.toString('utf8')}}`;
}

/** Lines of output that must end with a newline (throws otherwise). */
function lines(text: string): string[] {
  if (text === '') return [];
  if (!text.endsWith('\n')) throw new Error(`output does not end with a newline: ${JSON.stringify(text.slice(-80))}`);
  return text.slice(0, -1).split('\n');
}

t.test('replay and export read a real conversation log exactly as stored', async (t) => {
  const sys = await startSystem(t);
  const names = makeNames(sys.config.prefix);
  const nc = await connectNats(sys.config, 'audit-test', testLog);
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);

  const alice = await sys.connect('alice', { name: 'Alice' });
  const bob = await sys.connect('bob', { name: 'Bob' });
  const carol = await sys.connect('carol', { name: 'Carol' });
  const tricky = 'line1\nline2 "quoted" \\ back\tslash ✓ 🎉 \u2028 end';
  alice.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: 'ab-1', content: 'hello bob' } });
  await alice.next('message.sent', (f) => f.payload.tempId === 'ab-1');
  alice.send({ type: 'message.send', payload: { toUserId: 'carol', tempId: 'ac-1', content: 'hello carol' } });
  alice.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: 'ab-2', content: tricky } });
  await alice.collect('message.sent', 3);
  bob.send({ type: 'message.send', payload: { toUserId: 'alice', tempId: 'ba-1', content: 'hi alice' } });
  await bob.next('message.sent', (f) => f.payload.tempId === 'ba-1');
  alice.send({ type: 'conversation.create', payload: { kind: 'group', title: 'team', members: ['bob', 'carol'] } });
  const group = (await carol.next('conversation.created', (f) => f.payload.conversation.kind === 'group')).payload.conversation.id as string;
  carol.send({ type: 'message.send', payload: { conversationId: group, tempId: 'cg-1', content: 'hi team' } });
  await carol.next('message.sent', (f) => f.payload.tempId === 'cg-1');
  const dm = directConversationId('alice', 'bob');
  bob.send({ type: 'message.read', payload: { conversationId: dm, upToSeq: 2 } });
  alice.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: 'ab-3', content: 'after the read' } });
  await alice.next('message.sent', (f) => f.payload.tempId === 'ab-3');
  alice.send({ type: 'block.add', payload: { userId: 'carol' } });
  await alice.next('block.added');
  await settleLog(jsm, names);

  const all = await storedLog(jsm, names);
  const dmSubject = names.subjects.conversationEvents(dm);
  const dmEvents = all.filter((s) => s.subject === dmSubject);
  t.ok(dmEvents.length >= 5, `the direct conversation has its events (${dmEvents.length})`);
  t.ok(all.some((s) => s.subject !== dmSubject && s.seq > dmEvents[0]!.seq && s.seq < dmEvents.at(-1)!.seq), "other conversations' events are interleaved with it");
  t.ok(all.some((s) => s.subject === names.subjects.userEvents('alice')), 'the log has a user event (the block)');
  t.ok(dmEvents.some((s) => s.data.toString().includes('\\u2028') || s.data.toString().includes('\u2028')), 'the tricky content is in the log');

  t.test('jsonl: the stored JSON, byte for byte, one per line', async (t) => {
    const r = await cli(runReplay, sys.config, ['--conversation', dm, '--format', 'jsonl']);
    t.equal(r.code, 0, 'exit 0', { stderr: r.err });
    t.same(r.stdout, Buffer.concat(dmEvents.flatMap((s) => [s.data, Buffer.from('\n')])), 'byte-identical');
    const parsed = lines(r.out).map((l) => JSON.parse(l));
    t.same(
      parsed.map((e) => e.type),
      dmEvents.map((s) => JSON.parse(s.data.toString()).type),
    );
    t.equal(parsed.find((e) => e.data?.tempId === 'ab-2')?.data.content, tricky, 'content survives');
    t.equal(r.err, '', 'nothing on stderr');
  });

  t.test('json: one array of {logSeq, subject, time, event}', async (t) => {
    const r = await cli(runReplay, sys.config, ['--conversation', dm, '--format', 'json']);
    t.equal(r.code, 0, 'exit 0', { stderr: r.err });
    const parsed = JSON.parse(r.out) as { logSeq: number; subject: string; time: string; event: unknown }[];
    t.ok(Array.isArray(parsed));
    t.same(
      parsed.map((p) => p.logSeq),
      dmEvents.map((s) => s.seq),
      'same log seqs in order',
    );
    parsed.forEach((p, i) => {
      const s = dmEvents[i]!;
      t.equal(p.subject, s.subject);
      t.equal(nanosFromIso(p.time), s.timeNs, `log seq ${s.seq}: time to the nanosecond`);
      t.same(p.event, JSON.parse(s.data.toString()));
    });
    t.ok(r.out.includes(s0(dmEvents)), 'the stored bytes are embedded as they are');
  });

  t.test('table: a header and one line per event', async (t) => {
    const r = await cli(runReplay, sys.config, ['--conversation', dm]);
    t.equal(r.code, 0, 'exit 0', { stderr: r.err });
    const rows = lines(r.out);
    t.match(rows[0], /^\s*LOG SEQ\s+TIME\s+TYPE\s+ACTOR\s+SUMMARY$/);
    t.equal(rows.length, dmEvents.length + 1, 'one line per event, even with a newline in a message');
    rows.slice(1).forEach((row, i) => {
      const s = dmEvents[i]!;
      const e = JSON.parse(s.data.toString());
      t.match(row, new RegExp(`^\\s*${s.seq}  ${isoFromNanos(s.timeNs).slice(0, 23)}Z\\s+${e.type}\\s+${e.actor.id}\\s+`), `row ${i + 1}`);
    });
    const hello = dmEvents.map((s) => JSON.parse(s.data.toString())).find((e) => e.data?.tempId === 'ab-1');
    t.ok(rows.some((row) => row.endsWith(`${hello.data.messageId} seq 1: hello bob`)), 'a message row summarises id, seq and content');
    t.ok(rows.some((row) => /bob read up to seq 2$/.test(row)), 'a read receipt row');
    t.ok(rows.some((row) => / direct: alice(?: \(owner\))?, bob/.test(row)), 'the creation row lists the members');
  });

  t.test('--from-seq / --to-seq are log sequences, inclusive', async (t) => {
    const from = dmEvents[1]!.seq;
    const to = dmEvents[3]!.seq;
    const r = await cli(runReplay, sys.config, ['--conversation', dm, '--from-seq', String(from), '--to-seq', String(to), '--format', 'jsonl']);
    t.equal(r.code, 0, 'exit 0', { stderr: r.err });
    t.same(r.stdout, Buffer.concat(dmEvents.slice(1, 4).flatMap((s) => [s.data, Buffer.from('\n')])), 'exactly events 2–4');
    // Bounds that fall between this conversation's events (on other conversations' seqs).
    const between = all.find((s) => s.subject !== dmSubject && s.seq > dmEvents[0]!.seq && s.seq < dmEvents.at(-1)!.seq)!;
    const r2 = await cli(runReplay, sys.config, ['--conversation', dm, '--from-seq', String(between.seq), '--format', 'json']);
    t.same(
      (JSON.parse(r2.out) as { logSeq: number }[]).map((p) => p.logSeq),
      dmEvents.filter((s) => s.seq > between.seq).map((s) => s.seq),
    );
    const r3 = await cli(runReplay, sys.config, ['--conversation', dm, '--to-seq', String(between.seq), '--format', 'json']);
    t.same(
      (JSON.parse(r3.out) as { logSeq: number }[]).map((p) => p.logSeq),
      dmEvents.filter((s) => s.seq < between.seq).map((s) => s.seq),
    );
    const past = await cli(runReplay, sys.config, ['--conversation', dm, '--from-seq', String(all.at(-1)!.seq + 100), '--format', 'json']);
    t.equal(past.code, 0);
    t.same(JSON.parse(past.out), [], 'a range past the end is empty');
  });

  t.test('unknown conversation and usage mistakes', async (t) => {
    const unknown = await cli(runReplay, sys.config, ['--conversation', 'no_such_conversation']);
    t.equal(unknown.code, 1);
    t.match(unknown.err, /conversation no_such_conversation not found/);
    t.equal(unknown.out, '');
    for (const [argv, message] of [
      [[], /--conversation is required/],
      [['--conversation', 'a.b'], /--conversation must be/],
      [['--conversation', dm, '--format', 'xml'], /--format must be table, json or jsonl/],
      [['--conversation', dm, '--from-seq', 'abc'], /--from-seq must be a log sequence/],
      [['--conversation', dm, '--to-seq', '0'], /--to-seq must be a log sequence/],
      [['--conversation', dm, '--from-seq', '9', '--to-seq', '3'], /--from-seq 9 is after --to-seq 3/],
      [['--conversation', dm, '--bogus'], /Unknown option '--bogus'/],
    ] as const) {
      const r = await cli(runReplay, sys.config, [...argv]);
      t.equal(r.code, 2, `exit 2 for ${argv.join(' ')}`);
      t.match(r.err, message);
      t.match(r.err, /Usage: parley replay/);
    }
    const help = await cli(runReplay, sys.config, ['--help']);
    t.equal(help.code, 0);
    t.match(help.out, /LOG sequence/);
    const noLog = await cli(runReplay, { ...sys.config, prefix: 'nosuchprefix' }, ['--conversation', dm]);
    t.equal(noLog.code, 1);
    t.match(noLog.err, /no event log: stream NOSUCHPREFIX_EVENTS does not exist/);
  });

  t.test('export: the whole log, conversation and user events, in order, byte for byte', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'parley-export-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'events.jsonl');
    const r = await cli(runExport, sys.config, ['--out', file]);
    t.equal(r.code, 0, 'exit 0', { stderr: r.err });
    t.equal(r.out, '', 'nothing on stdout');
    const text = await readFile(file, 'utf8');
    t.same(lines(text), all.map(expectedLine), 'every stored event once, in log order, exactly');
    t.same(await readdir(dir), ['events.jsonl'], 'no .partial file left behind');
    t.match(r.err, new RegExp(`^parley export: ${all.length} events, log seq ${all[0]!.seq}–${all.at(-1)!.seq}, [\\d.]+ (B|KiB) in [\\d.]+ s \\([\\d,]+ events/s\\) → ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n$`));
    const toStdout = await cli(runExport, sys.config, ['--out', '-']);
    t.equal(toStdout.code, 0);
    t.equal(toStdout.out, text, '--out - writes the same to stdout');
  });
});

/** The first stored event of a list, as text. */
function s0(list: Stored[]): string {
  return list[0]!.data.toString('utf8');
}

/** A log without a running system: many synthetic events, published straight to the stream. */
async function syntheticLog(t: Test, count: number): Promise<{ config: Config; names: Names; nc: NatsConnection; jsm: JetStreamManager }> {
  const sys = await startSystem(t, {}, []);
  const names = makeNames(sys.config.prefix);
  const nc = await connectNats(sys.config, 'audit-test', testLog);
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  await ensureStreams(jsm, names, sys.config);
  const js = jetstream(nc);
  const acks: Promise<unknown>[] = [];
  for (let i = 1; i <= count; i++) {
    const user = i % 7 === 0;
    const id = `c${i % 13}`;
    const event = user
      ? { type: 'UserBlocked', v: 1, id: `e${i}`, userId: `u${i % 5}`, actor: { id: `u${i % 5}` }, at: new Date().toISOString(), commandId: `k${i}`, data: { blockedUserId: 'x' } }
      : {
          type: 'MessageSent',
          v: 1,
          id: `e${i}`,
          conversationId: id,
          actor: { id: 'u1', name: 'U "one"' },
          at: new Date().toISOString(),
          commandId: `k${i}`,
          data: { messageId: `m${i}`, seq: i, sender: { id: 'u1' }, type: 'text', content: `message ${i} ✓`, tempId: `t${i}` },
        };
    acks.push(js.publish(user ? names.subjects.userEvents(`u${i % 5}`) : names.subjects.conversationEvents(id), JSON.stringify(event)));
    if (acks.length >= 500) await Promise.all(acks.splice(0));
  }
  await Promise.all(acks);
  return { config: sys.config, names, nc, jsm };
}

t.test('export ranges by log sequence and by time select exactly the right events', async (t) => {
  const { config, names, jsm } = await syntheticLog(t, 3000);
  // Deleted messages leave holes the export must step over, also at a range's ends.
  await jsm.streams.deleteMessage(names.streams.events, 1500);
  await jsm.streams.deleteMessage(names.streams.events, 2000);
  const all = await storedLog(jsm, names);
  t.equal(all.length, 2998);

  const exported = async (...argv: string[]) => {
    const r = await cli(runExport, config, ['--out', '-', ...argv]);
    t.equal(r.code, 0, `export ${argv.join(' ')}: exit 0`, { stderr: r.err });
    return lines(r.out);
  };
  const expect = (from: number, to: number) => all.filter((s) => s.seq >= from && s.seq <= to).map(expectedLine);

  const everything = await exported();
  t.same(everything, all.map(expectedLine), 'all 2998 events, once each, in order');
  t.same(new Set(everything.map((l) => JSON.parse(l).logSeq)).size, 2998, 'no duplicates');

  t.same(await exported('--since', '100', '--until', '200'), expect(100, 200), 'seq 100–200');
  t.same(await exported('--since', '2990'), expect(2990, 3000), 'since seq to the end');
  t.same(await exported('--until', '5'), expect(1, 5), 'until seq');
  t.same(await exported('--since', '1500', '--until', '2000'), expect(1501, 1999), 'both ends deleted');
  t.same(await exported('--since', '1500', '--until', '1500'), [], 'a deleted single event');
  t.same(await exported('--since', '7', '--until', '7'), expect(7, 7), 'one event');
  t.same(await exported('--since', '3001'), [], 'past the end');
  t.same(await exported('--until', '999999'), all.map(expectedLine), 'until past the end');

  const at = (seq: number) => all.find((s) => s.seq === seq)!.timeNs;
  t.ok(at(1000) < at(1001), 'times are distinct to the nanosecond');
  t.same(await exported('--since', isoFromNanos(at(1000))), expect(1000, 3000), 'since the exact time of an event includes it');
  t.same(await exported('--since', isoFromNanos(at(1000) + 1n)), expect(1001, 3000), 'a nanosecond later excludes it');
  t.same(await exported('--until', isoFromNanos(at(1000))), expect(1, 1000), 'until the exact time of an event includes it');
  t.same(await exported('--until', isoFromNanos(at(1000) - 1n)), expect(1, 999), 'a nanosecond earlier excludes it');
  t.same(await exported('--since', isoFromNanos(at(250)), '--until', isoFromNanos(at(260))), expect(250, 260), 'a time window');
  t.same(await exported('--since', '250', '--until', isoFromNanos(at(260))), expect(250, 260), 'seq and time mixed');
  t.same(await exported('--since', isoFromNanos(at(1499) + 1n), '--until', isoFromNanos(at(1501) - 1n)), [], 'only a deleted event in the window');
  t.same(await exported('--since', '2000-01-01'), all.map(expectedLine), 'a date before the log');
  t.same(await exported('--until', '2000-01-01T00:00:00Z'), [], 'until before the log');
  t.same(await exported('--since', '2999-01-01T00:00:00+02:00'), [], 'since after the log');
  // Offsets: the same instant written in another zone selects the same events.
  const iso = isoFromNanos(at(42));
  const ms = Date.parse(iso);
  const plus2 = new Date(ms + 2 * 3600_000).toISOString().replace('Z', '').replace(/\.\d{3}$/, `.${iso.slice(20, 29)}+02:00`);
  t.same(await exported('--since', plus2, '--until', '42'), expect(42, 42), 'an offset time');

  const r = await cli(runExport, config, ['--out', '-', '--since', '10', '--until', '20']);
  t.match(r.err, /^parley export: 11 events, log seq 10–20, [\d.]+ KiB in [\d.]+ s \([\d,]+ events\/s\) → stdout\n$/, 'the summary line');

  const tty = await cli(runExport, config, ['--out', '-'], true);
  t.equal(tty.code, 0);
  t.match(tty.err, /parley export: 2,998 events/, 'summary after the progress bar');
  const beforeSummary = tty.err.slice(0, tty.err.indexOf('parley export:'));
  if (beforeSummary !== '') t.ok(beforeSummary.endsWith('\r\x1b[K'), 'the bar is erased before the summary');
});

t.test('export usage mistakes and failures', async (t) => {
  const { config } = await syntheticLog(t, 3);
  for (const [argv, message] of [
    [[], /--out is required/],
    [['--out', '-', '--since', 'yesterday'], /--since must be a log sequence .* or an ISO 8601 time/],
    [['--out', '-', '--until', '2025-01-01T10:00:00'], /--until must be/],
    [['--out', '-', '--since', '0'], /--since must be/],
    [['--out', '-', '--since', '2025-02-30'], /--since must be/],
    [['--out', '-', '--since', '20', '--until', '10'], /--since 20 is after --until 10/],
    [['--out', '-', '--since', '2025-02-01', '--until', '2025-01-01'], /--since is later than --until/],
    [['--out', '-', 'extra'], /Unexpected argument 'extra'/],
  ] as const) {
    const r = await cli(runExport, config, [...argv]);
    t.equal(r.code, 2, `exit 2 for ${argv.join(' ')}`);
    t.match(r.err, message);
    t.match(r.err, /Usage: parley export/);
  }
  const help = await cli(runExport, config, ['-h']);
  t.equal(help.code, 0);
  t.match(help.out, /Usage: parley export/);
  const badDir = await cli(runExport, config, ['--out', '/nonexistent-dir/x.jsonl']);
  t.equal(badDir.code, 1);
  t.match(badDir.err, /ENOENT/);
  const noNats = await cli(runExport, { ...config, natsUrl: ['nats://127.0.0.1:1'] }, ['--out', '-']);
  t.equal(noNats.code, 1);
  t.match(noNats.err, /cannot connect to NATS at nats:\/\/127\.0\.0\.1:1/);
});

t.test('time and bound parsing, progress line', async (t) => {
  t.equal(isoFromNanos(1_700_000_000_123_456_789n), '2023-11-14T22:13:20.123456789Z');
  t.equal(nanosFromIso('2023-11-14T22:13:20.123456789Z'), 1_700_000_000_123_456_789n);
  t.equal(nanosFromIso('2023-11-14T23:13:20.1234567891+01:00'), 1_700_000_000_123_456_789n, 'extra digits are cut, offsets applied');
  t.equal(nanosFromIso('2023-11-14T22:13:20.5Z'), 1_700_000_000_500_000_000n);
  t.equal(nanosFromIso('2023-11-14T22:13Z'), 1_699_999_980_000_000_000n);
  t.equal(nanosFromIso('2023-11-14'), 1_699_920_000_000_000_000n);
  t.equal(nanosFromIso('2023-11-14T22:13:20'), undefined, 'no zone: ambiguous');
  t.equal(nanosFromIso('2023-13-01'), undefined);
  t.same(parseBound('42'), { seq: 42 });
  t.equal(parseBound('0'), undefined);
  t.equal(parseBound('-3'), undefined);

  let now = 0;
  const out = capture(true);
  const p = new Progress({ stream: out.stream, total: 1000, now: () => now, intervalMs: 10_000 });
  p.add(250);
  now = 2000;
  t.equal(p.line(100), `[#######.......................] 250/1,000  25%  125 ev/s  ETA 0:06`);
  p.draw();
  p.finish();
  t.equal(out.text(), `\r\x1b[K${p.line(100)}\r\x1b[K`, 'drawn in place, then erased');
  const quiet = capture(false);
  const q = new Progress({ stream: quiet.stream, total: 10 });
  q.add(10);
  q.draw();
  q.finish();
  t.equal(quiet.text(), '', 'nothing drawn when stderr is not a terminal');
  t.equal(formatDuration(3725), '1:02:05');
});
