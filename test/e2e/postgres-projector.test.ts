/**
 * The postgres projector against real NATS and Postgres: the live read models equal a rebuild from
 * the log (and a rebuild in place changes nothing), the projector lines itself up with a database
 * or a log that changed under it, and the whole system writes what clients do into Postgres.
 */
import t from 'tap';
import { deleteStreams, ensureStreams } from '../../lib/nats.js';
import { ident } from '../../lib/pg.js';
import { startPostgresProjector } from '../../projections/postgres/projector.js';
import { projectorStatus, rebuildReadModels } from '../../projections/postgres/rebuild.js';
import { startSystem, testLog } from '../helpers/system.js';
import { appendEvents, checksums, eventually, generateEvents, pgTestbed, renameConversations } from '../helpers/pg.js';

t.test('the live read models equal a rebuild from the log; a rebuild in place changes nothing', async (t) => {
  const s = await pgTestbed(t);
  const projector = await startPostgresProjector({ nc: s.nc, config: s.config, names: s.names, log: testLog, db: s.db });
  t.teardown(() => projector.stop());
  await appendEvents(s.nc, s.names, generateEvents({ count: 5_000, conversations: 30, users: 40, seed: 11 }));
  await s.caughtUp();
  const live = await checksums(s.db.pool, s.config.postgres.schema);
  t.equal(live.checkpoint, '5000');
  t.strictSame(await s.freshRebuild(), live, 'a fresh rebuild gives the same tables');
  t.match(projector.stats(), { events: 5_000, invalid: 0, checkpoint: 5_000 });

  let progress = 0;
  const r = await rebuildReadModels({
    nc: s.nc,
    config: s.config,
    names: s.names,
    log: testLog,
    db: s.db,
    batchSize: 1_000,
    onProgress: (done, total) => {
      progress++;
      t.ok(done <= total || total === 0);
    },
  });
  t.match(r, { events: 5_000, lastSeq: 5_000 });
  t.ok(progress >= 5, 'progress reported per batch');
  t.strictSame(await checksums(s.db.pool, s.config.postgres.schema), live, 'rebuilt in place: identical tables');
  const leftovers = await s.db.pool.query('SELECT nspname FROM pg_namespace WHERE nspname LIKE $1', [`${s.config.postgres.schema}\\_%`]);
  t.strictSame(leftovers.rows, [], 'no _rebuild or _old schema left');

  // The live projector carries on in the swapped-in schema.
  await appendEvents(s.nc, s.names, generateEvents({ count: 1_000, conversations: 5, seed: 12 }).map(renameConversations('late')));
  await s.caughtUp();
  t.strictSame(await s.freshRebuild(), await checksums(s.db.pool, s.config.postgres.schema), 'still equal after more events');

  const status = await projectorStatus({ nc: s.nc, names: s.names, db: s.db, config: s.config });
  t.match(status, { lastSeq: 6_000, projectors: [{ name: 'delivery', exists: false }, { name: 'postgres', exists: true, checkpoint: 6_000, lag: 0 }] });
});

t.test('a database that lost what the consumer acked is projected again from its checkpoint', async (t) => {
  const s = await pgTestbed(t);
  await appendEvents(s.nc, s.names, generateEvents({ count: 2_000, seed: 41 }));
  let projector = await startPostgresProjector({ nc: s.nc, config: s.config, names: s.names, log: testLog, db: s.db });
  await s.caughtUp();
  const expected = await checksums(s.db.pool, s.config.postgres.schema);
  await projector.stop();
  // The read models are gone (a new database, a restored backup): the consumer is ahead of them.
  await s.db.pool.query(`DROP SCHEMA ${ident(s.config.postgres.schema)} CASCADE`);
  projector = await startPostgresProjector({ nc: s.nc, config: s.config, names: s.names, log: testLog, db: s.db });
  t.teardown(() => projector.stop());
  await s.caughtUp();
  t.strictSame(await checksums(s.db.pool, s.config.postgres.schema), expected, 'everything again, once');
});

t.test('read models of another log (the stream was deleted and created again) are started over', async (t) => {
  const s = await pgTestbed(t);
  await appendEvents(s.nc, s.names, generateEvents({ count: 1_000, seed: 51 }));
  let projector = await startPostgresProjector({ nc: s.nc, config: s.config, names: s.names, log: testLog, db: s.db });
  await s.caughtUp();
  await projector.stop();
  await deleteStreams(s.jsm, s.names);
  await ensureStreams(s.jsm, s.names, s.config);
  await appendEvents(s.nc, s.names, generateEvents({ count: 300, seed: 52 }).map(renameConversations('new')));
  projector = await startPostgresProjector({ nc: s.nc, config: s.config, names: s.names, log: testLog, db: s.db });
  t.teardown(() => projector.stop());
  await s.caughtUp();
  const live = await checksums(s.db.pool, s.config.postgres.schema);
  t.equal(live.checkpoint, '300', 'not stuck at the old log’s checkpoint 1000');
  t.strictSame(await s.freshRebuild(), live, 'only the new log’s rows');
});

t.test('two projectors sharing the consumer (a second process by mistake): still every event once, in order', async (t) => {
  const s = await pgTestbed(t);
  const cfg = { ...s.config, postgres: { ...s.config.postgres, batchSize: 100, batchMs: 10 } };
  const a = await startPostgresProjector({ nc: s.nc, config: cfg, names: s.names, log: testLog, db: s.db });
  const b = await startPostgresProjector({ nc: s.nc, config: cfg, names: s.names, log: testLog, db: s.db });
  t.teardown(async () => {
    await a.stop();
    await b.stop();
  });
  await appendEvents(s.nc, s.names, generateEvents({ count: 2_000, conversations: 20, users: 30, seed: 81 }));
  await s.caughtUp();
  t.ok(a.stats().events > 0 && b.stats().events > 0, `both applied some (${a.stats().events} + ${b.stats().events})`);
  t.equal(a.stats().events + b.stats().events, 2_000, 'together every event once');
  t.strictSame(await s.freshRebuild(), await checksums(s.db.pool, s.config.postgres.schema), 'equal to a fresh rebuild');
});

t.test('the whole system: messages sent over WebSockets are in Postgres, with unread counts', async (t) => {
  const sys = await startSystem(t);
  const running = sys.running[0]!;
  t.ok(running.db && !running.db.embedded, 'role all opened the test database');
  const ann = await sys.connect('ann');
  const ben = await sys.connect('ben');
  ann.send({ type: 'conversation.create', payload: { kind: 'group', title: 'pg', members: ['ben'] } });
  const conversationId = (await ann.next('conversation.created')).payload.conversation.id;
  for (let i = 0; i < 5; i++) ann.send({ type: 'message.send', payload: { conversationId, tempId: `a${i}`, content: `hello ${i}` } });
  await ann.collect('message.sent', 5);
  await ben.collect('message.new', 5);
  const s = ident(sys.config.postgres.schema);
  const pool = running.db!.pool;
  await eventually('5 messages in Postgres', async () => {
    const r = await pool.query(`SELECT message_count FROM ${s}.conversations WHERE id = $1`, [conversationId]);
    return r.rows[0]?.message_count === 5;
  });
  const members = await pool.query(`SELECT user_id, role, unread FROM ${s}.conversation_members WHERE conversation_id = $1 ORDER BY 1`, [conversationId]);
  t.strictSame(members.rows, [
    { user_id: 'ann', role: 'owner', unread: 0 },
    { user_id: 'ben', role: 'member', unread: 5 },
  ]);
  ben.send({ type: 'message.read', payload: { conversationId, upToSeq: 3 } });
  await eventually('ben read up to 3', async () => {
    const r = await pool.query(`SELECT read_seq, unread FROM ${s}.conversation_members WHERE conversation_id = $1 AND user_id = 'ben'`, [conversationId]);
    return r.rows[0]?.read_seq === 3 && r.rows[0]?.unread === 2;
  });
  const contents = await pool.query(`SELECT content FROM ${s}.messages WHERE conversation_id = $1 ORDER BY seq`, [conversationId]);
  t.strictSame(
    contents.rows.map((r) => r.content),
    ['hello 0', 'hello 1', 'hello 2', 'hello 3', 'hello 4'],
  );
});
