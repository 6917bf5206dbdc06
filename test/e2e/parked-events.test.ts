/**
 * Issue 12, item 3 in its general form: an event that passes its schema but that Postgres refuses
 * to store does not freeze the read models. It is parked (the events after it are projected, REST
 * reads move on), shown by `parley projections status`, applied by `parley projections
 * retry-parked` once the cause is gone, and parked again by a rebuild while it still fails. An
 * outage (Postgres unreachable, connections killed) parks nothing.
 */
import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { Config } from '../../lib/config.js';
import { encodeJson } from '../../lib/json.js';
import { ident, type Database } from '../../lib/pg.js';
import { listParked } from '../../projections/postgres/park.js';
import { readCheckpoint } from '../../projections/postgres/checkpoint.js';
import { startPostgresProjector } from '../../projections/postgres/projector.js';
import { startSystem, testLog, type TestSystem } from '../helpers/system.js';
import { appendEvents, checksums, eventually, generateEvents, pgTestbed, TEST_DATABASE_URL } from '../helpers/pg.js';

const bin = fileURLToPath(new URL('../../bin/parley.mjs', import.meta.url));
const cwd = fileURLToPath(new URL('../..', import.meta.url));

type Ran = { code: number | null; stdout: string; stderr: string };

/** `parley …` as its own process, on the test's prefix and schema. */
function parley(config: Config, args: string[], timeoutMs = 60_000): Promise<Ran> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('PARLEY_') || name === 'DATABASE_URL') delete env[name];
  Object.assign(env, {
    PARLEY_NATS_URL: config.natsUrl.join(','),
    PARLEY_PREFIX: config.prefix,
    DATABASE_URL: config.postgres.url,
    PARLEY_PG_SCHEMA: config.postgres.schema,
    PARLEY_LOG_LEVEL: 'warn',
  });
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd, env, timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
  });
}

const httpBase = (sys: TestSystem) => sys.url.replace('ws://', 'http://').replace('/ws', '');

/** Beyond a Postgres integer (read_seq is one); the event schema sets no maximum. */
const HUGE_SEQ = 3_000_000_000;
const REFUSED_TEXT = 'refused by a CHECK';

t.test('a poisoned event is parked: later events are projected, status lists it, retry-parked applies it once the cause is gone', async (t) => {
  const sys = await startSystem(t);
  const running = sys.running[0]!;
  const schema = ident(sys.config.postgres.schema);
  const pool = running.db!.pool;
  const base = httpBase(sys);
  const bobToken = await sys.token('bob');
  const history = async (): Promise<{ id: string; content?: string }[]> => {
    const res = await fetch(`${base}/v1/conversations/${conversationId}/messages`, { headers: { authorization: `Bearer ${bobToken}` } });
    return (await res.json()).messages ?? [];
  };

  const alice = await sys.connect('alice');
  alice.send({ type: 'message.send', payload: { toUserId: 'bob', tempId: 'p-1', content: 'before' } });
  const conversationId = (await alice.next('message.sent')).payload.message.conversationId as string;

  // Poison 1, natural: a read receipt past Postgres' integer range, as a version without the
  // engine's clamp could have written it (it passes the event schema).
  const receipt = await jetstream(running.nc).publish(
    running.names.subjects.conversationEvents(conversationId),
    encodeJson({
      type: 'MessageRead',
      v: 1,
      id: 'e_huge_read',
      conversationId,
      commandId: 'old-version-read',
      actor: { id: 'bob' },
      at: new Date().toISOString(),
      data: { userId: 'bob', upToSeq: HUGE_SEQ },
    }),
  );
  // Poison 2, a real refusal by a constraint of this test's schema: one text the messages table
  // will not take. Sent the ordinary way, through the edge and the engine.
  await pool.query(`ALTER TABLE ${schema}.messages ADD CONSTRAINT test_refuses_one_text CHECK (content IS DISTINCT FROM '${REFUSED_TEXT}')`);
  alice.send({ type: 'message.send', payload: { conversationId, tempId: 'p-2', content: REFUSED_TEXT } });
  await alice.next('message.sent', (f) => f.payload.message.tempId === 'p-2');
  alice.send({ type: 'message.send', payload: { conversationId, tempId: 'p-3', content: 'after' } });
  await alice.next('message.sent', (f) => f.payload.message.tempId === 'p-3');

  await eventually('the message after the poisons in REST history', async () => (await history()).some((m) => m.content === 'after'), 30_000);
  t.strictSame((await history()).map((m) => m.content).sort(), ['after', 'before'], 'the events after the poisons are projected; the refused message is missing');

  const parked = await listParked(pool, sys.config.postgres.schema);
  t.match(parked, [
    { seq: receipt.seq, eventType: 'MessageRead', errorCode: '22003', error: /out of range for type integer/, subject: running.names.subjects.conversationEvents(conversationId), retries: 0 },
    { eventType: 'MessageSent', errorCode: '23514', error: /test_refuses_one_text/, subject: running.names.subjects.conversationEvents(conversationId) },
  ]);
  t.equal(parked.length, 2, 'nothing else parked');
  const sentSeq = parked[1]!.seq;
  t.ok(sentSeq > receipt.seq);
  t.equal(running.postgres!.active!.stats().parked, 2, 'stats().parked');
  const lastSeq = (await (await jetstreamManager(running.nc)).streams.info(running.names.streams.events)).state.last_seq;
  t.equal((await readCheckpoint(pool, sys.config.postgres.schema))?.logSeq, lastSeq, 'the checkpoint is past them');
  const health = await fetch(`${base}/health`);
  t.equal(health.status, 200, '/health stays ok: the read models move on');
  t.match((await health.json()).components, [{ name: 'postgres-projector', ok: true, parked: 2 }]);

  const status = await parley(sys.config, ['projections', 'status', '--json']);
  t.equal(status.code, 0, 'status --json', { stderr: status.stderr });
  const postgres = JSON.parse(status.stdout).projectors.find((p: { name: string }) => p.name === 'postgres');
  t.match(postgres, { checkpoint: lastSeq, lag: 0 });
  t.strictSame(
    postgres.parked.map((p: { seq: number; eventType: string; errorCode: string }) => [p.seq, p.eventType, p.errorCode]),
    [
      [receipt.seq, 'MessageRead', '22003'],
      [sentSeq, 'MessageSent', '23514'],
    ],
    'status --json lists the parked events',
  );
  const text = await parley(sys.config, ['projections', 'status']);
  t.match(text.stdout, /2 parked/);
  t.match(text.stdout, new RegExp(`seq ${receipt.seq}  MessageRead  .*22003`));

  // The cause of one is removed: retried alone, it applies and leaves the list.
  await pool.query(`ALTER TABLE ${schema}.messages DROP CONSTRAINT test_refuses_one_text`);
  const one = await parley(sys.config, ['projections', 'retry-parked', '--seq', String(sentSeq), '--json']);
  t.equal(one.code, 0, 'retry-parked --seq', { stderr: one.stderr });
  t.strictSame(JSON.parse(one.stdout), [{ seq: sentSeq, eventType: 'MessageSent', outcome: 'applied' }]);
  t.ok((await history()).some((m) => m.content === REFUSED_TEXT), 'the retried message is in REST history now');
  t.strictSame((await listParked(pool, sys.config.postgres.schema)).map((p) => p.seq), [receipt.seq], 'and no longer parked');

  // The other still fails: it stays, with the new error.
  const all = await parley(sys.config, ['projections', 'retry-parked']);
  t.equal(all.code, 1, 'exit 1: one still fails', { stderr: all.stderr });
  t.match(all.stdout, new RegExp(`seq ${receipt.seq} MessageRead: failed: 22003`));
  t.match(all.stdout, /0 applied, 1 still parked, 0 dropped/);
  t.match(await listParked(pool, sys.config.postgres.schema), [{ seq: receipt.seq, retries: 1, retriedAt: /^\d{4}-/ }]);
  const none = await parley(sys.config, ['projections', 'retry-parked', '--seq', String(sentSeq)]);
  t.equal(none.code, 1, 'retry-parked of a seq that is not parked: exit 1');
  t.match(none.stdout, /no parked event at log seq/);

  // A rebuild replays everything: the message applies now, the receipt is parked again (in the
  // rebuilt schema), and the live projector goes on after the swap.
  const rebuild = await parley(sys.config, ['projections', 'rebuild']);
  t.equal(rebuild.code, 0, 'rebuild', { stderr: rebuild.stderr });
  t.match(rebuild.stdout, /1 events refused by Postgres are parked/);
  t.match(await listParked(pool, sys.config.postgres.schema), [{ seq: receipt.seq, errorCode: '22003', retries: 0 }]);
  t.equal((await listParked(pool, sys.config.postgres.schema)).length, 1);
  t.strictSame((await history()).map((m) => m.content).sort(), ['after', 'before', REFUSED_TEXT], 'the rebuilt history holds the message');
  alice.send({ type: 'message.send', payload: { conversationId, tempId: 'p-4', content: 'after the rebuild' } });
  await eventually('a message after the rebuild in REST history', async () => (await history()).some((m) => m.content === 'after the rebuild'), 30_000);
});

/**
 * A TCP relay to the test Postgres that can be cut and put back: while cut, connections in use are
 * reset and new ones refused, as when Postgres goes down and comes back.
 */
async function cuttableRelay(t: Test) {
  const target = new URL(TEST_DATABASE_URL);
  const sockets = new Set<net.Socket>();
  const serve = () =>
    net.createServer((client) => {
      const upstream = net.connect(Number(target.port || 5432), target.hostname);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => sockets.delete(s));
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  let server = serve();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const cut = async () => {
    const closed = new Promise((r) => server.close(r));
    for (const s of sockets) s.destroy();
    await closed;
  };
  const restore = async () => {
    server = serve();
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  };
  t.teardown(cut);
  return { port, cut, restore, url: `postgres://${target.username || 'postgres'}@127.0.0.1:${port}${target.pathname}` };
}

t.test('an outage parks nothing: Postgres unreachable for seconds, then connections killed mid-batch', async (t) => {
  const s = await pgTestbed(t);
  const relay = await cuttableRelay(t);
  const pool = new pg.Pool({ connectionString: relay.url, application_name: `parley-outage-${process.pid}`, connectionTimeoutMillis: 1_000 });
  pool.on('error', () => undefined);
  const db: Database = { pool, schema: s.config.postgres.schema, embedded: false, describe: relay.url, close: () => pool.end() };
  t.teardown(() => pool.end().catch(() => undefined));
  const cfg = { ...s.config, postgres: { ...s.config.postgres, batchSize: 300, batchMs: 20 } };
  const total = 6_000;
  await appendEvents(s.nc, s.names, generateEvents({ count: total, conversations: 40, users: 60, seed: 57 }));
  const projector = await startPostgresProjector({ nc: s.nc, config: cfg, names: s.names, log: testLog, db });
  t.teardown(() => projector.stop());
  const checkpoint = async () => (await readCheckpoint(s.db.pool, cfg.postgres.schema))?.logSeq ?? 0;

  await eventually('some progress', async () => (await checkpoint()) > 0, 30_000);
  await relay.cut();
  const failedBefore = projector.stats().failed;
  // Long enough for several failed batches and back-offs (250 ms, 500 ms, 1 s, …).
  await new Promise((r) => setTimeout(r, 4_000));
  const during = projector.stats();
  t.ok(during.failed - failedBefore >= 3, `batches failed again and again while Postgres was unreachable (${during.failed - failedBefore})`);
  t.not(during.failingSince, null, 'and the projector says it is failing');
  await relay.restore();

  for (let kill = 0; kill < 3; kill++) {
    const before = await checkpoint();
    await eventually('progress', async () => (await checkpoint()) > before || before === total, 30_000);
    await s.db.pool.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND state <> 'idle'", [`parley-outage-${process.pid}`]);
  }
  await s.caughtUp();
  t.equal(projector.stats().parked, 0, 'stats().parked is 0');
  t.strictSame(await listParked(s.db.pool, cfg.postgres.schema), [], 'parked_events is empty');
  const live = await checksums(s.db.pool, cfg.postgres.schema);
  t.equal(live.checkpoint, String(total));
  t.strictSame(await s.freshRebuild(), live, 'equal to a fresh rebuild: nothing missing, nothing applied twice');
});
