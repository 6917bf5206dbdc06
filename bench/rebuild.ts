/**
 * `npm run bench -- rebuild`: how fast the read models rebuild from the log. Appends a synthetic log
 * to a private prefix once, rebuilds it --repeat times (each into a fresh schema, through the same
 * function as `parley projections rebuild`), reports each run and the median, and writes the run
 * files to bench/results.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../lib/config.js';
import { encodeJson } from '../lib/json.js';
import { JetStreamPublisher } from '../lib/js-publisher.js';
import { createLogger } from '../lib/log.js';
import { makeNames, type Names } from '../lib/names.js';
import { connectNats, deleteStreams, ensureStreams, jetstreamManager, type NatsConnection } from '../lib/nats.js';
import { ident, openDatabase, type Database } from '../lib/pg.js';
import { rebuildReadModels } from '../projections/postgres/rebuild.js';
import type { ConversationCreated, MessageSent } from '../schemas/index.js';
import { FlagError, flagsHelp, getters, parseFlags, type FlagSpec } from './lib/flags.js';
import { isMain } from './scenario-lib/common.js';
import { cpuTicks, loadAverage } from './lib/procstats.js';
import { fmtRate, gitInfo, machineInfo, mdTable, median, rel, RESULTS_DIR, runId, writeRun } from './lib/results.js';
import { chooseDatabase, describeDatabase, LOCAL_DATABASE_URL, redactUrl, type BenchDatabase } from './lib/database.js';

export const flags: FlagSpec[] = [
  { name: 'events', kind: 'int', default: 100_000, min: 1, help: 'MessageSent events in the log (after one ConversationCreated per conversation).' },
  { name: 'conversations', kind: 'int', default: 1_000, min: 1, help: 'Conversations (2–5 members each); the messages are spread over them.' },
  { name: 'batch', kind: 'int', min: 1, help: 'Events per rebuild transaction (default: the rebuild\'s own, as `parley projections rebuild` uses).' },
  { name: 'repeat', kind: 'int', default: 1, min: 1, max: 20, help: 'Rebuild the same log this many times (each into a fresh schema) and report the median.' },
  {
    name: 'database-url',
    kind: 'string',
    value: '<url>',
    help:
      'Postgres for the read models (a schema per run, dropped at the end), or `embedded` for PGlite in a temporary directory. ' +
      `Default: $DATABASE_URL, else ${LOCAL_DATABASE_URL}, when it answers; PGlite otherwise (the run says so).`,
  },
  { name: 'nats', kind: 'string', value: '<url>', help: 'NATS (default $PARLEY_NATS_URL or nats://127.0.0.1:4222). Only the run\'s own prefix is created and deleted.' },
  { name: 'label', kind: 'string', help: 'A label for the run, part of the file names.' },
  { name: 'out', kind: 'string', value: '<dir>', help: 'Where run files go (default bench/results).' },
  { name: 'help', kind: 'bool', help: 'This help.' },
];

export const help = `bench rebuild: how fast the Postgres read models rebuild from the event log.

Usage: npm run bench -- rebuild [flags]

Appends a synthetic log to a private prefix (its own streams): one ConversationCreated per
conversation, then --events MessageSent spread over them, published straight to the events stream.
Then rebuilds the read models from the whole log --repeat times, each into a schema of its own,
with rebuildReadModels (the function behind \`parley projections rebuild\`: fresh schema, bulk
load, swap), and checks the row counts. Reported per run: events/s, seconds, the CPU seconds of
this process (reading, decoding and planning) and of its Postgres connections (the writes), and the
load average; then the median of the runs. The streams and schemas are deleted at the end.

Output: bench/results/<run>.json and <run>.md. Exit code 0 on success, 1 when a rebuild failed or
its row counts are wrong, 2 on a usage error.

Flags:
${flagsHelp(flags)}

Examples:
  npm run bench -- rebuild --events 100000
  npm run bench -- rebuild --events 100000 --repeat 5
  npm run bench -- rebuild --events 20000 --database-url embedded
  node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/main.ts rebuild   # where the time goes
`;

type Options = {
  events: number;
  conversations: number;
  batch?: number;
  repeat: number;
  databaseUrl?: string;
  natsUrl: string;
  label?: string;
  outDir: string;
};

export type RebuildRun = {
  events: number;
  seconds: number;
  eventsPerSec: number;
  /** CPU seconds of this process during the rebuild: reading the log, decoding, planning, COPY text. */
  benchCpuSeconds: number;
  /** CPU seconds of the Postgres backends serving this process during the rebuild (Linux /proc; 0 elsewhere or on PGlite). */
  postgresCpuSeconds: number;
  load1: number;
};

const out = (line = '') => process.stdout.write(`${line}\n`);
const err = (line = '') => process.stderr.write(`${line}\n`);

function options(argv: string[]): Options | 'help' {
  const { values, positionals } = parseFlags(flags, argv);
  if (values.help) return 'help';
  if (positionals.length) throw new FlagError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const g = getters(values);
  return {
    events: g.int('events'),
    conversations: g.int('conversations'),
    ...(g.optNum('batch') !== undefined ? { batch: g.int('batch') } : {}),
    repeat: g.int('repeat'),
    ...(g.optStr('database-url') ? { databaseUrl: g.str('database-url') } : {}),
    natsUrl: g.optStr('nats') ?? process.env.PARLEY_NATS_URL ?? 'nats://127.0.0.1:4222',
    ...(g.optStr('label') ? { label: g.str('label') } : {}),
    outDir: g.optStr('out') ?? RESULTS_DIR,
  };
}

export async function run(argv: string[]): Promise<number> {
  let o: Options | 'help';
  try {
    o = options(argv);
  } catch (e) {
    if (e instanceof FlagError) {
      err(`bench rebuild: ${e.message}\n\nRun \`npm run bench -- rebuild --help\` for the flags.`);
      return 2;
    }
    throw e;
  }
  if (o === 'help') {
    out(help);
    return 0;
  }

  const id = runId('rebuild', o.label);
  const startedAt = new Date().toISOString();
  const env = machineInfo();
  const git = gitInfo();
  const database = await chooseDatabase(o.databaseUrl);
  const tag = randomBytes(4).toString('hex');
  const log = createLogger({ level: process.env.PARLEY_LOG_LEVEL ?? 'warn' });
  const base = loadConfig({ ...process.env, PARLEY_NATS_URL: o.natsUrl });
  const dataDir = database.kind === 'embedded' ? await mkdtemp(join(tmpdir(), 'parley-bench-rebuild-')) : base.dataDir;
  const config: Config = {
    ...base,
    prefix: `bench${tag}`,
    dataDir,
    postgres: { ...base.postgres, url: database.kind === 'postgres' ? database.url : undefined, schema: `bench_${tag}` },
  };
  const names = makeNames(config.prefix);
  out(`machine: ${env.cpus} CPUs, load average ${env.loadAverage.map((v) => v.toFixed(2)).join(' ')}, node ${env.node}`);
  out(`read models: ${describeDatabase(database)}; NATS ${o.natsUrl}, prefix ${config.prefix}`);

  const nc = await connectNats(config, 'parley-bench-rebuild', log);
  const jsm = await jetstreamManager(nc);
  await ensureStreams(jsm, names, config);
  let db: Database | undefined;
  const schemas: string[] = [];
  const runs: RebuildRun[] = [];
  let failure: string | undefined;
  try {
    const appended = await appendLog(nc, names, o.events, o.conversations);
    out(`appended ${appended.events} events (${o.conversations} ConversationCreated + ${o.events} MessageSent) in ${appended.seconds.toFixed(1)} s`);
    db = await openDatabase(config, log);
    for (let r = 0; r < o.repeat; r++) {
      const schema = `bench_${tag}_${r}`;
      schemas.push(schema);
      const result = await rebuildOnce({ nc, config, names, log, db, schema, ...(o.batch ? { batch: o.batch } : {}) });
      const rows = await countRows(db, schema);
      if (rows.messages !== o.events || rows.conversations !== o.conversations) {
        failure = `run ${r + 1} rebuilt ${rows.messages} messages and ${rows.conversations} conversations, expected ${o.events} and ${o.conversations}`;
        break;
      }
      runs.push(result);
      out(
        `run ${r + 1}/${o.repeat}: ${result.events} events in ${result.seconds.toFixed(2)} s = ${fmtRate(result.eventsPerSec)} events/s ` +
          `(CPU: bench ${result.benchCpuSeconds.toFixed(2)} s, postgres ${result.postgresCpuSeconds.toFixed(2)} s; load ${result.load1.toFixed(2)})`,
      );
      await db.pool.query(`DROP SCHEMA IF EXISTS ${ident(schema)} CASCADE`);
    }
  } catch (e) {
    failure = (e as Error).stack ?? String(e);
  } finally {
    for (const s of schemas.flatMap((x) => [x, `${x}_rebuild`, `${x}_old`])) await db?.pool.query(`DROP SCHEMA IF EXISTS ${ident(s)} CASCADE`).catch(() => undefined);
    await db?.close();
    await deleteStreams(jsm, names).catch((e: Error) => err(`could not delete the streams of prefix ${config.prefix}: ${e.message}`));
    await nc.close();
    if (database.kind === 'embedded') await rm(dataDir, { recursive: true, force: true });
  }
  if (failure) err(`bench rebuild: ${failure}`);
  if (runs.length === 0) return 1;

  const medians = {
    eventsPerSec: median(runs.map((r) => r.eventsPerSec)),
    seconds: median(runs.map((r) => r.seconds)),
    benchCpuSeconds: median(runs.map((r) => r.benchCpuSeconds)),
    postgresCpuSeconds: median(runs.map((r) => r.postgresCpuSeconds)),
    load1: median(runs.map((r) => r.load1)),
  };
  const result = {
    schema: 'parley-bench/rebuild@1',
    runId: id,
    scenario: 'rebuild',
    command: `npm run bench -- rebuild ${argv.join(' ')}`.trim(),
    startedAt,
    finishedAt: new Date().toISOString(),
    options: { ...o, ...(o.databaseUrl ? { databaseUrl: redactUrl(o.databaseUrl) } : {}) },
    environment: { ...env, git, loadAverageEnd: loadAverage(), database: describeDatabase(database), prefix: config.prefix },
    results: { runs, median: medians },
    verdict: { ok: failure === undefined, problems: failure ? [failure.split('\n')[0]!] : [] },
  };
  const md = markdown(result.command, id, startedAt, database, o, runs, medians, failure);
  const files = writeRun(o.outDir, id, { json: result, md });
  out('');
  out(md);
  out(`Files: ${rel(files.json)}, ${rel(files.md!)}`);
  return failure ? 1 : 0;
}

/** One rebuild into `schema`, with the CPU this process and its Postgres connections spent on it. */
async function rebuildOnce(x: { nc: NatsConnection; config: Config; names: Names; log: ReturnType<typeof createLogger>; db: Database; schema: string; batch?: number }): Promise<RebuildRun> {
  const backends = new BackendCpu(x.db);
  await backends.start();
  const cpu = process.cpuUsage();
  let lastReport = performance.now();
  const r = await rebuildReadModels({
    nc: x.nc,
    config: x.config,
    names: x.names,
    log: x.log,
    db: x.db,
    schema: x.schema,
    ...(x.batch ? { batchSize: x.batch } : {}),
    onProgress: (done, all, eps) => {
      if (performance.now() - lastReport < 1_000) return;
      lastReport = performance.now();
      out(`  ${done}/${all}  ${fmtRate(eps)} events/s`);
    },
  });
  const used = process.cpuUsage(cpu);
  const postgresCpuSeconds = await backends.stop();
  return {
    events: r.events,
    seconds: r.seconds,
    eventsPerSec: r.eventsPerSec,
    benchCpuSeconds: (used.user + used.system) / 1e6,
    postgresCpuSeconds,
    load1: loadAverage()[0],
  };
}

/**
 * CPU time of the Postgres backends of this process's pool (found by application_name, read from
 * /proc): sampled now and then, since the pool opens and closes connections as it likes.
 */
class BackendCpu {
  readonly #db: Database;
  readonly #first = new Map<number, number>();
  readonly #last = new Map<number, number>();
  #timer?: NodeJS.Timeout;
  constructor(db: Database) {
    this.#db = db;
  }
  async #sample(): Promise<void> {
    if (this.#db.embedded) return;
    const r = await this.#db.pool.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [`parley-${process.pid}`]);
    for (const { pid } of r.rows) {
      const ticks = cpuTicks(pid);
      if (ticks === undefined) continue;
      if (!this.#first.has(pid)) this.#first.set(pid, ticks);
      this.#last.set(pid, ticks);
    }
  }
  async start(): Promise<void> {
    await this.#sample().catch(() => undefined);
    this.#timer = setInterval(() => void this.#sample().catch(() => undefined), 250);
  }
  async stop(): Promise<number> {
    clearInterval(this.#timer);
    await this.#sample().catch(() => undefined);
    let ticks = 0;
    for (const [pid, last] of this.#last) ticks += last - (this.#first.get(pid) ?? last);
    return ticks / 100; // clock ticks, 100 per second
  }
}

async function countRows(db: Database, schema: string): Promise<{ messages: number; conversations: number }> {
  const s = ident(schema);
  const r = await db.pool.query(`SELECT (SELECT count(*) FROM ${s}.messages)::int AS messages, (SELECT count(*) FROM ${s}.conversations)::int AS conversations`);
  return r.rows[0] as { messages: number; conversations: number };
}

/** The synthetic log: conversations of 2–5 members, then messages spread over them by a stride. */
async function appendLog(nc: NatsConnection, names: Names, events: number, conversationCount: number): Promise<{ events: number; seconds: number }> {
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
  const started = performance.now();
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
  return { events: conversationCount + events, seconds: (performance.now() - started) / 1000 };
}

function markdown(
  command: string,
  id: string,
  startedAt: string,
  database: BenchDatabase,
  o: Options,
  runs: RebuildRun[],
  m: { eventsPerSec: number; seconds: number; benchCpuSeconds: number; postgresCpuSeconds: number; load1: number },
  failure: string | undefined,
): string {
  const rows = runs.map((r, i) => [
    `run ${i + 1}`,
    fmtRate(r.eventsPerSec),
    r.seconds.toFixed(2),
    r.benchCpuSeconds.toFixed(2),
    r.postgresCpuSeconds.toFixed(2),
    r.load1.toFixed(2),
  ]);
  if (runs.length > 1) rows.push(['**median**', fmtRate(m.eventsPerSec), m.seconds.toFixed(2), m.benchCpuSeconds.toFixed(2), m.postgresCpuSeconds.toFixed(2), m.load1.toFixed(2)]);
  return [
    `# Rebuild: ${fmtRate(o.conversations + o.events)} events (${fmtRate(o.conversations)} conversations, ${fmtRate(o.events)} messages)`,
    '',
    `Run \`${id}\` · ${startedAt} · ${command}`,
    '',
    `Read models: ${describeDatabase(database)}; batch ${o.batch ?? 'default'}.${failure ? `\n\n**FAILED**: ${failure.split('\n')[0]}` : ''}`,
    '',
    mdTable(['', 'events/s', 'seconds', 'CPU s (bench)', 'CPU s (postgres)', 'load average (1 min)'], rows),
    '',
    `Median of ${runs.length}: **${fmtRate(m.eventsPerSec)} events/s**. CPU s (bench): this process (reading the log, decoding, planning, COPY text); CPU s (postgres): its Postgres connections. On a shared machine the CPU seconds vary less than the wall time.`,
    '',
  ].join('\n');
}

// `npx tsx bench/rebuild.ts …` still works, the same as `npm run bench -- rebuild …`.
if (isMain(import.meta.url)) {
  run(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
