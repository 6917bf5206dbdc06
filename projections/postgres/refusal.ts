import pg from 'pg';
import { sanitizeText } from '../../lib/wire-value.js';

/**
 * Which failures of a batch are Postgres refusing the data, and which are Postgres not there.
 *
 * The two call for opposite answers. While Postgres is down, restarting, or kills our connections,
 * every event fails and none is to blame: the batch is retried after a back-off until Postgres is
 * back, and nothing may be set aside (an outage that parked events would quietly empty the read
 * models). When Postgres answers and refuses one event's values, retrying can never help: the same
 * event fails the same way for ever, and holds every event after it back, so that one event is set
 * aside (parked) and the projector goes on.
 *
 * Only an error Postgres itself sent (a DatabaseError with a SQLSTATE) can be a refusal, and only of
 * the classes that depend on the values stored:
 * - 22 data exception: a number beyond its column's type, a timestamp outside Postgres' range, a
 *   text Postgres cannot hold, …;
 * - 23 integrity constraint violation: a NOT NULL, CHECK, unique or foreign key the row breaks;
 * - 54 program limit exceeded: a value beyond what Postgres can store or index (an index entry over
 *   its page limit).
 * Everything else is taken for an outage and retried: connection errors (no SQLSTATE at all), 57
 * (admin shutdown, a terminated backend, a cancelled query), 08 (connection exception), 53
 * (insufficient resources: disk full, too many connections), 40 (serialization failure, deadlock),
 * 42 (a missing table or privilege: the schema or the grants are wrong, which every event would hit
 * alike), and errors of our own (a checkpoint of another log).
 * A refusal is still confirmed before anything is parked: the one event fails alone, several times,
 * and the database answers a `SELECT 1` (isolate.ts).
 */

const REFUSING_CLASSES = new Set(['22', '23', '54']);

/** Postgres' refusal of an event's data: its SQLSTATE and message (with the detail, when there is one). */
export type Refusal = { code: string; message: string };

/** Longest error text kept with a parked event: the message may quote the refused value. */
const MAX_MESSAGE = 2_000;

/** The refusal `err` is, or null when it is anything else (an outage, a bug). */
export function refusalOf(err: unknown): Refusal | null {
  if (!(err instanceof pg.DatabaseError)) return null;
  const code = err.code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code) || !REFUSING_CLASSES.has(code.slice(0, 2))) return null;
  const text = err.detail ? `${err.message} (${err.detail})` : err.message;
  const short = text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}…` : text;
  // Stored in a text column itself: nothing in it may be refused in turn (the cut may have split a
  // surrogate pair, the message may quote a NUL).
  return { code, message: sanitizeText(short) };
}
