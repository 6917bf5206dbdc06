/**
 * The embedded default: with no DATABASE_URL, openDatabase serves PGlite on a loopback port to a
 * pool of one connection, and the same migrations, projector, rebuild and queries work on it, with
 * the same rows as on Postgres.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { defaultConfig, loadConfig, type Config } from '../../lib/config.js';
import { ident, openDatabase } from '../../lib/pg.js';
import { startRoles } from '../../app/roles.js';
import { migrate } from '../../projections/postgres/migrate.js';
import { projectBatch } from '../../projections/postgres/apply-batch.js';
import { readCheckpoint } from '../../projections/postgres/checkpoint.js';
import { projectorStatus, rebuildReadModels } from '../../projections/postgres/rebuild.js';
import { testConfig, testLog } from '../helpers/system.js';
import { appendEvents, checksums, eventually, generateEvents, testDatabase } from '../helpers/pg.js';

// One data directory for the file: creating one (PGlite's initdb) takes seconds.
const dir = await mkdtemp(join(tmpdir(), 'parley-pglite-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

/** A test configuration on the embedded database (no url) in the file's data directory. */
function embeddedConfig(dataDir: string, schema = 'parley'): Config {
  const base = testConfig();
  return { ...base, dataDir, postgres: { ...defaultConfig().postgres, schema } };
}

t.test('no DATABASE_URL: PGlite, one connection, the same migrations and rows as Postgres', async (t) => {
  t.equal(loadConfig({}).postgres.url, undefined, 'no DATABASE_URL, no url');
  const config = embeddedConfig(dir);
  const db = await openDatabase(config, testLog);
  t.teardown(() => db.close());
  t.equal(db.embedded, true);
  t.match(db.describe, /embedded PGlite at .*pglite/);
  t.equal(db.pool.options.max, 1, 'a pool of exactly one connection');
  t.equal(db.schema, 'parley');
  const version = (await db.pool.query('SELECT version() AS v')).rows[0].v as string;
  t.match(version, /PGlite/);

  t.strictSame((await migrate(db.pool, db.schema)).applied, ['001_read_models', '002_checkpoint_source', '003_privacy', '004_parked_events', '005_presence', '006_reactions', '007_group_admin']);
  const events = generateEvents({ count: 1_500, conversations: 10, users: 14, seed: 61 });
  const entries = events.map((event, i) => ({ seq: i + 1, event }));
  for (let i = 0; i < entries.length; i += 300) await projectBatch(db.pool, db.schema, entries.slice(i, i + 300));
  const embedded = await checksums(db.pool, db.schema);

  const real = await testDatabase(t);
  for (let i = 0; i < entries.length; i += 300) await projectBatch(real.pool, real.schema, entries.slice(i, i + 300));
  t.strictSame(embedded, await checksums(real.pool, real.schema), 'the same rows, byte for byte, as on Postgres 15');

  // The kind of queries the REST API runs.
  const s = ident(db.schema);
  const member = (await db.pool.query(`SELECT user_id FROM ${s}.conversation_members ORDER BY unread DESC, user_id LIMIT 1`)).rows[0].user_id;
  const list = await db.pool.query(
    `SELECT c.id, c.last_message_preview, m.unread FROM ${s}.conversation_members m JOIN ${s}.conversations c ON c.id = m.conversation_id
      WHERE m.user_id = $1 ORDER BY c.last_activity_at DESC, c.id LIMIT 20`,
    [member],
  );
  t.ok(list.rows.length > 0, 'conversations of a user');
  const page = await db.pool.query(`SELECT seq, media, mentions FROM ${s}.messages WHERE conversation_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT 5`, [
    list.rows[0].id,
    2 ** 31 - 1,
  ]);
  t.ok(page.rows.length > 0, 'a page of history');
  t.ok(page.rows.every((r) => r.media === null || Array.isArray(r.media)), 'jsonb comes back as JSON');
});

t.test('the data directory is one process’s: a second open is refused until the first closes', async (t) => {
  const config = embeddedConfig(dir);
  const first = await openDatabase(config, testLog);
  await first.pool.query('CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)');
  await t.rejects(openDatabase(config, testLog), /already open in this process|in use by process/);
  await first.close();
  await t.rejects(stat(join(dir, 'pglite.lock')), { code: 'ENOENT' }, 'lock released on close');
  const again = await openDatabase(config, testLog);
  t.teardown(() => again.close());
  t.strictSame((await again.pool.query('SELECT n FROM kept')).rows, [{ n: 42 }], 'the data survived a reopen');
});

t.test('role projector on the embedded database: the live read models, a rebuild, the status', async (t) => {
  const config = embeddedConfig(dir, 'live');
  const running = await startRoles('projector', config, testLog);
  t.teardown(async () => {
    await running.stop();
    const { connectNats, deleteStreams, jetstreamManager } = await import('../../lib/nats.js');
    const nc = await connectNats(config, 'test-cleanup', testLog);
    await deleteStreams(await jetstreamManager(nc), running.names);
    await nc.close();
  });
  t.ok(running.db?.embedded, 'the projector role opened the embedded database');
  t.ok(running.postgres, 'and runs the postgres projector');
  const db = running.db!;
  await appendEvents(running.nc, running.names, generateEvents({ count: 2_000, conversations: 12, users: 20, seed: 71 }));
  await eventually('the checkpoint at 2000', async () => (await readCheckpoint(db.pool, db.schema))?.logSeq === 2_000, 60_000);
  const live = await checksums(db.pool, db.schema);
  const r = await rebuildReadModels({ nc: running.nc, config, names: running.names, log: testLog, db });
  t.match(r, { events: 2_000, lastSeq: 2_000 });
  t.strictSame(await checksums(db.pool, db.schema), live, 'rebuilt in place on PGlite: identical tables');
  const status = await projectorStatus({ nc: running.nc, names: running.names, db, config });
  t.match(status, { lastSeq: 2_000, projectors: [{ name: 'delivery', exists: true }, { name: 'postgres', checkpoint: 2_000, lag: 0 }] });
});
