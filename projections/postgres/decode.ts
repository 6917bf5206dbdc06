import { decodeJson } from '../../lib/json.js';
import type { Logger } from '../../lib/log.js';
import type { Names } from '../../lib/names.js';
import { mayNeedSanitizing, sanitizeText } from '../../lib/wire-value.js';
import { compile, UserEvent, validateEvent } from '../../schemas/index.js';
import type { ProjectedEvent } from './statement.js';

/**
 * A message of the log as the projector sees it: decoded, or null if it is not one it can apply;
 * with its subject when it came from the log (a parked event records it).
 */
export type LogEntry = { seq: number; event: ProjectedEvent | null; subject?: string };

const validateUserEvent = compile(UserEvent);

/** Decode and validate one message of the log; anything else becomes a null event (stepped over). */
export function decodeLogEntry(
  names: Names,
  m: { seq: number; subject: string; data: Uint8Array },
  log?: Logger,
): LogEntry & { problem?: string; sanitized?: boolean } {
  const conversationId = names.subjects.conversationOfSubject(m.subject);
  const userId = conversationId === undefined ? names.subjects.userOfSubject(m.subject) : undefined;
  if (conversationId === undefined && userId === undefined) return { seq: m.seq, subject: m.subject, event: null, problem: `not an event subject: ${m.subject}` };
  let value: unknown;
  let sanitized = false;
  try {
    value = decodeJson(m.data);
  } catch {
    return report({ seq: m.seq, subject: m.subject, event: null, problem: 'not JSON' }, log, m.subject);
  }
  if (mayNeedSanitizing(m.data)) {
    // Written by a version whose edge let NUL or lone surrogates in: Postgres refuses them, and the
    // batch holding this event would fail for good, freezing every user's reads. Stored with U+FFFD
    // in their place instead; the log keeps the original.
    const clean = sanitizeText(value);
    sanitized = JSON.stringify(clean) !== JSON.stringify(value);
    if (sanitized) log?.warn({ seq: m.seq, subject: m.subject }, 'event text not storable as it is (NUL or lone surrogate): projected with U+FFFD');
    value = clean;
  }
  const checked = conversationId !== undefined ? validateEvent(value) : validateUserEvent(value);
  if (!checked.ok) return report({ seq: m.seq, subject: m.subject, event: null, problem: checked.message }, log, m.subject);
  const event = checked.value as ProjectedEvent;
  const owner = 'conversationId' in event ? event.conversationId : event.userId;
  if (owner !== (conversationId ?? userId)) return report({ seq: m.seq, subject: m.subject, event: null, problem: `event of ${owner} on ${m.subject}` }, log, m.subject);
  return { seq: m.seq, subject: m.subject, event, ...(sanitized ? { sanitized } : {}) };
}

function report(entry: LogEntry & { problem: string }, log: Logger | undefined, subject: string) {
  log?.error({ seq: entry.seq, subject, problem: entry.problem }, 'event cannot be projected; stepped over (a rebuild after an upgrade picks it up)');
  return entry;
}
