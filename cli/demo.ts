/**
 * `parley demo`: alice and bob chat over real WebSockets, then alice sends N messages to bob while
 * the demo measures send → message.sent (alice's own confirmation) and send → message.new (bob
 * has it), and counts what was lost or duplicated. Uses a running Parley if one answers at the
 * URL; otherwise starts one in-process on a private prefix and removes its streams afterwards.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Packr } from 'msgpackr';
import { pino } from 'pino';
import WebSocket from 'ws';
import { signDevToken } from '../lib/dev-token.js';
import { loadConfig, type Config } from '../lib/config.js';
import type { Logger } from '../lib/log.js';
import { makeNames } from '../lib/names.js';
import { connectNats, deleteStreams, jetstreamManager } from '../lib/nats.js';
import { startRoles, type Running } from '../app/roles.js';
import { openDatabase } from '../lib/pg.js';
import { ensureNats, type EnsuredNats } from './embedded-nats.js';
import type { Cli } from './main.js';
import { formatMs, formatSummary, summarize } from './percentiles.js';
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

type Codec = 'json' | 'msgpack';
type Frame = {
  type: string;
  seq?: number;
  ref?: string;
  payload?: any;
  error?: { code: string; message: string; temporary?: boolean; tempId?: string };
};

const WINDOW = 100;
const CONNECT_TIMEOUT_MS = 10_000;
const GIVE_UP_MS = 30_000;

const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const out = (line = '') => process.stdout.write(`${line}\n`);

/** One user's WebSocket: decodes frames and hands them to listeners. */
class Peer {
  readonly #listeners = new Set<(f: Frame) => void>();
  #closing = false;
  closedUnexpectedly?: string;
  /** The frame rate the server allows this connection (connection.success), when it said. */
  framesPerSecond?: number;
  /** The send rate the server allows this user (connection.success), when it said. */
  sendsPerSecond?: number;

  private constructor(
    readonly label: string,
    readonly ws: WebSocket,
    readonly codec: Codec,
  ) {
    ws.on('message', (data, isBinary) => {
      let frame: Frame;
      try {
        const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
        frame = (isBinary ? packr.unpack(buf) : JSON.parse(buf.toString('utf8'))) as Frame;
      } catch {
        return;
      }
      for (const l of [...this.#listeners]) l(frame);
    });
    ws.on('close', (code, reason) => {
      if (!this.#closing) this.closedUnexpectedly = `${label}'s connection closed (${code}${reason.length ? ` ${reason.toString()}` : ''})`;
      for (const l of [...this.#listeners]) l({ type: '$closed', payload: { code, reason: reason.toString() } });
    });
  }

  /** Connect and wait for connection.success. */
  static open(label: string, url: string, codec: Codec, token: string): Promise<Peer> {
    const ws = new WebSocket(url, [codec === 'json' ? 'parley.v1.json' : 'parley.v1.msgpack'], {
      headers: { authorization: `Bearer ${token}` },
      handshakeTimeout: CONNECT_TIMEOUT_MS,
    });
    const peer = new Peer(label, ws, codec);
    return new Promise((resolve, reject) => {
      const fail = (message: string) => {
        clearTimeout(timer);
        off();
        ws.terminate();
        reject(new Error(`${label}: ${message}`));
      };
      const timer = setTimeout(() => fail(`no connection.success within ${CONNECT_TIMEOUT_MS / 1000} s`), CONNECT_TIMEOUT_MS);
      ws.once('error', (err) => fail(`cannot connect to ${url}: ${err.message}`));
      const off = peer.listen((f) => {
        if (f.type === 'connection.success') {
          clearTimeout(timer);
          off();
          const limit = f.payload?.limits?.framesPerSecond;
          if (typeof limit === 'number' && limit > 0) peer.framesPerSecond = limit;
          const sends = f.payload?.limits?.userSendsPerSecond;
          if (typeof sends === 'number' && sends > 0) peer.sendsPerSecond = sends;
          resolve(peer);
        } else if (f.type === 'error') {
          const hint =
            f.error?.code === 'unauthorized' || f.error?.code === 'token_expired'
              ? ' (the demo signs its tokens with PARLEY_JWT_SECRET, or the development secret when that is unset: run it with the server’s secret)'
              : '';
          fail(`the server refused the connection: ${f.error?.code}: ${f.error?.message}${hint}`);
        } else if (f.type === '$closed') {
          fail(`connection closed before connection.success (${f.payload.code} ${f.payload.reason})`);
        }
      });
    });
  }

  listen(fn: (f: Frame) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  send(frame: object): void {
    this.ws.send(this.codec === 'json' ? JSON.stringify(frame) : packr.pack(frame));
  }

  /** The first frame that matches, within the timeout. */
  next(what: string, match: (f: Frame) => boolean, timeoutMs = CONNECT_TIMEOUT_MS): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`${this.label}: no ${what} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      const off = this.listen((f) => {
        if (f.type === 'error' && f.error) {
          clearTimeout(timer);
          off();
          reject(new Error(`${this.label}: waiting for ${what}, got error ${f.error.code}: ${f.error.message}`));
        } else if (f.type === '$closed') {
          clearTimeout(timer);
          off();
          reject(new Error(this.closedUnexpectedly ?? `${this.label}'s connection closed`));
        } else if (match(f)) {
          clearTimeout(timer);
          off();
          resolve(f);
        }
      });
    });
  }

  async close(): Promise<void> {
    this.#closing = true;
    if (this.ws.readyState === WebSocket.CLOSED) return;
    const closed = new Promise<void>((resolve) => this.ws.once('close', () => resolve()));
    this.ws.close(1000, 'demo done');
    const timer = setTimeout(() => this.ws.terminate(), 2_000);
    await closed;
    clearTimeout(timer);
  }
}

/** Parley started in this process on a private prefix, for when nothing answers at the URL. */
type Embedded = { url: string; stop(): Promise<void> };

async function startEmbedded(base: Config, secret: string, log: Logger): Promise<Embedded> {
  const prefix = `demo${randomBytes(4).toString('hex')}`;
  const config: Config = {
    ...base,
    prefix,
    host: '127.0.0.1',
    port: 0,
    gatewayId: `gw-demo-${randomBytes(3).toString('hex')}`,
    auth: { ...base.auth, secret, jwksUrl: undefined, algorithms: ['HS256'] },
    // The demo measures the pipeline, not the per-connection frame limit of this private instance.
    limits: { ...base.limits, framesPerSecond: 1_000_000, frameBurst: 1_000_000 },
    // Nor the per-user ones: alice is a bot here, sending at the rate asked for.
    rateLimits: { ...base.rateLimits, user: { sendsPerSecond: 1_000_000, sendBurst: 1_000_000, framesPerSecond: 1_000_000, frameBurst: 1_000_000 } },
    // Its own read-model schema: sharing the user's would make the projector start theirs over.
    postgres: { ...base.postgres, schema: `demo_${prefix.slice(4)}` },
  };
  let nats: EnsuredNats;
  try {
    nats = await ensureNats(config, log);
  } catch (err) {
    throw new Error(`cannot start Parley in-process: ${(err as Error).message}`);
  }
  let running: Running;
  try {
    running = await startRoles('all', config, log);
  } catch (err) {
    await nats.stop();
    throw err;
  }
  const url = running.gateway!.url;
  out(`Started Parley in-process: ${url}, NATS ${config.natsUrl.join(',')}${nats.started ? ' (nats-server started for the demo)' : ''}, private prefix ${prefix}.`);
  return {
    url,
    async stop() {
      await running.stop();
      const db = await openDatabase(config, log).catch(() => undefined);
      await db?.pool.query(`DROP SCHEMA IF EXISTS "${config.postgres.schema}" CASCADE`).catch(() => undefined);
      await db?.close();
      const nc = await connectNats(config, 'parley-demo-cleanup', log);
      try {
        await deleteStreams(await jetstreamManager(nc), makeNames(prefix));
      } finally {
        await nc.close();
      }
      await nats.stop();
      out(`Stopped the in-process Parley and deleted its streams (prefix ${prefix}).`);
    },
  };
}

/** Does anything answer HTTP at the gateway's /health? */
async function healthAnswers(wsUrl: URL): Promise<{ answers: boolean; status?: number; healthUrl: string }> {
  const health = new URL(wsUrl.href);
  health.protocol = wsUrl.protocol === 'wss:' ? 'https:' : 'http:';
  health.pathname = '/health';
  health.search = '';
  try {
    const res = await fetch(health, { signal: AbortSignal.timeout(2_000) });
    await res.body?.cancel();
    return { answers: true, status: res.status, healthUrl: health.href };
  } catch {
    return { answers: false, healthUrl: health.href };
  }
}

type Result = { ok: boolean };

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
    const sent = from.next(`message.sent "${content}"`, (f) => f.type === 'message.sent' && f.payload?.tempId === tempId);
    from.send({ type: 'message.send', ref: tag, payload: { toUserId, tempId, content } });
    const s = (await sent).payload.message;
    out(`[${from.label}] sent: ${s.content} (seq ${s.seq})`);
    const m = (await received).payload.message;
    out(`[${to.label}] got from ${m.sender?.name ?? m.senderId}: ${m.content} (seq ${m.seq})`);
  };
  await say(alice, bob, 'bob', 'hello bob', 'hello');
  await say(bob, alice, 'alice', 'hi alice, loud and clear', 'reply');
}

/**
 * alice → bob, N messages: open-loop at `rate` per second, but never more than WINDOW without both
 * message.sent and message.new. A temporary error (rate_limited, send_failed) resends the same
 * tempId later: the server deduplicates sends by tempId.
 */
async function roundTrip(
  alice: Peer,
  bob: Peer,
  opts: { runId: string; messages: number; rate: number; signal: AbortSignal },
): Promise<Result> {
  const { messages: n, rate } = opts;
  const prefix = `rt-${opts.runId}-`;
  const indexOf = (tempId: unknown): number | undefined => {
    if (typeof tempId !== 'string' || !tempId.startsWith(prefix)) return undefined;
    const i = Number(tempId.slice(prefix.length));
    return Number.isInteger(i) && i >= 0 && i < n ? i : undefined;
  };
  const sentAt = new Float64Array(n).fill(Number.NaN);
  const ackMs = new Float64Array(n).fill(Number.NaN);
  const newMs = new Float64Array(n).fill(Number.NaN);
  const acks = new Uint32Array(n);
  const news = new Uint32Array(n);
  let completed = 0;
  let inFlight = 0;
  let next = 0;
  let rateLimited = 0;
  let retried = 0;
  let lastDone = 0;
  const failures: string[] = [];
  const retryQueue: number[] = [];
  /** The message id of each tempId's first message.sent; a different id later is a duplicate message. */
  const sentIds: (string | undefined)[] = new Array(n);
  const secondIds = new Uint8Array(n);

  out(`Round trip: alice sends ${n} messages to bob (target ${rate}/s, at most ${WINDOW} in flight) …`);

  // Pacing: one send (new or resent) every 1000/currentRate ms, catching up at most CATCH_UP_MS
  // after a stall. A temporary error halves currentRate (at most every BACKOFF_MS) and pauses
  // briefly; every completed message raises it again, back up to the target.
  const CATCH_UP_MS = 20;
  const BACKOFF_MS = 200;
  let currentRate = rate;
  let lastBackoff = -Infinity;
  let t0 = 0;
  let nextAt = 0;
  let timer: NodeJS.Timeout | undefined;
  function backoff(): void {
    const now = performance.now();
    if (now - lastBackoff < BACKOFF_MS) return;
    lastBackoff = now;
    currentRate = Math.max(5, currentRate / 2);
    nextAt = Math.max(nextAt, now + BACKOFF_MS / 2);
  }
  function speedUp(): void {
    currentRate = Math.min(rate, currentRate + 0.5);
  }

  let finish!: () => void;
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const done = new Uint8Array(n);
  const complete = (i: number) => {
    if (!done[i] && acks[i]! > 0 && news[i]! > 0) {
      done[i] = 1;
      completed++;
      inFlight--;
      lastDone = performance.now();
      speedUp();
      if (completed === n) finish();
      else pump();
    }
  };

  const offAlice = alice.listen((f) => {
    if (f.type === 'message.sent') {
      const i = indexOf(f.payload?.tempId);
      if (i === undefined) return;
      acks[i]!++;
      // A repeated message.sent for a resent tempId is the server's idempotent answer; a different
      // message id would mean the message was stored twice.
      const id = f.payload?.message?.id as string | undefined;
      if (sentIds[i] === undefined) sentIds[i] = id;
      else if (id !== sentIds[i]) secondIds[i] = 1;
      if (acks[i] === 1) {
        ackMs[i] = performance.now() - sentAt[i]!;
        complete(i);
      }
    } else if (f.type === 'error') {
      const i = indexOf(f.error?.tempId) ?? indexOf(f.ref);
      if (i === undefined) return;
      if (f.error?.code === 'rate_limited' || f.error?.temporary) {
        // Temporary: resend the same tempId (the server deduplicates by it) a little later.
        if (f.error?.code === 'rate_limited') rateLimited++;
        else retried++;
        retryQueue.push(i);
        backoff();
        pump();
      } else {
        failures.push(`message ${i}: ${f.error?.code}: ${f.error?.message}`);
      }
    } else if (f.type === '$closed') {
      finish();
    }
  });
  const offBob = bob.listen((f) => {
    if (f.type === 'message.new') {
      const i = indexOf(f.payload?.message?.tempId);
      if (i === undefined) return;
      news[i]!++;
      if (news[i] === 1) {
        newMs[i] = performance.now() - sentAt[i]!;
        complete(i);
      }
    } else if (f.type === '$closed') {
      finish();
    }
  });

  const send = (i: number) => {
    const tempId = `${prefix}${i}`;
    alice.send({ type: 'message.send', ref: tempId, payload: { toUserId: 'bob', tempId, content: `message ${i + 1} of ${n}` } });
  };

  function pump(): void {
    clearTimeout(timer);
    timer = undefined;
    if (opts.signal.aborted) return;
    for (;;) {
      // Resends first: they are already in flight and keep their first send time.
      const retry = retryQueue.length > 0;
      if (!retry && !(next < n && inFlight < WINDOW)) return; // a completion or an error calls pump
      const now = performance.now();
      if (nextAt > now) {
        timer = setTimeout(pump, nextAt - now);
        return;
      }
      nextAt = Math.max(nextAt, now - CATCH_UP_MS) + 1000 / currentRate;
      if (retry) {
        send(retryQueue.shift()!);
      } else {
        sentAt[next] = performance.now();
        inFlight++;
        send(next++);
      }
    }
  }

  const budgetMs = (n / rate) * 1000 + GIVE_UP_MS;
  let deadline: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<'timeout'>((resolve) => {
    deadline = setTimeout(() => resolve('timeout'), budgetMs);
  });
  const aborted = new Promise<'aborted'>((resolve) => opts.signal.addEventListener('abort', () => resolve('aborted'), { once: true }));
  t0 = nextAt = performance.now();
  pump();
  const how = await Promise.race([finished.then(() => 'done' as const), gaveUp, aborted]);
  clearTimeout(deadline);
  clearTimeout(timer);
  // Late duplicates would show up now: give them a moment before counting.
  if (how === 'done') await new Promise((r) => setTimeout(r, 250));
  offAlice();
  offBob();

  const elapsedMs = (completed ? lastDone : performance.now()) - t0;
  const unconfirmed = [...acks].filter((c) => c === 0).length;
  const undelivered = [...news].filter((c) => c === 0).length;
  const lost = [...acks].filter((_, i) => acks[i] === 0 || news[i] === 0).length;
  const duplicated = [...news].filter((c, i) => c > 1 || secondIds[i] === 1).length;
  const sentSummary = summarize([...ackMs].filter((v) => !Number.isNaN(v)));
  const newSummary = summarize([...newMs].filter((v) => !Number.isNaN(v)));

  out(`  messages     ${completed} of ${n} confirmed and delivered`);
  out(`  elapsed      ${formatMs(elapsedMs)}`);
  out(`  throughput   ${elapsedMs > 0 ? Math.round((completed / elapsedMs) * 1000) : 0} messages/s`);
  out(`  send → message.sent (alice)   ${formatSummary(sentSummary)}`);
  out(`  send → message.new  (bob)     ${formatSummary(newSummary)}`);
  if (retried) out(`  resent after a temporary error ${retried} times`);
  if (rateLimited) out(`  rate-limited by the server ${rateLimited} times (resent; the server's PARLEY_FRAMES_PER_SECOND caps this run)`);
  out(`  lost ${lost} (no message.sent ${unconfirmed}, no message.new ${undelivered}), duplicated ${duplicated}`);
  for (const f of failures.slice(0, 5)) out(`  error: ${f}`);
  if (failures.length > 5) out(`  … and ${failures.length - 5} more errors`);

  const ok = how === 'done' && lost === 0 && duplicated === 0;
  if (how === 'timeout') out(`FAILED: gave up after ${formatMs(budgetMs)} with ${n - completed} messages outstanding.`);
  else if (how === 'aborted') out('FAILED: interrupted.');
  else if (alice.closedUnexpectedly || bob.closedUnexpectedly) out(`FAILED: ${alice.closedUnexpectedly ?? bob.closedUnexpectedly}.`);
  else if (!ok) out('FAILED: messages were lost or duplicated.');
  else out('OK: every message confirmed to alice and delivered to bob exactly once.');
  return { ok: ok && !alice.closedUnexpectedly && !bob.closedUnexpectedly };
}
