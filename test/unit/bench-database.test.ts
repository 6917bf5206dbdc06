/**
 * Which read-model database a bench gives the system under test (bench/lib/database.ts): the real
 * Postgres when it answers, PGlite when asked for or when none answers, and an explicit URL that
 * does not answer is an error rather than a silent switch to PGlite.
 */
import t from 'tap';
import { chooseDatabase, describeDatabase, postgresAnswers, redactUrl } from '../../bench/lib/database.js';
import { TEST_DATABASE_URL } from '../helpers/pg.js';

// Port 1 on loopback: refused at once, nothing listens there.
const NOBODY = 'postgres://postgres@127.0.0.1:1/postgres';

t.test('the default is $DATABASE_URL when it answers, PGlite (with the reason) when it does not', async (t) => {
  t.ok(await postgresAnswers(TEST_DATABASE_URL), 'the test Postgres answers');
  t.strictSame(await chooseDatabase(undefined, { DATABASE_URL: TEST_DATABASE_URL }), { kind: 'postgres', url: TEST_DATABASE_URL });
  const fallback = await chooseDatabase(undefined, { DATABASE_URL: NOBODY });
  t.equal(fallback.kind, 'embedded');
  t.match(describeDatabase(fallback), /embedded PGlite \(no Postgres answers at postgres:\/\/postgres@127\.0\.0\.1:1\/postgres\)/);
});

t.test('--database-url embedded is PGlite; a URL must answer', async (t) => {
  t.match(await chooseDatabase('embedded', { DATABASE_URL: TEST_DATABASE_URL }), { kind: 'embedded' }, 'even with a Postgres at hand');
  t.strictSame(await chooseDatabase(TEST_DATABASE_URL, {}), { kind: 'postgres', url: TEST_DATABASE_URL });
  await t.rejects(chooseDatabase(NOBODY, {}), /no Postgres answers at postgres:\/\/postgres@127\.0\.0\.1:1\/postgres/);
});

t.test('a URL in logs and result files has no password', async (t) => {
  t.equal(redactUrl('postgres://app:s3cret@db.example:5432/chat'), 'postgres://app:***@db.example:5432/chat');
  t.equal(redactUrl('postgres://postgres@127.0.0.1:5432/postgres'), 'postgres://postgres@127.0.0.1:5432/postgres');
  t.equal(describeDatabase({ kind: 'postgres', url: 'postgres://app:s3cret@db/chat' }, 'bench1'), 'Postgres postgres://app:***@db/chat, schema bench1');
});
