/**
 * kill -9 the postgres projector's process in the middle of a batch, twice, restarting it each
 * time: the read models equal a fresh rebuild from the log (nothing applied twice, nothing missed),
 * although JetStream hands the restarted process newer events before the abandoned ones.
 */
import t from 'tap';
import { readCheckpoint } from '../../projections/postgres/checkpoint.js';
import { startPostgresProjector } from '../../projections/postgres/projector.js';
import { startRoleProcess, type RoleProcess } from '../helpers/processes.js';
import { testLog } from '../helpers/system.js';
import { appendEvents, checksums, eventually, generateEvents, pgTestbed } from '../helpers/pg.js';

t.test('kill -9 the projector process mid-batch: after restarts the read models equal a rebuild', async (t) => {
  const s = await pgTestbed(t);
  const total = 15_000;
  const env = { PARLEY_PG_BATCH: '2000', PARLEY_PG_BATCH_MS: '200' };
  await appendEvents(s.nc, s.names, generateEvents({ count: total, conversations: 100, users: 150, seed: 31, maxMembers: 4 }));
  const schema = s.config.postgres.schema;
  const checkpoint = async () => (await readCheckpoint(s.db.pool, schema))?.logSeq ?? 0;

  /** Wait until the process has committed past `after` and holds a batch transaction open, then kill -9. */
  const killMidBatch = async (proc: RoleProcess, after: number) => {
    await eventually(`a commit past ${after}`, async () => (await checkpoint()) > after, 60_000);
    let open = false;
    await eventually(
      'an open batch transaction',
      async () => {
        // Its connection's application_name carries its pid.
        const r = await s.db.pool.query(
          "SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND xact_start IS NOT NULL AND state <> 'idle'",
          [`parley-${proc.child.pid}`],
        );
        open = (r.rowCount ?? 0) > 0;
        return open;
      },
      30_000,
    ).catch(() => undefined);
    await proc.kill('SIGKILL');
    const at = await checkpoint();
    t.ok(open, `killed while a batch transaction was open (checkpoint ${at} of ${total})`);
    t.ok(at < total, 'killed before the end');
    return at;
  };

  const first = await killMidBatch(await startRoleProcess(t, 'projector', s.config, env), 0);
  await killMidBatch(await startRoleProcess(t, 'projector', s.config, env), first);
  const last = await startRoleProcess(t, 'projector', s.config, env);
  await s.caughtUp();
  const live = await checksums(s.db.pool, schema);
  t.equal(live.checkpoint, String(total));
  t.strictSame(await s.freshRebuild(), live, 'equal to a fresh rebuild: nothing applied twice, nothing missed');
  await last.kill('SIGTERM');
});

t.test('Postgres kills the projector’s connections mid-batch: batches roll back, come again, apply once', async (t) => {
  const s = await pgTestbed(t);
  const total = 6_000;
  const cfg = { ...s.config, postgres: { ...s.config.postgres, batchSize: 500, batchMs: 20 } };
  await appendEvents(s.nc, s.names, generateEvents({ count: total, conversations: 40, users: 60, seed: 91 }));
  const projector = await startPostgresProjector({ nc: s.nc, config: cfg, names: s.names, log: testLog, db: s.db });
  t.teardown(() => projector.stop());
  const checkpoint = async () => (await readCheckpoint(s.db.pool, cfg.postgres.schema))?.logSeq ?? 0;
  for (let kill = 0; kill < 3; kill++) {
    const before = await checkpoint();
    await eventually('progress', async () => (await checkpoint()) > before || before === total, 30_000);
    // This process's connections (the projector's among them), not the one asking.
    await s.db.pool.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid() AND state <> 'idle'",
      [`parley-${process.pid}`],
    );
  }
  await s.caughtUp();
  t.ok(projector.stats().failed >= 1, `batches failed and were consumed again (${projector.stats().failed})`);
  const live = await checksums(s.db.pool, cfg.postgres.schema);
  t.equal(live.checkpoint, String(total));
  t.strictSame(await s.freshRebuild(), live, 'equal to a fresh rebuild');
});
