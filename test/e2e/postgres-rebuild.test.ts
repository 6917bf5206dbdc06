/**
 * A rebuild of the read models while the live projector runs and events keep arriving: the rebuilt
 * schema is swapped in without losing or repeating an event, whether the live projector is ahead of
 * the rebuild at the swap (the rebuild catches up under the lock) or behind it (the projector steps
 * over what the rebuild already applied).
 */
import t from 'tap';
import { readCheckpoint } from '../../projections/postgres/checkpoint.js';
import { startPostgresProjector } from '../../projections/postgres/projector.js';
import { rebuildReadModels } from '../../projections/postgres/rebuild.js';
import { testLog } from '../helpers/system.js';
import { appendEvents, checksums, eventually, generateEvents, pgTestbed } from '../helpers/pg.js';

t.test('a rebuild while the projector runs and events keep coming: swapped in without losing or repeating one', async (t) => {
  const s = await pgTestbed(t);
  const cfg = { ...s.config, postgres: { ...s.config.postgres, batchSize: 200, batchMs: 20 } };
  const projector = await startPostgresProjector({ nc: s.nc, config: cfg, names: s.names, log: testLog, db: s.db });
  t.teardown(() => projector.stop());
  const all = generateEvents({ count: 12_000, conversations: 60, users: 80, seed: 21, changes: true, admin: true });
  await appendEvents(s.nc, s.names, all.slice(0, 6_000));
  // More events arrive during the rebuild, in chunks, while the live projector keeps applying them.
  const writer = (async () => {
    for (let i = 6_000; i < 10_000; i += 500) {
      await appendEvents(s.nc, s.names, all.slice(i, i + 500));
      await new Promise((r) => setTimeout(r, 30));
    }
  })();
  const r = await rebuildReadModels({
    nc: s.nc,
    config: s.config,
    names: s.names,
    log: testLog,
    db: s.db,
    batchSize: 1_000,
    // Make sure the live projector is ahead at the swap: more events, applied live first.
    beforeSwap: async () => {
      await writer;
      await appendEvents(s.nc, s.names, all.slice(10_000, 11_000));
      await eventually('the live projector at 11000', async () => (await readCheckpoint(s.db.pool, s.config.postgres.schema))?.logSeq === 11_000);
    },
  });
  t.ok(r.caughtUp > 0, `the rebuild caught up ${r.caughtUp} events under the lock`);
  t.equal(r.lastSeq, 11_000, 'and stands where the live projector stood');
  await appendEvents(s.nc, s.names, all.slice(11_000));
  await s.caughtUp();
  const live = await checksums(s.db.pool, s.config.postgres.schema);
  t.equal(live.checkpoint, '12000');
  t.strictSame(await s.freshRebuild(), live, 'equal to a fresh rebuild of the whole log');
  t.equal(projector.stats().failed, 0, 'no batch failed');
});

t.test('a rebuild ahead of a stopped projector: the projector steps over what the rebuild applied', async (t) => {
  const s = await pgTestbed(t);
  const all = generateEvents({ count: 4_000, conversations: 30, users: 40, seed: 22 });
  await appendEvents(s.nc, s.names, all.slice(0, 1_000));
  let projector = await startPostgresProjector({ nc: s.nc, config: s.config, names: s.names, log: testLog, db: s.db });
  await s.caughtUp();
  await projector.stop();
  await appendEvents(s.nc, s.names, all.slice(1_000, 3_000));
  // Presence is not in the log (the presence service writes it): the swap carries it over.
  const presenceTable = `"${s.config.postgres.schema}".presence`;
  await s.db.pool.query(`INSERT INTO ${presenceTable} (user_id, is_online, last_seen) VALUES ('alice', false, '2026-12-01T10:00:00Z')`);
  const r = await rebuildReadModels({ nc: s.nc, config: s.config, names: s.names, log: testLog, db: s.db });
  t.match(r, { lastSeq: 3_000, caughtUp: 0 });
  const kept = await s.db.pool.query(`SELECT user_id, is_online, last_seen FROM ${presenceTable}`);
  t.strictSame(
    kept.rows.map((row) => [row.user_id, row.is_online, (row.last_seen as Date).toISOString()]),
    [['alice', false, '2026-12-01T10:00:00.000Z']],
    'the presence rows survive the rebuild',
  );
  projector = await startPostgresProjector({ nc: s.nc, config: s.config, names: s.names, log: testLog, db: s.db });
  t.teardown(() => projector.stop());
  await appendEvents(s.nc, s.names, all.slice(3_000));
  await s.caughtUp();
  t.match(projector.stats(), { events: 1_000, skipped: 2_000 }, 'applied only what came after the rebuild');
  t.strictSame(await s.freshRebuild(), await checksums(s.db.pool, s.config.postgres.schema), 'equal to a fresh rebuild');
});
