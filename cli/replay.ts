/**
 * `parley replay --conversation <id> [--from-seq N] [--to-seq N] [--format table|json|jsonl]`:
 * one conversation's events exactly as the log stored them, in order, with log sequence and time.
 */
import { parseArgs } from 'node:util';
import { isSubjectToken } from '../lib/names.js';
import { ChunkWriter, isBrokenPipe } from './chunk-writer.js';
import { envelopePieces, eventJson } from './event-lines.js';
import { parseOrUsage, processIo, usageError, type CliIo } from './io.js';
import { isoFromNanos } from './iso-time.js';
import { parseRange } from './log-range.js';
import { openLog, readLog } from './read-log.js';

export const summary = "Print a conversation's events as logged (table, JSON or JSON Lines)";

export const usage = `Usage: parley replay --conversation <id> [--from-seq <N>] [--to-seq <N>] [--format table|json|jsonl]

Prints a conversation's events from the audit log (the <PREFIX>_EVENTS stream, subject
<prefix>.ev.conv.<id>) exactly as stored, in order, with each event's log sequence and time.

Options:
  --conversation <id>   the conversation id (required)
  --from-seq <N>        start at LOG sequence N (inclusive)
  --to-seq <N>          stop at LOG sequence N (inclusive)
                        Both are positions in the whole event log (the "logSeq" / "LOG SEQ" this
                        command prints), not the per-conversation message seq: one conversation's
                        events are interleaved with every other conversation's in the log.
  --format <f>          table (default): one line per event: log seq, time, type, actor, summary
                        json: one JSON array of {"logSeq","subject","time","event"} objects,
                              "event" being the stored JSON
                        jsonl: one stored event per line, byte for byte as logged, nothing else
  -h, --help            this help

Connects with PARLEY_NATS_URL and PARLEY_PREFIX, like the server. Exit code 0 on success, 1 when
the conversation has no events (unknown id) or the log cannot be read, 2 on a usage mistake.

Examples:
  npx parley replay --conversation d_Vb3…
  npx parley replay --conversation g_01J… --format jsonl | jq -r .type
`;

const formats = ['table', 'json', 'jsonl'] as const;
type Format = (typeof formats)[number];

export async function runReplay(argv: string[], io: CliIo = processIo()): Promise<number> {
  const parsed = parseOrUsage(io, 'replay', usage, () =>
    parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        conversation: { type: 'string', short: 'c' },
        'from-seq': { type: 'string' },
        'to-seq': { type: 'string' },
        format: { type: 'string', short: 'f', default: 'table' },
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
  const conversationId = values.conversation;
  if (conversationId === undefined) return usageError(io, 'replay', '--conversation is required', usage);
  if (!isSubjectToken(conversationId)) return usageError(io, 'replay', `--conversation must be letters, digits, _ or -, got ${JSON.stringify(conversationId)}`, usage);
  const format = values.format as Format;
  if (!formats.includes(format)) return usageError(io, 'replay', `--format must be table, json or jsonl, got ${JSON.stringify(values.format)}`, usage);
  for (const [name, value] of [
    ['--from-seq', values['from-seq']],
    ['--to-seq', values['to-seq']],
  ] as const) {
    if (value !== undefined && !/^[1-9]\d*$/.test(value)) return usageError(io, 'replay', `${name} must be a log sequence (a whole number ≥ 1), got ${JSON.stringify(value)}`, usage);
  }
  const range = parseRange(values['from-seq'], values['to-seq'], ['--from-seq', '--to-seq']);
  if (typeof range === 'string') return usageError(io, 'replay', range, usage);

  const log = await openLog(io, 'replay');
  if (typeof log === 'number') return log;
  const writer = new ChunkWriter(io.stdout, format === 'table' && io.stdout.isTTY ? 1 : 64 * 1024);
  try {
    const stream = log.names.streams.events;
    const subject = log.names.subjects.conversationEvents(conversationId);
    const last = await log.jsm.direct.getMessage(stream, { last_by_subj: subject });
    if (!last) {
      io.stderr.write(`parley replay: conversation ${conversationId} not found: no events on ${subject} in ${stream}\n`);
      return 1;
    }
    const startSeq = range.since && 'seq' in range.since ? range.since.seq : 1;
    const endSeq = Math.min(last.seq, range.until && 'seq' in range.until ? range.until.seq : Number.MAX_SAFE_INTEGER);

    let count = 0;
    if (format === 'table') await writer.write(tableHeader());
    if (format === 'json') await writer.write('[');
    for await (const entry of readLog(log.nc, { stream, filter: subject, startSeq, endSeq })) {
      const json = eventJson(entry.data);
      if (!json.exact) io.stderr.write(`parley replay: log seq ${entry.seq} is not one line of JSON as stored; printed re-serialized\n`);
      if (format === 'jsonl') await writer.write(json.bytes, '\n');
      else if (format === 'json') await writer.write(count === 0 ? '\n' : ',\n', ...envelopePieces(entry, json.bytes));
      else await writer.write(tableRow(entry.seq, isoFromNanos(entry.timeNs), json.event), '\n');
      count++;
    }
    if (format === 'json') await writer.write(count === 0 ? ']\n' : '\n]\n');
    await writer.flush();
    return 0;
  } catch (err) {
    if (isBrokenPipe(err)) return 0;
    io.stderr.write(`parley replay: ${(err as Error).message}\n`);
    return 1;
  } finally {
    writer.release();
    await log.close();
  }
}

export async function run(args: string[]): Promise<number> {
  return runReplay(args);
}

// ---------------------------------------------------------------------------------------------
// The table format.

const widths = { seq: 8, time: 24, type: 18, actor: 14 };

function tableHeader(): string {
  return `${'LOG SEQ'.padStart(widths.seq)}  ${'TIME'.padEnd(widths.time)}  ${'TYPE'.padEnd(widths.type)}  ${'ACTOR'.padEnd(widths.actor)}  SUMMARY\n`;
}

/** One event as a table line: log seq, time (ms), type, actor id and a short summary. */
export function tableRow(seq: number, timeIso: string, event: unknown): string {
  const e = (event && typeof event === 'object' ? event : {}) as { type?: unknown; actor?: { id?: unknown } };
  const time = timeIso.replace(/(\.\d{3})\d*Z$/, '$1Z');
  const type = typeof e.type === 'string' ? e.type : '?';
  const actor = typeof e.actor?.id === 'string' ? e.actor.id : '-';
  return `${String(seq).padStart(widths.seq)}  ${time.padEnd(widths.time)}  ${clean(type, 40).padEnd(widths.type)}  ${clean(actor, 40).padEnd(widths.actor)}  ${describeEvent(event)}`;
}

/** Control characters (newlines included) become spaces; long text is cut with an ellipsis. */
function clean(text: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const flat = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function members(list: unknown): string {
  if (!Array.isArray(list)) return '?';
  return list.map((m: { userId?: unknown; role?: unknown }) => `${String(m?.userId)}${m?.role === 'owner' || m?.role === 'admin' ? ` (${m.role})` : ''}`).join(', ');
}

/** A short human summary of one event, e.g. `m_01J… seq 3: hello`. */
export function describeEvent(event: unknown): string {
  if (!event || typeof event !== 'object') return clean(JSON.stringify(event) ?? String(event), 80);
  const e = event as { type?: unknown; data?: Record<string, unknown> };
  const d = (e.data && typeof e.data === 'object' ? e.data : {}) as Record<string, any>;
  switch (e.type) {
    case 'ConversationCreated':
      return clean(`${String(d.kind)}${typeof d.title === 'string' ? ` "${d.title}"` : ''}: ${members(d.members)}`, 100);
    case 'MembersAdded':
      return clean(`added ${members(d.members)}`, 100);
    case 'MemberLeft':
      return clean(`${String(d.userId)} left`, 100);
    case 'MemberRemoved':
      return clean(`${String(d.userId)} removed`, 100);
    case 'MemberRoleChanged':
      return clean(`${String(d.userId)} is now ${String(d.role)}${typeof d.previousOwner === 'string' ? ` (${d.previousOwner} handed it over, now admin)` : ''}`, 100);
    case 'ConversationUpdated': {
      const changes = [
        typeof d.title === 'string' ? `title "${d.title}"` : '',
        d.avatar === null ? 'avatar removed' : typeof d.avatar === 'string' ? `avatar ${d.avatar}` : '',
        typeof d.joinPolicy === 'string' ? `join policy ${d.joinPolicy}` : '',
      ].filter(Boolean);
      return clean(`updated: ${changes.join(', ')}`, 100);
    }
    case 'MessageSent': {
      const media = Array.isArray(d.media) && d.media.length > 0 ? `[${String(d.type)} ×${d.media.length}] ` : d.type && d.type !== 'text' ? `[${String(d.type)}] ` : '';
      const reply = typeof d.replyToId === 'string' ? `(reply to ${d.replyToId}) ` : '';
      return clean(`${String(d.messageId)} seq ${String(d.seq)}: ${reply}${media}${typeof d.content === 'string' ? d.content : ''}`, 100);
    }
    case 'MessageEdited':
      return clean(`${String(d.messageId)} seq ${String(d.seq)} edited: ${typeof d.content === 'string' ? d.content : ''}`, 100);
    case 'MessageDeleted':
      return clean(`${String(d.messageId)} seq ${String(d.seq)} (from ${String(d.sender)}) deleted`, 100);
    case 'ReactionAdded':
      return clean(`${String(d.messageId)} seq ${String(d.seq)}: reaction ${String(d.emoji)} added`, 100);
    case 'ReactionRemoved':
      return clean(`${String(d.messageId)} seq ${String(d.seq)}: reaction ${String(d.emoji)} removed`, 100);
    case 'MessageDelivered':
      return clean(`${String(d.userId)} received up to seq ${String(d.upToSeq)}`, 100);
    case 'MessageRead':
      return clean(`${String(d.userId)} read up to seq ${String(d.upToSeq)}`, 100);
    default:
      return clean(JSON.stringify(e.data ?? {}), 80);
  }
}
