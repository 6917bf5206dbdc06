/**
 * The rebuild's bulk write path against real Postgres (no NATS): a schema without its foreign keys
 * and plain indexes while it fills (bulk-schema.ts), and runs of messages written with COPY and a
 * plain insert (copy-insert.ts). It must give exactly the tables of the live projector's path and
 * of `apply` one event at a time, and leave the schema as the migrations made it.
 */
import t from 'tap';
import { ident } from '../../lib/pg.js';
import { deferForBulkLoad, restoreAfterBulkLoad } from '../../projections/postgres/bulk-schema.js';
import { copyLines, copyText } from '../../projections/postgres/copy-insert.js';
import { projectBatch } from '../../projections/postgres/apply-batch.js';
import type { LogEntry } from '../../projections/postgres/decode.js';
import type { LoggedEvent, ProjectedEvent } from '../../projections/postgres/statement.js';
import { GROUP, groupCreated, membersAdded, messageRead, messageSent } from '../helpers/decider-spec.js';
import { applyEach, checksums, generateEvents, testDatabase } from '../helpers/pg.js';
import type pg from 'pg';

const logged = (events: ProjectedEvent[]): LogEntry[] => events.map((event, i) => ({ seq: i + 1, event }));

/** Constraints and indexes of a schema, as definitions (names included). */
async function shape(pool: pg.Pool, schema: string): Promise<string[]> {
  const r = await pool.query<{ d: string }>(
    `SELECT c.conrelid::regclass::text || ' ' || c.conname || ' ' || pg_get_constraintdef(c.oid) AS d
       FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = $1
     UNION ALL
     SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid
       JOIN pg_namespace n ON n.oid = x.relnamespace WHERE n.nspname = $1
     ORDER BY 1`,
    [schema],
  );
  return r.rows.map((row) => row.d.replaceAll(schema, '<schema>'));
}

/** Fill a schema the way the rebuild does: deferred keys and indexes, COPY, batches of `size`, restored. */
async function bulkFill(pool: pg.Pool, schema: string, entries: LogEntry[], size: number): Promise<void> {
  const deferred = await deferForBulkLoad(pool, schema);
  for (let i = 0; i < entries.length; i += size) await projectBatch(pool, schema, entries.slice(i, i + size), { copy: true });
  await restoreAfterBulkLoad(pool, deferred);
}

t.test('COPY text: nulls, numbers, and the four characters that need escaping', async (t) => {
  t.equal(copyText(null), '\\N');
  t.equal(copyText(undefined), '\\N');
  t.equal(copyText(42), '42');
  t.equal(copyText('plain ✓'), 'plain ✓');
  t.equal(copyText('a\\b\tc\nd\re'), 'a\\\\b\\tc\\nd\\re');
  t.equal(copyText('\\N'), '\\\\N', 'the text \\N is not null');
  t.equal(copyLines([['x', 'y'], [1, null]]), '1\tx\t1\n2\ty\t\\N\n', 'rows numbered from 1, columns tab-separated');
  t.equal(copyLines([[], []]), '');
});

t.test('the bulk path on a generated log = the live path = event by event, in any batch size', async (t) => {
  const events = generateEvents({ count: 3000, conversations: 20, users: 30, seed: 7 });
  const entries = logged(events);
  const reference = await testDatabase(t);
  await applyEach(reference.pool, reference.schema, entries as LoggedEvent[]);
  const live = await testDatabase(t);
  for (let i = 0; i < entries.length; i += 500) await projectBatch(live.pool, live.schema, entries.slice(i, i + 500));
  const expected = await checksums(reference.pool, reference.schema);
  delete expected.checkpoint;
  const liveSums = await checksums(live.pool, live.schema);
  t.equal(liveSums.checkpoint, '3000');
  delete liveSums.checkpoint;
  t.strictSame(liveSums, expected, 'live path = event by event');
  t.ok(Number(expected.messages!.split(':')[0]) > 1000, 'the log has many messages');
  for (const size of [7, 400, 3000]) {
    const db = await testDatabase(t);
    await bulkFill(db.pool, db.schema, entries, size);
    const got = await checksums(db.pool, db.schema);
    t.equal(got.checkpoint, '3000');
    delete got.checkpoint;
    t.strictSame(got, expected, `bulk path in batches of ${size}`);
  }
});

t.test('the bulk path on messages that conflict or have no conversation: the first one wins, as one at a time', async (t) => {
  const at = (minute: number) => new Date(Date.UTC(2024, 4, 1, 12, minute)).toISOString();
  const events: ProjectedEvent[] = [
    messageSent('alice', GROUP, 1, { tempId: 'early', at: at(0) }), // before its conversation: not inserted
    groupCreated('alice', { members: ['alice', 'bob', 'carol'], at: at(1) }),
    messageSent('alice', GROUP, 1, { tempId: 'a1', content: 'tab\there, back\\slash, new\nline', at: at(2) }),
    messageSent('bob', GROUP, 2, { tempId: 'b2', at: at(3) }),
    messageSent('bob', GROUP, 2, { tempId: 'b2-again', content: 'same seq, other id', at: at(4) }), // (conversation, seq) taken
    messageSent('carol', GROUP, 3, { tempId: 'a1', messageId: 'm_dup', at: at(5) }),
    messageSent('carol', GROUP, 4, { tempId: 'c4', messageId: 'm_dup', at: at(6) }), // id taken
    messageRead('bob', 3, GROUP, { at: at(7) }),
    membersAdded('dave', GROUP, { at: at(8) }),
    messageSent('dave', GROUP, 5, { tempId: 'd5', at: at(9) }),
  ];
  const entries = logged(events);
  const reference = await testDatabase(t);
  await applyEach(reference.pool, reference.schema, entries as LoggedEvent[]);
  const expected = await checksums(reference.pool, reference.schema);
  delete expected.checkpoint;
  t.match(expected.messages, /^4:/, 'one at a time: 4 messages (one too early, two in conflict)');
  for (const size of [1, 3, entries.length]) {
    const db = await testDatabase(t);
    await bulkFill(db.pool, db.schema, entries, size);
    const got = await checksums(db.pool, db.schema);
    delete got.checkpoint;
    t.strictSame(got, expected, `bulk path in batches of ${size}`);
  }
  const db = await testDatabase(t);
  await bulkFill(db.pool, db.schema, entries, entries.length);
  const content = await db.pool.query(`SELECT content FROM ${ident(db.schema)}.messages WHERE temp_id = 'a1' AND seq = 1`);
  t.equal(content.rows[0]?.content, 'tab\there, back\\slash, new\nline', 'escaped characters arrive as they were');
});

t.test('bulk-schema: keys and plain indexes are dropped while filling and come back as the migrations made them', async (t) => {
  const fresh = await testDatabase(t);
  const before = await shape(fresh.pool, fresh.schema);
  t.ok(before.some((d) => d.includes('FOREIGN KEY')), 'the migrations make foreign keys');
  t.ok(before.some((d) => d.includes('conversation_members_by_user')), 'and a plain index');
  const deferred = await deferForBulkLoad(fresh.pool, fresh.schema);
  t.equal(deferred.constraints.length, 2, 'two foreign keys deferred');
  t.equal(deferred.indexes.length, 1, 'one plain index deferred');
  const during = await shape(fresh.pool, fresh.schema);
  t.notOk(during.some((d) => d.includes('FOREIGN KEY') || d.includes('conversation_members_by_user')), 'none of them while filling');
  t.ok(during.some((d) => d.includes('UNIQUE (conversation_id, seq)')), 'unique keys stay (ON CONFLICT needs them)');
  await restoreAfterBulkLoad(fresh.pool, deferred);
  t.strictSame(await shape(fresh.pool, fresh.schema), before, 'the same constraints and indexes afterwards');
});
