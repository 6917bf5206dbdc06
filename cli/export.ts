/**
 * `parley export [--since <ISO time | log seq>] [--until <ISO time | log seq>] --out <file | ->`:
 * the whole event log (conversation and user events) as JSON Lines, in log order.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ChunkWriter, isBrokenPipe } from './chunk-writer.js';
import { envelopePieces, exportJson } from './event-lines.js';
import { parseOrUsage, processIo, usageError, type CliIo, type Output } from './io.js';
import { parseRange, resolveRange } from './log-range.js';
import { formatBytes, formatCount, Progress } from './progress.js';
import { openLog, readLog } from './read-log.js';

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
