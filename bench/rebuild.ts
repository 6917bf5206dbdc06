/**
 * How fast the read models rebuild from the log.
 *
 *   npx tsx bench/rebuild.ts --events 100000 [--conversations 1000] [--batch 5000] [--embedded]
 *
 * Appends to a private prefix (its own streams): one ConversationCreated per conversation (2–5
 * members), then `--events` MessageSent events spread over them, published straight to the events
 * stream with the pipelined publisher; rebuilds the read models from the whole log into a private
 * schema; prints events/s; deletes the streams and the schema. Postgres is DATABASE_URL (default
 * postgres://postgres@127.0.0.1:5432/postgres); `--embedded` measures PGlite in a temp directory.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, type Config } from '../lib/config.js';
import { encodeJson } from '../lib/json.js';
import { JetStreamPublisher } from '../lib/js-publisher.js';
import { createLogger } from '../lib/log.js';
import { makeNames } from '../lib/names.js';
import { connectNats, deleteStreams, ensureStreams, jetstreamManager } from '../lib/nats.js';
import { ident, openDatabase } from '../lib/pg.js';
import { rebuildReadModels } from '../projections/postgres/rebuild.js';
import type { ConversationCreated, MessageSent } from '../schemas/index.js';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '100000' },
    conversations: { type: 'string', default: '1000' },
    batch: { type: 'string', default: '5000' },
    embedded: { type: 'boolean', default: false },
  },
  strict: true,
});
const events = Number(args.events);
const conversationCount = Number(args.conversations);
const batchSize = Number(args.batch);
if (!(events > 0 && conversationCount > 0 && batchSize > 0)) throw new Error('--events, --conversations and --batch must be positive');

const log = createLogger({ level: process.env.PARLEY_LOG_LEVEL ?? 'warn' });
const tag = randomBytes(4).toString('hex');
const base = loadConfig(process.env);
const dataDir = args.embedded ? await mkdtemp(join(tmpdir(), 'parley-bench-')) : base.dataDir;
const config: Config = {
  ...base,
  prefix: `bench${tag}`,
  dataDir,
  postgres: {
    ...base.postgres,
    url: args.embedded ? undefined : (base.postgres.url ?? 'postgres://postgres@127.0.0.1:5432/postgres'),
    schema: `bench_${tag}`,
  },
};
const names = makeNames(config.prefix);
const nc = await connectNats(config, 'parley-bench-rebuild', log);
const jsm = await jetstreamManager(nc);
await ensureStreams(jsm, names, config);
const db = await openDatabase(config, log);
const out = (line: string) => process.stdout.write(`${line}\n`);

try {
  // --- the log
  const publisher = new JetStreamPublisher(nc, { timeoutMs: 60_000 });
  const at = Date.UTC(2024, 0, 1);
  const members: string[][] = [];
  const lastSeq: number[] = [];
  const inFlight = new Set<Promise<unknown>>();
  const publish = async (subject: string, body: unknown) => {
    if (inFlight.size >= 10_000) await Promise.race(inFlight);
    const p = publisher.publish(subject, encodeJson(body));
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };
  const appendStarted = performance.now();
  for (let c = 0; c < conversationCount; c++) {
    const size = 2 + (c % 4);
    const users = Array.from({ length: size }, (_, i) => `u${(c * 7 + i * 13) % 5000}`);
    members.push([...new Set(users)]);
    lastSeq.push(0);
    const event: ConversationCreated = {
      type: 'ConversationCreated',
      v: 1,
      id: `e_c${c}`,
      conversationId: `c${c}`,
      actor: { id: members[c]![0]! },
      at: new Date(at + c).toISOString(),
      commandId: `create-${c}`,
      data: { kind: 'group', title: `Bench ${c}`, members: members[c]!.map((userId, i) => ({ userId, role: i === 0 ? 'owner' : 'member' })) },
    };
    await publish(names.subjects.conversationEvents(`c${c}`), event);
  }
  for (let n = 0; n < events; n++) {
    const c = (n * 7919) % conversationCount;
    const seq = ++lastSeq[c]!;
    const sender = members[c]![n % members[c]!.length]!;
    const event: MessageSent = {
      type: 'MessageSent',
      v: 1,
      id: `e_m${n}`,
      conversationId: `c${c}`,
      actor: { id: sender, name: `User ${sender}` },
      at: new Date(at + conversationCount + n).toISOString(),
      commandId: `${sender}:t${n}`,
      data: {
        messageId: `m${n}`,
        seq,
        sender: { id: sender, name: `User ${sender}` },
        type: 'text',
        content: `message ${n} in conversation ${c}: the quick brown fox jumps over the lazy dog`,
        tempId: `t${n}`,
      },
    };
    await publish(names.subjects.conversationEvents(`c${c}`), event);
  }
  await Promise.all(inFlight);
  await publisher.close();
  const appendSeconds = (performance.now() - appendStarted) / 1000;
  const total = conversationCount + events;
  out(`appended ${total} events (${conversationCount} ConversationCreated + ${events} MessageSent) in ${appendSeconds.toFixed(1)} s`);

  // --- the rebuild
  let lastReport = 0;
  const result = await rebuildReadModels({
    nc,
    config,
    names,
    log,
    db,
    batchSize,
    onProgress: (done, all, eps) => {
      if (performance.now() - lastReport < 1_000) return;
      lastReport = performance.now();
      out(`  ${done}/${all}  ${Math.round(eps)} events/s`);
    },
  });
  const s = ident(config.postgres.schema);
  const rows = (await db.pool.query(`SELECT (SELECT count(*) FROM ${s}.messages)::int AS messages, (SELECT count(*) FROM ${s}.conversations)::int AS conversations`))
    .rows[0] as { messages: number; conversations: number };
  if (rows.messages !== events || rows.conversations !== conversationCount) {
    throw new Error(`rebuilt ${rows.messages} messages and ${rows.conversations} conversations, expected ${events} and ${conversationCount}`);
  }
  out(
    `rebuild: ${result.events} events in ${result.seconds.toFixed(2)} s = ${Math.round(result.eventsPerSec)} events/s ` +
      `(batches of ${batchSize}, ${db.embedded ? 'embedded PGlite' : db.describe})`,
  );
} finally {
  await db.pool.query(`DROP SCHEMA IF EXISTS ${ident(config.postgres.schema)} CASCADE`).catch(() => undefined);
  await db.close();
  await deleteStreams(jsm, names);
  await nc.close();
  if (args.embedded) await rm(dataDir, { recursive: true, force: true });
}
