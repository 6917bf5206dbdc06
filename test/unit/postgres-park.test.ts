/**
 * Poisoned events against real Postgres (no NATS): events that pass their schema but that Postgres
 * refuses to store are parked, one by one, and everything else is applied exactly as if they had
 * been stepped over; what is an outage and what is a refusal is told by real errors of a real server.
 */
import t from 'tap';
import net from 'node:net';
import pg from 'pg';
import { ident, inTransaction } from '../../lib/pg.js';
import { applyIsolating, ownTransactions, parkingBudget, savepoints, type Atomic } from '../../projections/postgres/isolate.js';
import { listParked } from '../../projections/postgres/park.js';
import { projectBatch } from '../../projections/postgres/apply-batch.js';
import { readCheckpoint } from '../../projections/postgres/checkpoint.js';
import type { LogEntry } from '../../projections/postgres/decode.js';
import type { ProjectedEvent } from '../../projections/postgres/statement.js';
import { refusalOf } from '../../projections/postgres/refusal.js';
import { checksums, generateEvents, testDatabase, TEST_DATABASE_URL } from '../helpers/pg.js';

/** Beyond a Postgres integer (read_seq is one), within the event schema (no maximum there). */
const HUGE_SEQ = 3_000_000_000;
/** An ISO instant the schema and Date.parse accept, and Postgres does not: it has no year 0. */
const YEAR_ZERO = '0000-01-01T00:00:00.000Z';

/** A generated log with two natural poisons put in: a read receipt beyond integer range, a message of year 0. */
function poisonedLog(count: number, seed: number): { entries: LogEntry[]; poisons: Map<number, string> } {
  const events = generateEvents({ count, conversations: 12, users: 20, seed });
  const poisons = new Map<number, string>();
  const read = events.findIndex((e, i) => i > count / 2 && e.type === 'MessageRead');
  const sent = events.findIndex((e, i) => i > (count * 3) / 4 && e.type === 'MessageSent');
  if (read < 0 || sent < 0) throw new Error('the generated log has no read receipt or message to poison');
  (events[read] as Extract<ProjectedEvent, { type: 'MessageRead' }>).data.upToSeq = HUGE_SEQ;
  poisons.set(read + 1, '22003'); // numeric_value_out_of_range
  events[sent] = { ...events[sent]!, at: YEAR_ZERO };
  poisons.set(sent + 1, '22008'); // datetime_field_overflow
  return { entries: events.map((event, i) => ({ seq: i + 1, event })), poisons };
}

/** The same entries with the poisons stepped over (what the read models must hold after parking them). */
const withoutPoisons = (entries: LogEntry[], poisons: Map<number, string>): LogEntry[] =>
  entries.map((e) => (poisons.has(e.seq) ? { seq: e.seq, event: null } : e));

t.test('a batch with events Postgres refuses: each is parked, everything else applied as if it were stepped over', async (t) => {
  const { entries, poisons } = poisonedLog(1_200, 7);
  const db = await testDatabase(t);
  const reference = await testDatabase(t);
  await t.rejects(projectBatch(db.pool, db.schema, entries.slice(0, 1_200)), { code: '22003' }, 'as one batch, it fails (and would fail for ever)');
  t.equal((await readCheckpoint(db.pool, db.schema))?.logSeq ?? 0, 0, 'nothing of it applied');

  const parked = [];
  for (let i = 0; i < entries.length; i += 400) parked.push(...(await applyIsolating(ownTransactions(db.pool), db.schema, entries.slice(i, i + 400))).parked);
  for (let i = 0; i < entries.length; i += 400) await projectBatch(reference.pool, reference.schema, withoutPoisons(entries, poisons).slice(i, i + 400));

  t.strictSame(await checksums(db.pool, db.schema), await checksums(reference.pool, reference.schema), 'the read models and checkpoint are those of the log without the poisons');
  t.strictSame(
    parked.map((p) => [p.seq, p.errorCode]),
    [...poisons.entries()],
    'each poison was parked with the SQLSTATE of its refusal, and nothing else',
  );
  const stored = await listParked(db.pool, db.schema);
  t.strictSame(stored.map((p) => [p.seq, p.eventType, p.errorCode]), [
    [[...poisons.keys()][0], 'MessageRead', '22003'],
    [[...poisons.keys()][1], 'MessageSent', '22008'],
  ]);
  t.match(stored[0]!.error, /out of range for type integer/);
  t.match(stored[1]!.error, /out of range/);
  t.equal(stored[0]!.subject, `conversation ${(entries[stored[0]!.seq - 1]!.event as { conversationId: string }).conversationId}`, 'entries made by hand name their owner');
  t.equal(stored[0]!.retries, 0);

  const again = await applyIsolating(ownTransactions(db.pool), db.schema, entries.slice(0, 1_200));
  t.match(again, { applied: 0, skipped: 1_200, parked: [] }, 'redelivered: stepped over by the checkpoint, parked once only');
});

t.test('inside a transaction (the rebuild’s swap): a poison is parked in a savepoint, the work around it kept', async (t) => {
  const { entries, poisons } = poisonedLog(600, 11);
  const db = await testDatabase(t);
  const reference = await testDatabase(t);
  const result = await inTransaction(db.pool, async (client) => {
    await client.query(`CREATE TABLE ${ident(db.schema)}.marker (x int)`);
    await client.query(`INSERT INTO ${ident(db.schema)}.marker VALUES (1)`);
    return applyIsolating(savepoints(client), db.schema, entries);
  });
  await projectBatch(reference.pool, reference.schema, withoutPoisons(entries, poisons));
  t.strictSame(result.parked.map((p) => p.seq), [...poisons.keys()]);
  t.strictSame(await checksums(db.pool, db.schema), await checksums(reference.pool, reference.schema));
  t.equal((await db.pool.query(`SELECT count(*)::int AS n FROM ${ident(db.schema)}.marker`)).rows[0].n, 1, 'the transaction’s own work survived');
});

t.test('a refusal is not parked while the database does not answer', async (t) => {
  const { entries, poisons } = poisonedLog(300, 13);
  const db = await testDatabase(t);
  // The batches go to the real database; `SELECT 1` to a port nothing listens on.
  const gone = new pg.Pool({ host: '127.0.0.1', port: await closedPort(), user: 'postgres', connectionTimeoutMillis: 2_000 });
  gone.on('error', () => undefined);
  t.teardown(() => gone.end());
  const unanswered: Atomic = { run: ownTransactions(db.pool).run, answers: ownTransactions(gone).answers };
  await t.rejects(applyIsolating(unanswered, db.schema, entries), { code: '22003' }, 'the refusal is thrown: retried later, as an outage');
  t.strictSame(await listParked(db.pool, db.schema), [], 'nothing parked');
  const checkpoint = (await readCheckpoint(db.pool, db.schema))?.logSeq ?? 0;
  t.equal(checkpoint, [...poisons.keys()][0]! - 1, 'the events before the poison are applied; the checkpoint stops before it');
});

t.test('past the parking budget, refusals are retried like an outage instead of parked', async (t) => {
  const { entries, poisons } = poisonedLog(900, 17);
  const [firstPoison, secondPoison] = [...poisons.keys()] as [number, number];
  const db = await testDatabase(t);
  const budget = parkingBudget(1, 60_000);
  await t.rejects(applyIsolating(ownTransactions(db.pool), db.schema, entries, { budget }), { code: '22008' }, 'the second refusal is thrown');
  t.strictSame((await listParked(db.pool, db.schema)).map((p) => p.seq), [firstPoison], 'only the first was parked');
  t.equal((await readCheckpoint(db.pool, db.schema))?.logSeq, secondPoison - 1, 'the checkpoint stops before the second');
  t.notOk(budget.allows(), 'the budget is spent');
  const refill = parkingBudget(1, 50);
  refill.spend();
  await new Promise((r) => setTimeout(r, 80));
  t.ok(refill.allows(), 'and comes back once the window has passed');
});

t.test('refusals and outages, told apart on real errors', async (t) => {
  const db = await testDatabase(t);
  const s = ident(db.schema);
  const error = (p: Promise<unknown>) => p.then(() => t.fail('should fail'), (err: unknown) => err);

  const outOfRange = await error(db.pool.query('SELECT $1::int', [HUGE_SEQ]));
  t.match(refusalOf(outOfRange), { code: '22003', message: /out of range for type integer/ }, 'class 22: a data exception');
  const yearZero = await error(db.pool.query('SELECT $1::timestamptz', [YEAR_ZERO]));
  t.match(refusalOf(yearZero), { code: '22008' });
  await db.pool.query(`ALTER TABLE ${s}.blocks ADD CONSTRAINT no_self CHECK (blocker_id <> blocked_id)`);
  const check = await error(db.pool.query(`INSERT INTO ${s}.blocks VALUES ('a', 'a', now())`));
  t.match(refusalOf(check), { code: '23514', message: /no_self/ }, 'class 23: a constraint');
  const nul = await error(db.pool.query('SELECT $1::text', ['a\u0000b']));
  t.match(refusalOf(nul), { code: '22021' }, 'a NUL in text (were it ever to get past decodeLogEntry)');

  const missing = await error(db.pool.query(`SELECT * FROM ${s}.no_such_table`));
  t.equal(refusalOf(missing), null, '42P01 (a table missing: the schema is wrong, for every event alike) is not a refusal');
  const nobody = new pg.Pool({ host: '127.0.0.1', port: await closedPort(), user: 'postgres' });
  const refused = await error(nobody.query('SELECT 1'));
  await nobody.end();
  t.equal(refusalOf(refused), null, 'connection refused is an outage');
  const victim = new pg.Client({ connectionString: TEST_DATABASE_URL });
  victim.on('error', () => undefined);
  await victim.connect();
  const pid = (await victim.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
  const sleeping = error(victim.query('SELECT pg_sleep(10)'));
  await new Promise((r) => setTimeout(r, 200));
  await db.pool.query('SELECT pg_terminate_backend($1)', [pid]);
  const terminated = await sleeping;
  t.equal(refusalOf(terminated), null, `a terminated backend is an outage (${(terminated as { code?: string }).code ?? (terminated as Error).message})`);
  await victim.end().catch(() => undefined);
  t.equal(refusalOf(new Error('checkpoint of another log')), null, 'our own errors are not refusals');
});

/** A TCP port on which nothing listens (taken, then given back). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}
