import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

/**
 * The rebuild's way of writing a run of messages: the same rows as the INSERT … FROM unnest(…) of
 * message-statements.ts, with the same effect, for less work on both sides.
 *
 * 1. The rows go into a temporary staging table with COPY FROM STDIN (text format): no array
 *    literals to build in JS and to parse in Postgres.
 * 2. They are inserted from there as a plain INSERT (joined to `conversations`, as the unnest form
 *    is) inside a savepoint. With no row in conflict, ON CONFLICT DO NOTHING would have inserted
 *    exactly these rows; the plain insert skips its speculative-insertion work per row and index.
 * 3. Only if that fails on a unique key (a message id or (conversation, seq) already there or twice
 *    in the run: never in a log the engine wrote) is it rolled back to the savepoint and done again
 *    with ON CONFLICT DO NOTHING, in log order, so that the first of two rows wins, as one event at
 *    a time would have it.
 */

/** The staging table: a row number (log order), then the 14 columns of message-statements.ts's unnest arrays, in their order. */
const STAGING = 'pg_temp.parley_staging_messages';
const STAGING_DDL = `CREATE TEMP TABLE IF NOT EXISTS parley_staging_messages (
  ord bigint, id text, conversation_id text, seq integer, sender_id text, sender_name text, sender_avatar text, type text,
  content text, media jsonb, reply_to_id text, mentions jsonb, temp_id text, created_at timestamptz, log_seq bigint
) ON COMMIT DELETE ROWS`;
const COLUMNS = 'id, conversation_id, seq, sender_id, sender_name, sender_avatar, type, content, media, reply_to_id, mentions, temp_id, created_at, log_seq';
const INSERT = `INSERT INTO messages (${COLUMNS})
  SELECT ${COLUMNS.split(', ').map((c) => `x.${c}`).join(', ')}
    FROM ${STAGING} x JOIN conversations c ON c.id = x.conversation_id`;

const SPECIAL = /[\\\t\n\r]/;
const SPECIALS = /[\\\t\n\r]/g;
const ESCAPED: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** A value in COPY's text format: `\N` for null; backslash, tab, newline and carriage return escaped. */
export function copyText(value: unknown): string {
  if (value === null || value === undefined) return '\\N';
  if (typeof value === 'number') return String(value);
  const s = String(value);
  return SPECIAL.test(s) ? s.replace(SPECIALS, (ch) => ESCAPED[ch]!) : s;
}

/** Rows given as columns (one array per column, all of one length) → COPY text, one line per row, numbered from 1. */
export function copyLines(columns: readonly (readonly unknown[])[]): string {
  const rows = columns[0]?.length ?? 0;
  // One string grown in place: V8 joins the pieces once, when the string is written out.
  let out = '';
  for (let r = 0; r < rows; r++) {
    out += r + 1;
    for (let c = 0; c < columns.length; c++) out += `\t${copyText(columns[c]![r])}`;
    out += '\n';
  }
  return out;
}

/**
 * Insert a run of messages (the 14 columns of message-statements.ts's message INSERT, in its order) inside the
 * caller's transaction, with the search_path on the read models' schema.
 */
export async function copyInsertMessages(client: pg.PoolClient, columns: readonly (readonly unknown[])[]): Promise<void> {
  await client.query(STAGING_DDL);
  await pipeline(Readable.from([copyLines(columns)]), client.query(copyFrom(`COPY ${STAGING} FROM STDIN`)));
  await client.query('SAVEPOINT parley_copy_insert');
  try {
    await client.query(INSERT);
    await client.query('RELEASE SAVEPOINT parley_copy_insert');
  } catch (err) {
    if ((err as { code?: string }).code !== '23505') throw err; // unique_violation
    await client.query('ROLLBACK TO SAVEPOINT parley_copy_insert');
    await client.query(`${INSERT} ORDER BY x.ord ON CONFLICT DO NOTHING`);
  }
  // ON COMMIT DELETE ROWS empties it at the commit; a second run in the same transaction must not see these.
  await client.query(`TRUNCATE ${STAGING}`);
}
