// lib/log.ts: pretty lines on a terminal, JSON otherwise (PARLEY_LOG_FORMAT forces either), both
// written out before a SIGTERM exit, and never a message's content or a token in any line.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { logFormat, loggerOptions, REDACTED } from '../../lib/log.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { stream, lines: () => chunks.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

t.test('logFormat: PARLEY_LOG_FORMAT wins, else pretty exactly on a terminal', async (t) => {
  t.equal(logFormat({}, true), 'pretty');
  t.equal(logFormat({}, false), 'json');
  t.equal(logFormat({ PARLEY_LOG_FORMAT: 'json' }, true), 'json');
  t.equal(logFormat({ PARLEY_LOG_FORMAT: 'Pretty' }, false), 'pretty');
  t.equal(logFormat({ PARLEY_LOG_FORMAT: '' }, false), 'json');
  t.throws(() => logFormat({ PARLEY_LOG_FORMAT: 'yaml' }, false), /PARLEY_LOG_FORMAT/);
});

t.test('redaction: content and tokens are censored at any of the first three levels; ids stay', async (t) => {
  const out = capture();
  const log = pino(loggerOptions({ level: 'info' }), out.stream);
  const cmd = { commandId: 'c-1', conversationId: 'd_a_b', userId: 'alice', payload: { content: 'my secret words', tempId: 't-1' } };
  log.error({ command: cmd, eventSeq: 42 }, 'command failed');
  log.warn({ content: 'top-level words', token: 'eyJhbGciOi.top', conversationId: 'g_1' }, 'bad');
  log.warn({ req: { headers: { authorization: 'Bearer eyJ.x.y' } }, message: { text: 'hello', preview: 'hel' } }, 'nested');
  log.info({ config: { auth: { secret: 's3cret' }, webhook: { secret: 'whsec_x' } } }, 'config');
  const [a, b, c, d] = out.lines();
  const cmdOut = a!.command as { commandId: string; conversationId: string; userId: string; payload: Record<string, unknown> };
  t.equal(cmdOut.payload.content, REDACTED);
  t.equal(cmdOut.payload.tempId, 't-1', 'ids are kept');
  t.strictSame([cmdOut.commandId, cmdOut.conversationId, cmdOut.userId, a!.eventSeq], ['c-1', 'd_a_b', 'alice', 42]);
  t.equal(b!.content, REDACTED);
  t.equal(b!.token, REDACTED);
  t.equal(b!.conversationId, 'g_1');
  t.equal((c!.req as { headers: { authorization: string } }).headers.authorization, REDACTED);
  t.strictSame(c!.message, { text: REDACTED, preview: REDACTED });
  t.equal((d!.config as { auth: unknown }).auth, REDACTED);
  t.equal((d!.config as { webhook: { secret: string } }).webhook.secret, REDACTED);
  const all = JSON.stringify(out.lines());
  for (const secret of ['my secret words', 'top-level words', 'eyJ', 'hello', 's3cret', 'whsec_x']) t.notOk(all.includes(secret), `no ${secret}`);
  t.same(cmd.payload.content, 'my secret words', 'the logged object itself is untouched');
});

// A child process with its stdout on a pipe (not a terminal): what createLogger writes, in each
// format, including a line logged in the SIGTERM handler right before process.exit().
function runChild(env: Record<string, string>): string {
  const script = `
    import { createLogger } from './lib/log.ts';
    const log = createLogger({ level: 'info' });
    process.on('SIGTERM', () => { log.info({ signal: 'SIGTERM' }, 'stopping on signal'); process.exit(0); });
    log.error({ conversationId: 'd_alice_bob', userId: 'alice', commandId: 'c-9', content: 'never shown' }, 'send failed');
    setTimeout(() => process.kill(process.pid, 'SIGTERM'), 20);
    setTimeout(() => {}, 5000);
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    timeout: 30_000,
  });
  if (r.status !== 0) throw new Error(`child exited ${r.status} ${r.signal}: ${r.stderr}`);
  return r.stdout;
}

t.test('not a terminal: JSON lines, all of them written before the SIGTERM exit', async (t) => {
  const out = runChild({});
  const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.strictSame(lines.map((l) => l.msg), ['send failed', 'stopping on signal']);
  t.equal(lines[0]!.conversationId, 'd_alice_bob');
  t.equal(lines[0]!.content, REDACTED);
});

t.test('PARLEY_LOG_FORMAT=pretty: readable lines, also written before the SIGTERM exit', async (t) => {
  const out = runChild({ PARLEY_LOG_FORMAT: 'pretty' });
  t.notMatch(out, /^\{"level"/m, 'not JSON');
  t.match(out, /ERROR.*send failed/);
  t.match(out, /send failed \{.*"conversationId":"d_alice_bob"/, 'one line: message, then the fields');
  t.match(out, /stopping on signal/);
  t.notMatch(out, /never shown/);
});
