/**
 * `parley demo`: alice and bob chat over real WebSockets, then alice sends N messages to bob while
 * the demo measures send → message.sent (alice's own confirmation) and send → message.new (bob
 * has it), and counts what was lost or duplicated. Uses a running Parley if one answers at the
 * URL; otherwise starts one in-process on a private prefix and removes its streams afterwards.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { signDevToken } from '../lib/dev-token.js';
import { loadConfig, type Config } from '../lib/config.js';
import { healthAnswers, startEmbedded, type Embedded } from './demo-embedded.js';
import { out } from './demo-output.js';
import { CONNECT_TIMEOUT_MS, Peer, type Codec } from './demo-peer.js';
import { roundTrip, type Result } from './demo-round-trip.js';
import type { Cli } from './main.js';
import { tokenSigning } from './token.js';

export const usage = `Usage: parley demo [--url ws://127.0.0.1:8080/ws] [--messages 200] [--codec json|msgpack] [--rate 1000]

Two users, alice and bob, connect over WebSockets; alice says hello, bob answers. Then alice sends
--messages messages to bob, paced at --rate per second with at most 100 unanswered at a time, and
the demo prints throughput and latency percentiles (send → message.sent, send → message.new) and
how many messages were lost or duplicated (both must be 0; exit code 1 otherwise).

If nothing answers at the URL's /health, the demo starts Parley in-process against NATS (the
default local one, started for you if need be) on a private prefix and a free port, and deletes
what it created when done. Tokens are signed with PARLEY_JWT_SECRET or the development secret.

Options:
  --url <ws-url>       gateway WebSocket URL (default ws://$PARLEY_HOST:$PARLEY_PORT/ws, i.e. ws://127.0.0.1:8080/ws)
  --messages <n>       messages in the round trip (default 200)
  --codec <codec>      json | msgpack (default json)
  --rate <per-second>  target send rate (default 1000; never above 90 % of the frame rate the server
                       allows a connection, which connection.success tells)
  -h, --help           this help
`;

export async function run(args: string[], cli: Cli): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      url: { type: 'string' },
      messages: { type: 'string', short: 'n', default: '200' },
      codec: { type: 'string', default: 'json' },
      rate: { type: 'string', default: '1000' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  const messages = Number(values.messages);
  if (!Number.isInteger(messages) || messages < 1 || messages > 1_000_000) cli.usageError(`--messages must be a whole number from 1 to 1000000, got ${JSON.stringify(values.messages)}`);
  const rate = Number(values.rate);
  if (!Number.isFinite(rate) || rate <= 0) cli.usageError(`--rate must be a positive number, got ${JSON.stringify(values.rate)}`);
  if (values.codec !== 'json' && values.codec !== 'msgpack') cli.usageError(`--codec must be json or msgpack, got ${JSON.stringify(values.codec)}`);
  const codec: Codec = values.codec;

  let base: Config;
  try {
    base = loadConfig(process.env);
  } catch (err) {
    process.stderr.write(`parley demo: bad configuration: ${(err as Error).message}\n`);
    return 1;
  }
  const defaultHost = base.host === '0.0.0.0' || base.host === '::' ? '127.0.0.1' : base.host;
  const urlText = values.url ?? `ws://${defaultHost.includes(':') ? `[${defaultHost}]` : defaultHost}:${base.port}/ws`;
  let url: URL;
  try {
    url = new URL(urlText);
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new Error('not ws: or wss:');
  } catch (err) {
    cli.usageError(`--url must be a ws:// or wss:// URL, got ${JSON.stringify(urlText)} (${(err as Error).message})`);
  }

  // Logs of an in-process Parley go to stderr, quiet unless something is wrong.
  const log = pino({ name: 'parley-demo', level: process.env.PARLEY_LOG_LEVEL ?? 'warn' }, pino.destination(2));
  const signing = tokenSigning();

  let embedded: Embedded | undefined;
  const peers: Peer[] = [];
  const interrupted = new AbortController();
  const onSignal = () => interrupted.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let result: Result = { ok: false };
  try {
    const probe = await healthAnswers(url);
    let target = url.href;
    if (probe.answers) {
      out(`Using the Parley at ${url.href} (${probe.healthUrl} answered ${probe.status}).`);
    } else {
      out(`Nothing answers at ${probe.healthUrl}: starting Parley in-process for the demo (your own data is left alone).`);
      embedded = await startEmbedded(base, signing.secret, log);
      target = embedded.url;
    }
    if (interrupted.signal.aborted) throw interrupted.signal.reason;

    const { dev: _dev, ...signConfig } = signing;
    const tokenFor = (sub: string, name: string) => signDevToken(signConfig, { sub, name }, 3600);
    out(`Connecting alice and bob (${codec}) …`);
    const [alice, bob] = await Promise.all([
      Peer.open('alice', target, codec, await tokenFor('alice', 'Alice')),
      Peer.open('bob', target, codec, await tokenFor('bob', 'Bob')),
    ]);
    peers.push(alice, bob);

    const runId = randomBytes(4).toString('hex');
    await converse(alice, bob, runId);
    out();
    // Stay under the server's frame rate limit: going over it is answered rate_limited, and enough of
    // those close the connection (4008). A margin leaves room for the other frames alice sends.
    // The per-user send limit (PARLEY_USER_SENDS_PER_SECOND) too: over it sends are refused rate_limited.
    const byFrames = alice.framesPerSecond === undefined ? rate : Math.max(1, Math.floor(alice.framesPerSecond * 0.9));
    const bySends = alice.sendsPerSecond === undefined ? rate : Math.max(1, Math.floor(alice.sendsPerSecond * 0.9));
    const allowed = Math.min(byFrames, bySends);
    if (allowed < rate) {
      out(
        bySends < byFrames
          ? `Pacing at ${allowed}/s: the server allows ${alice.sendsPerSecond} messages/s per user (PARLEY_USER_SENDS_PER_SECOND).`
          : `Pacing at ${allowed}/s: the server allows ${alice.framesPerSecond} frames/s per connection (PARLEY_FRAMES_PER_SECOND).`,
      );
    }
    result = await roundTrip(alice, bob, { runId, messages, rate: Math.min(rate, allowed), signal: interrupted.signal });
  } catch (err) {
    process.stderr.write(`parley demo: ${(err as Error).message}\n`);
    result = { ok: false };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await Promise.all(peers.map((p) => p.close()));
    if (embedded) {
      try {
        await embedded.stop();
      } catch (err) {
        process.stderr.write(`parley demo: cleaning up the in-process Parley failed: ${(err as Error).message}\n`);
      }
    }
  }
  return result.ok ? 0 : 1;
}

/** alice says hello, bob answers; each line as the receiving side saw it. */
async function converse(alice: Peer, bob: Peer, runId: string): Promise<void> {
  const say = async (from: Peer, to: Peer, toUserId: string, content: string, tag: string) => {
    const tempId = `demo-${runId}-${tag}`;
    const received = to.next(`message.new "${content}"`, (f) => f.type === 'message.new' && f.payload?.message?.tempId === tempId);
    received.catch(() => undefined); // awaited below, after the send; a failed send reports first
    // As an app sends: through the SDK's outbox, which resends the same tempId until message.sent.
    const s = (await withTimeout(from.client.send({ toUserId }, content, { tempId }), `${from.label}: no message.sent "${content}"`)).message;
    out(`[${from.label}] sent: ${s.content} (seq ${s.seq})`);
    const m = (await received).payload.message;
    out(`[${to.label}] got from ${m.sender?.name ?? m.senderId}: ${m.content} (seq ${m.seq})`);
  };
  await say(alice, bob, 'bob', 'hello bob', 'hello');
  await say(bob, alice, 'alice', 'hi alice, loud and clear', 'reply');
}

async function withTimeout<T>(p: Promise<T>, what: string, ms = CONNECT_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${ms / 1000} s`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
