/**
 * `parley export [--since <ISO time | log seq>] [--until <ISO time | log seq>] --out <file | ->`:
 * the whole event log (conversation and user events) as JSON Lines, in log order.
 *
 * Also the log-reading helpers `parley replay` shares: an ordered consumer over the events stream
 * (optionally filtered to one subject) between two log sequences, with time bounds turned into
 * log sequences by a binary search over Direct Get (works on nats-server 2.9+).
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { isUtf8 } from 'node:buffer';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { loadConfig, type Config } from '../lib/config.js';
import type { Logger } from '../lib/log.js';
import { makeNames, type Names } from '../lib/names.js';
import { connectNats, isNotFound, type NatsConnection } from '../lib/nats.js';
import { formatBytes, formatCount, Progress } from './progress.js';

export const summary = 'Write the whole event log to a JSON Lines file (or stdout), in log order';

export const usage = `Usage: parley export --out <file | -> [--since <ISO time | log seq>] [--until <ISO time | log seq>]

Writes every event of the audit log (the <PREFIX>_EVENTS stream: conversation and user events) in
log order, one JSON object per line:

  {"logSeq":1,"subject":"chat.ev.conv.<id>","time":"2025-01-01T12:00:00.123456789Z","event":{…}}

"event" is the JSON exactly as stored; "time" is when the log stored it (UTC, nanoseconds).

Options:
  --out <file | ->     output file, or - for stdout (required). A file is written as
                       <file>.partial and renamed when complete.
  --since <bound>      first event: a log sequence (1, 2, 3 … as in "logSeq"), or an ISO 8601
                       time (2025-01-01, 2025-01-01T12:00:00Z, …T12:00:00.5+02:00): the first
                       event logged at or after it. Inclusive.
  --until <bound>      last event: a log sequence, or an ISO time: the last event logged at or
                       before it. Inclusive. Default: the end of the log when the export starts.
  -h, --help           this help

A progress bar is drawn on stderr when stderr is a terminal; a one-line summary always ends on
stderr. Connects with PARLEY_NATS_URL and PARLEY_PREFIX, like the server. Exit code 0 on success,
1 when the log cannot be read or the output written, 2 on a usage mistake.

Example:
  npx parley export --since 2025-01-01T00:00:00Z --out january.jsonl
  npx parley export --out - | jq -c 'select(.event.type == "MessageSent")'
`;

// ---------------------------------------------------------------------------------------------
// Shared by `parley export` and `parley replay`.

type Output = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

/** Where a command writes and what environment it reads: the process's, or a test's. */
export type CliIo = { stdout: Output; stderr: Output; env: Record<string, string | undefined> };

export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env };
}

/** Print a usage mistake the way cli/main.ts does and return exit code 2. */
export function usageError(io: CliIo, command: string, message: string, usageText: string): number {
  io.stderr.write(`parley ${command}: ${message}\n\n${usageText}`);
  return 2;
}

/** Run parseArgs; a parse error becomes a usage error (exit 2) like cli/main.ts would report it. */
export function parseOrUsage<T>(io: CliIo, command: string, usageText: string, parse: () => T): T | number {
  try {
    return parse();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) return usageError(io, command, (err as Error).message, usageText);
    throw err;
  }
}

let isoCache = { second: -1n, prefix: '' };

/** Nanoseconds since the epoch → ISO 8601 UTC with nine fraction digits. */
export function isoFromNanos(ns: bigint): string {
  let second = ns / 1_000_000_000n;
  let frac = ns - second * 1_000_000_000n;
  if (frac < 0n) {
    second -= 1n;
    frac += 1_000_000_000n;
  }
  // Many events share a second: format its date and time once.
  if (isoCache.second !== second) isoCache = { second, prefix: new Date(Number(second) * 1000).toISOString().slice(0, -5) };
  return `${isoCache.prefix}.${frac.toString().padStart(9, '0')}Z`;
}

/**
 * ISO 8601 → nanoseconds since the epoch, keeping up to nine fraction digits. A date alone is
 * midnight UTC; a date-time needs Z or an offset (a local time would be ambiguous).
 */
export function nanosFromIso(text: string): bigint | undefined {
  const m = /^(\d{4}-\d{2}-\d{2})(?:[Tt ](\d{2}:\d{2})(:\d{2})?(?:[.,](\d+))?([Zz]|[+-]\d{2}:?\d{2}))?$/.exec(text.trim());
  if (!m) return undefined;
  const [, date, hm, secs = ':00', fraction = '', zone] = m;
  const offset = zone === undefined ? 'Z' : /^[Zz]$/.test(zone) ? 'Z' : zone.length === 5 ? `${zone.slice(0, 3)}:${zone.slice(3)}` : zone;
  const base = hm === undefined ? `${date}T00:00:00Z` : `${date}T${hm}${secs}${offset}`;
  const ms = Date.parse(base);
  if (Number.isNaN(ms) || !isoDateIsReal(date!)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt(fraction.slice(0, 9).padEnd(9, '0'));
}

function isoDateIsReal(date: string): boolean {
  const d = new Date(`${date}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().startsWith(date);
}

/** A --since/--until value: a log sequence (digits) or an ISO time. */
export type Bound = { seq: number } | { timeNs: bigint };

export function parseBound(value: string): Bound | undefined {
  if (/^\d+$/.test(value)) {
    const seq = Number(value);
    return Number.isSafeInteger(seq) && seq >= 1 ? { seq } : undefined;
  }
  const timeNs = nanosFromIso(value);
  return timeNs === undefined ? undefined : { timeNs };
}

/**
 * The smallest log sequence s in [lo, hi + 1] such that the first message on `filter` at or after
 * s (and at or before hi) was stored at or after `timeNs`; hi + 1 when there is none. A binary
 * search with Direct Get: about log2(hi - lo) requests. Assumes the log's times do not go
 * backwards (JetStream stamps messages as it stores them).
 */
export async function seqAtTime(jsm: JetStreamManager, stream: string, filter: string, timeNs: bigint, lo: number, hi: number): Promise<number> {
  let a = Math.max(1, lo);
  let b = hi + 1;
  while (a < b) {
    const mid = a + Math.floor((b - a) / 2);
    const m = await jsm.direct.getMessage(stream, { seq: mid, next_by_subj: filter });
    if (!m || m.seq > hi) {
      b = mid;
      continue;
    }
    const t = nanosFromIso(m.timestamp);
    if (t === undefined) throw new Error(`message ${m.seq} of ${stream} has no readable time (${JSON.stringify(m.timestamp)})`);
    if (t >= timeNs) b = mid;
    else a = m.seq + 1;
  }
  return a;
}

/** One stored event as read from the log. `pending`: how many more match the filter right now. */
export type LogEntry = { seq: number; subject: string; timeNs: bigint; data: Uint8Array; pending: number };

/**
 * The messages on `filter` with startSeq ≤ seq ≤ endSeq, in log order, through an ordered
 * (ephemeral, flow-controlled) consumer. Stops at endSeq or when nothing more is stored, so it
 * never waits for events that have not been written yet.
 */
export async function* readLog(
  nc: NatsConnection,
  opts: { stream: string; filter: string; startSeq: number; endSeq: number; batch?: number },
): AsyncGenerator<LogEntry> {
  if (opts.startSeq > opts.endSeq) return;
  const jsm = await jetstreamManager(nc);
  // Only start a consumer when the range holds something: an empty one would wait for new events.
  const first = await jsm.direct.getMessage(opts.stream, { seq: Math.max(1, opts.startSeq), next_by_subj: opts.filter });
  if (!first || first.seq > opts.endSeq) return;
  const consumer = await jetstream(nc).consumers.get(opts.stream, { filter_subjects: opts.filter, opt_start_seq: first.seq });
  // Bounded by bytes as well as count: events can be up to the max payload each.
  const messages = await consumer.consume(opts.batch ? { max_messages: opts.batch } : { max_bytes: 8 * 1024 * 1024 });
  try {
    for await (const m of messages) {
      if (m.seq > opts.endSeq) break;
      yield { seq: m.seq, subject: m.subject, timeNs: m.timestampNanos, data: m.data, pending: m.info.pending };
      if (m.seq >= opts.endSeq || m.info.pending === 0) break;
    }
  } finally {
    messages.stop();
  }
}

/**
 * A stored event as one line's worth of JSON: its own bytes whenever they are one line of valid
 * UTF-8 JSON (always, for what Parley writes); otherwise re-serialized (`exact: false`), or the raw
 * text as a JSON string when it is not JSON at all.
 */
export function eventJson(data: Uint8Array): { bytes: Uint8Array; exact: boolean; event: unknown } {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const text = buf.toString('utf8');
  let event: unknown;
  try {
    event = JSON.parse(text);
  } catch {
    return { bytes: Buffer.from(JSON.stringify(text)), exact: false, event: text };
  }
  return looksLikeOneJsonLine(buf) ? { bytes: buf, exact: true, event } : { bytes: Buffer.from(JSON.stringify(event)), exact: false, event };
}

/**
 * The cheap check `parley export` makes instead of parsing every event (parsing was most of its
 * CPU time): valid UTF-8, an object's braces at both ends, no line break. Everything the engine
 * stores passes (JSON.stringify output); anything else is parsed and re-serialized.
 */
export function exportJson(data: Uint8Array): { bytes: Uint8Array; exact: boolean } {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (looksLikeOneJsonLine(buf) && buf[0] === 0x7b && buf[buf.byteLength - 1] === 0x7d) return { bytes: buf, exact: true };
  const { bytes } = eventJson(data);
  return { bytes, exact: false };
}

function looksLikeOneJsonLine(buf: Buffer): boolean {
  return buf.byteLength > 0 && buf.indexOf(0x0a) === -1 && buf.indexOf(0x0d) === -1 && isUtf8(buf);
}

/** `{"logSeq":N,"subject":"…","time":"…","event":` + event + `}`, as pieces to write. */
export function envelopePieces(entry: LogEntry, eventBytes: Uint8Array): Uint8Array[] {
  return [
    Buffer.from(`{"logSeq":${entry.seq},"subject":${JSON.stringify(entry.subject)},"time":"${isoFromNanos(entry.timeNs)}","event":`),
    eventBytes,
    Buffer.from('}'),
  ];
}

/**
 * Batches small writes into ~64 KiB chunks and waits for 'drain' when the destination is full,
 * so memory stays flat however fast the log is read. A write error is thrown by the next call.
 */
export class ChunkWriter {
  readonly #out: Output;
  #pieces: Uint8Array[] = [];
  #size = 0;
  #error: Error | undefined;
  readonly #onError = (err: Error) => {
    this.#error ??= err;
  };
  bytes = 0;

  constructor(
    out: Output,
    readonly chunkBytes = 64 * 1024,
  ) {
    this.#out = out;
    out.on('error', this.#onError);
  }

  get error(): Error | undefined {
    return this.#error;
  }

  async write(...pieces: (Uint8Array | string)[]): Promise<void> {
    if (this.#error) throw this.#error;
    for (const p of pieces) {
      const b = typeof p === 'string' ? Buffer.from(p) : p;
      this.#pieces.push(b);
      this.#size += b.byteLength;
    }
    if (this.#size >= this.chunkBytes) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.#error) throw this.#error;
    if (this.#size === 0) return;
    const chunk = Buffer.concat(this.#pieces, this.#size);
    this.#pieces = [];
    this.#size = 0;
    this.bytes += chunk.byteLength;
    if (!this.#out.write(chunk)) {
      await new Promise<void>((resolve, reject) => {
        const done = (err?: Error) => {
          this.#out.off('drain', done);
          this.#out.off('error', done);
          if (err) reject(err);
          else resolve();
        };
        this.#out.on('drain', done);
        this.#out.on('error', done);
      });
    }
    if (this.#error) throw this.#error;
  }

  /** Stop listening for errors (after the last flush). */
  release(): void {
    this.#out.off('error', this.#onError);
  }
}

export function isBrokenPipe(err: unknown): boolean {
  return (err as { code?: unknown })?.code === 'EPIPE' || (err as { code?: unknown })?.code === 'ERR_STREAM_DESTROYED';
}

/** A logger for CLI commands: stderr (stdout carries the data), warnings and worse by default. */
export function cliLogger(io: CliIo): Logger {
  return pino({ name: 'parley', level: io.env.PARLEY_LOG_LEVEL ?? 'warn', base: { pid: process.pid } }, io.stderr as unknown as pino.DestinationStream);
}

export type OpenLog = { config: Config; names: Names; nc: NatsConnection; jsm: JetStreamManager; close(): Promise<void> };

/**
 * Connect with the server's configuration (PARLEY_NATS_URL, PARLEY_PREFIX) and check the events
 * stream exists. On failure, print why and return the exit code (1) instead.
 */
export async function openLog(io: CliIo, command: string): Promise<OpenLog | number> {
  let config: Config;
  let names: Names;
  try {
    config = loadConfig(io.env);
    names = makeNames(config.prefix);
  } catch (err) {
    io.stderr.write(`parley ${command}: ${(err as Error).message}\n`);
    return 1;
  }
  let nc: NatsConnection;
  try {
    nc = await connectNats(config, `parley-${command}`, cliLogger(io));
  } catch (err) {
    io.stderr.write(`parley ${command}: cannot connect to NATS at ${config.natsUrl.join(',')}: ${(err as Error).message}\n`);
    return 1;
  }
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.info(names.streams.events);
  } catch (err) {
    await nc.close();
    const missing = isNotFound(err);
    io.stderr.write(
      missing
        ? `parley ${command}: no event log: stream ${names.streams.events} does not exist (PARLEY_PREFIX=${config.prefix}, NATS ${config.natsUrl.join(',')})\n`
        : `parley ${command}: cannot read stream ${names.streams.events}: ${(err as Error).message}\n`,
    );
    return 1;
  }
  return { config, names, nc, jsm, close: () => nc.close() };
}

/** Resolve --since/--until into an inclusive log sequence range within [firstSeq, lastSeq]. */
export async function resolveRange(
  jsm: JetStreamManager,
  stream: string,
  filter: string,
  state: { firstSeq: number; lastSeq: number },
  since: Bound | undefined,
  until: Bound | undefined,
): Promise<{ startSeq: number; endSeq: number }> {
  const lo = Math.max(1, state.firstSeq);
  const hi = state.lastSeq;
  let startSeq = lo;
  if (since && 'seq' in since) startSeq = Math.max(lo, since.seq);
  else if (since) startSeq = await seqAtTime(jsm, stream, filter, since.timeNs, lo, hi);
  let endSeq = hi;
  if (until && 'seq' in until) endSeq = Math.min(hi, until.seq);
  else if (until) endSeq = (await seqAtTime(jsm, stream, filter, until.timeNs + 1n, lo, hi)) - 1;
  return { startSeq, endSeq };
}

/** Checks --since/--until; returns the parsed bounds or a usage message. */
export function parseRange(
  since: string | undefined,
  until: string | undefined,
  names: [string, string] = ['--since', '--until'],
): { since?: Bound; until?: Bound } | string {
  const result: { since?: Bound; until?: Bound } = {};
  for (const [name, value, key] of [
    [names[0], since, 'since'],
    [names[1], until, 'until'],
  ] as const) {
    if (value === undefined) continue;
    const bound = parseBound(value);
    if (!bound) return `${name} must be a log sequence (a whole number ≥ 1) or an ISO 8601 time with Z or an offset, got ${JSON.stringify(value)}`;
    result[key] = bound;
  }
  const s = result.since;
  const u = result.until;
  if (s && u && 'seq' in s && 'seq' in u && s.seq > u.seq) return `${names[0]} ${s.seq} is after ${names[1]} ${u.seq}`;
  if (s && u && 'timeNs' in s && 'timeNs' in u && s.timeNs > u.timeNs) return `${names[0]} is later than ${names[1]}`;
  return result;
}

// ---------------------------------------------------------------------------------------------
// parley export

export async function runExport(argv: string[], io: CliIo = processIo()): Promise<number> {
  const parsed = parseOrUsage(io, 'export', usage, () =>
    parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        out: { type: 'string', short: 'o' },
        since: { type: 'string' },
        until: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }),
  );
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  if (values.help) {
    io.stdout.write(usage);
    return 0;
  }
  if (values.out === undefined || values.out === '') return usageError(io, 'export', '--out is required (a file, or - for stdout)', usage);
  const range = parseRange(values.since, values.until);
  if (typeof range === 'string') return usageError(io, 'export', range, usage);

  const log = await openLog(io, 'export');
  if (typeof log === 'number') return log;
  const toStdout = values.out === '-';
  let target = values.out;
  let partial: string | undefined;
  let output: Output | undefined;
  try {
    const stream = log.names.streams.events;
    const filter = log.names.subjects.eventsAll;
    const info = await log.jsm.streams.info(stream);
    const { startSeq, endSeq } = await resolveRange(log.jsm, stream, filter, { firstSeq: info.state.first_seq, lastSeq: info.state.last_seq }, range.since, range.until);

    if (toStdout) {
      output = io.stdout;
      target = 'stdout';
    } else {
      // A regular file is written aside and renamed when complete: a cut-short export never
      // looks like a finished one. Devices and pipes (/dev/stdout, a FIFO) are written directly.
      const existing = await stat(values.out).catch(() => undefined);
      partial = existing && !existing.isFile() ? undefined : `${values.out}.partial`;
      output = createWriteStream(partial ?? values.out);
      await once(output, 'open');
    }

    const progress = new Progress({ stream: io.stderr, total: Math.max(0, endSeq - startSeq + 1) });
    const writer = new ChunkWriter(output);
    let events = 0;
    let inexact = 0;
    let firstSeq: number | undefined;
    let lastSeq: number | undefined;
    try {
      for await (const entry of readLog(log.nc, { stream, filter, startSeq, endSeq })) {
        if (firstSeq === undefined) {
          firstSeq = entry.seq;
          // Deleted messages make the sequence range an over-estimate; pending is exact.
          progress.total = Math.min(endSeq - entry.seq + 1, entry.pending + 1);
        }
        lastSeq = entry.seq;
        const json = exportJson(entry.data);
        if (!json.exact) {
          inexact++;
          io.stderr.write(`${progress.enabled ? '\r\x1b[K' : ''}parley export: log seq ${entry.seq} is not one line of JSON as stored; written re-serialized\n`);
        }
        await writer.write(...envelopePieces(entry, json.bytes), '\n');
        events++;
        progress.add();
      }
      await writer.flush();
    } finally {
      progress.finish();
      writer.release();
    }
    if (!toStdout) {
      (output as NodeJS.WritableStream).end();
      await once(output, 'close');
      if (partial) await rename(partial, values.out);
    }
    const seconds = progress.elapsedSec();
    const rate = seconds > 0 ? events / seconds : events;
    const span = firstSeq === undefined ? '' : `, log seq ${firstSeq}–${lastSeq}`;
    io.stderr.write(
      `parley export: ${formatCount(events)} events${span}, ${formatBytes(writer.bytes)} in ${seconds.toFixed(2)} s (${formatCount(rate)} events/s) → ${target}` +
        (inexact ? ` (${inexact} re-serialized)` : '') +
        '\n',
    );
    return 0;
  } catch (err) {
    if (toStdout && isBrokenPipe(err)) return 0;
    io.stderr.write(`parley export: ${(err as Error).message}\n`);
    if (output && !toStdout) (output as NodeJS.WritableStream & { destroy(): void }).destroy();
    if (partial) await rm(partial, { force: true });
    return 1;
  } finally {
    await log.close();
  }
}

export async function run(args: string[]): Promise<number> {
  return runExport(args);
}
