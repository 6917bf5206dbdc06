/**
 * `npm run bench -- load`: the open-loop load generator. Starts the system under test (or targets
 * --url), spreads N connections over generator processes and source addresses, sends at a fixed
 * rate by the clock, and measures send → message.sent and send → message.new latency from each
 * message's scheduled time, throughput, loss, duplicates, and the CPU and memory of every process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmtNum, palette, renderChart, type Line } from './lib/chart.js';
import { BacklogSampler, type BacklogSample } from './lib/backlog.js';
import { summarizeDir, type ProfileSummary } from './lib/cpuprofile.js';
import { FlagError, flagsHelp, getters, parseFlags, type FlagSpec } from './lib/flags.js';
import { Histogram, type Summary } from './lib/histogram.js';
import { planLoad } from './lib/load-plan.js';
import type { FromWorker, SecondStats, ToWorker, WorkerInit, WorkerResult } from './lib/load-protocol.js';
import { allTicks, findByComm, findListener, findParleyRoles, loadAverage, ProcSampler, topOthers, type ProcSummary, type Tracked } from './lib/procstats.js';
import { fmtBytes, fmtMs, fmtRate, gitInfo, machineInfo, mdTable, median, rel, RESULTS_DIR, runId, writeRun } from './lib/results.js';
import { DATABASE_HELP, probeGateway, startSystem, type GatewayHealth, type StartedSystem } from './lib/system.js';
import { DEV_JWT_SECRET } from '../lib/config.js';

const WORKER = fileURLToPath(new URL('./lib/load-worker.ts', import.meta.url));
const FAKE_GATEWAY = fileURLToPath(new URL('./lib/fake-gateway.ts', import.meta.url));

export const flags: FlagSpec[] = [
  { name: 'connections', kind: 'int', default: 200, min: 2, help: 'WebSocket connections, one user each.' },
  { name: 'members', kind: 'int', default: 2, min: 2, max: 1000, help: 'Members per conversation: 2 = direct (1:1) conversations, more = groups of that size.' },
  { name: 'conversations', kind: 'int', min: 1, help: 'Conversations in all (default connections / members: every user in exactly one). More puts users in several.' },
  { name: 'rate', kind: 'number', default: 1000, min: 0.1, help: 'Target send rate, messages per second, over all generators (open loop: sends follow the clock, not the replies).' },
  { name: 'no-prime', kind: 'bool', help: 'Skip priming. By default, before the clock starts, members 0 and 1 of every conversation send one message each and the bench waits until every copy arrived, so every user has received a message (the server\'s per-conversation and per-user state is loaded): the run measures a warm system. With --no-prime the first seconds measure a cold one.' },
  { name: 'prime-rate', kind: 'number', default: 1000, min: 1, help: 'Priming messages per second, per generator.' },
  { name: 'prime-timeout', kind: 'number', default: 180, min: 1, value: '<s>', help: 'How long to wait for the priming messages to arrive.' },
  { name: 'warmup', kind: 'number', default: 5, min: 0, value: '<s>', help: 'Seconds of sending at the target rate before measuring.' },
  { name: 'duration', kind: 'number', default: 30, min: 1, value: '<s>', help: 'Seconds measured after the warm-up.' },
  { name: 'drain', kind: 'number', default: 15, min: 0, value: '<s>', help: 'After the last send, wait at most this long for outstanding message.sent / message.new before counting them lost.' },
  { name: 'grace', kind: 'number', default: 1000, min: 0, value: '<ms>', help: 'After everything arrived, wait this long for late duplicates.' },
  { name: 'codec', kind: 'string', default: 'json', choices: ['json', 'msgpack'], help: 'Wire codec of every connection.' },
  { name: 'workers', kind: 'int', default: 2, min: 1, max: 36, help: 'Generator processes; each owns a share of the connections and of the conversations among them.' },
  { name: 'addresses', kind: 'int', default: 0, min: 0, max: 250, help: 'Source addresses 127.0.0.1 … 127.0.0.N for the connections (one address runs out of ports near 28k). 0 = auto: ceil(connections / 20000), at least 2, on a loopback target; none otherwise.' },
  { name: 'content-size', kind: 'int', default: 64, min: 1, max: 16384, value: '<bytes>', help: 'Characters of text per message.' },
  { name: 'ack-interval', kind: 'int', default: 0, min: 0, value: '<ms>', help: 'Every connection acks its highest inbox seq this often (delivery receipts: more commands, message.status frames). 0 = no acks.' },
  { name: 'connect-concurrency', kind: 'int', default: 100, min: 1, help: 'Connections being opened at a time, per generator.' },
  { name: 'setup-concurrency', kind: 'int', default: 50, min: 1, help: 'conversation.create commands in flight at a time, per generator.' },
  { name: 'connect-timeout', kind: 'int', default: 15000, min: 100, value: '<ms>', help: 'Time for one connection to get connection.success.' },
  { name: 'no-reconnect', kind: 'bool', help: 'Do not reconnect (with ?cursor=) after an unexpected close; its messages then count as lost.' },
  { name: 'max-lag', kind: 'number', default: 5, min: 0, value: '<ms>', help: 'Sender-loop lag (how late sends leave against the schedule) whose p99 beyond this is reported as "the generator could not keep the schedule".' },
  { name: 'url', kind: 'string', value: '<ws-url>', help: 'Target an already running gateway (ws://host:port/ws) instead of starting the system. Tokens are signed with PARLEY_JWT_SECRET (or the development secret); its frame limits are its own; process stats are for what can be found on this machine.' },
  { name: 'prefix', kind: 'string', help: 'With --url: the PARLEY_PREFIX of the running system, to sample its pipeline backlog (streams and consumers, read-only). A started system is always sampled.' },
  { name: 'fake-gateway', kind: 'bool', help: 'Measure the generator itself: run against a stand-in gateway (bench/lib/fake-gateway.ts, same protocol on uWebSockets.js, answers from memory, nothing behind it) instead of Parley. What the generators can drive this way is their ceiling on this machine.' },
  { name: 'fake-frames', kind: 'string', default: 'full', choices: ['full', 'minimal'], help: 'With --fake-gateway: `full` answers as Parley does, an unread.update behind every message.new (Parley coalesces those per user and conversation every 50 ms, so under group load it sends fewer); `minimal` sends message.sent and message.new only, the least socket I/O any server of this protocol does. A minimal run that cannot keep up shows the rate this machine cannot reach with the generators on it, whatever the server.' },
  { name: 'allow-fallback', kind: 'bool', help: 'Run even when the gateway uses the slow ws fallback of uWebSockets.js instead of the native server (the report says which was measured).' },
  { name: 'nats', kind: 'string', value: '<url>', help: 'NATS for the started system (default $PARLEY_NATS_URL or nats://127.0.0.1:4222). Only the run\'s own prefix is created and deleted.' },
  { name: 'database-url', kind: 'string', value: '<url>', help: DATABASE_HELP },
  { name: 'processes', kind: 'string', default: 'separate', choices: ['separate', 'two', 'one'], help: 'How the started system runs: `separate` = engine, projector and gateway each in a process of its own (as when scaling out); `two` = `--role backend` (engine and projectors) and `--role gateway`; `one` = one `parley start --role all` process (fewest processes to wake per message, one event loop for all).' },
  { name: 'env', kind: 'list', value: '<KEY=VALUE>', help: 'Extra environment for the started roles, e.g. --env PARLEY_PARTITIONS=16 (repeatable; applied last).' },
  { name: 'keep', kind: 'bool', help: 'Keep the started system\'s streams and data directory (the prefix is printed).' },
  { name: 'sample-interval', kind: 'int', default: 1000, min: 100, value: '<ms>', help: 'How often process CPU and RSS are read from /proc.' },
  { name: 'cpu-prof', kind: 'string', value: '<dir>', help: 'Write V8 CPU profiles (.cpuprofile, open in Chrome DevTools) of the generators and of the started roles into this directory.' },
  { name: 'repeat', kind: 'int', default: 1, min: 1, max: 20, help: 'Run the whole measurement this many times (a fresh system each time) and also report the median of each figure.' },
  { name: 'label', kind: 'string', help: 'A label for the run, part of the file names.' },
  { name: 'out', kind: 'string', value: '<dir>', help: 'Where run files go (default bench/results).' },
  { name: 'quiet', kind: 'bool', help: 'No per-second progress lines.' },
  { name: 'help', kind: 'bool', help: 'This help.' },
];

export const help = `bench load: open-loop chat load on Parley (1:1 or groups), latency from the scheduled send time.

Usage: npm run bench -- load [flags]

By default it starts the system under test itself, as separate processes
(node bin/parley.mjs start --role engine|projector|gateway) on a private PARLEY_PREFIX, a free port
and frame, per-user and per-address limits raised to 1,000,000/s (--env sets them), and stops them (SIGTERM) at the end, deleting the prefix's
streams. It refuses to measure uWebSockets.js's slow ws fallback unless --allow-fallback.

Each generator process opens its share of the connections (spread over source addresses in
127.0.0.0/8), creates its conversations, then sends message i at t0 + i/rate whatever the server
does, and measures from that scheduled time: send → message.sent (the sender) and send →
message.new (every recipient), as HDR histograms (p50 p90 p99 p99.9 max). It counts rejections,
errors, and missing or duplicated message.sent / message.new after a drain period (both must be
0), and samples CPU and RSS of gateway, engine, projector, nats-server, postgres and the generators
from /proc. The sender loop's lag is reported: when the generator cannot keep the schedule, the
figures are the generator's, not the server's.

Output: bench/results/<run>.json (everything, per-second series included), <run>.md (summary) and
<run>.svg (latency percentiles, throughput and CPU over time). Exit code 0 when nothing was lost,
duplicated or rejected, 1 otherwise, 2 on a usage error.

Flags:
${flagsHelp(flags)}

Examples:
  npm run bench -- load --connections 200 --rate 1000 --duration 10
  npm run bench -- load --connections 2000 --rate 5000 --duration 60
  npm run bench -- load --connections 2000 --members 50 --rate 2000 --duration 60
  npm run bench -- load --url ws://127.0.0.1:8080/ws --connections 100 --rate 200
  npm run bench -- load --fake-gateway --connections 2000 --rate 10000     # the generators' own ceiling
  npm run bench -- load --fake-gateway --fake-frames minimal --connections 2000 --members 50 --rate 2000
                                                                  # the socket-I/O floor of this machine
`;

type Options = {
  connections: number;
  members: number;
  conversations?: number;
  rate: number;
  warmupS: number;
  durationS: number;
  drainS: number;
  graceMs: number;
  codec: 'json' | 'msgpack';
  workers: number;
  addresses: number;
  contentSize: number;
  ackIntervalMs: number;
  connectConcurrency: number;
  setupConcurrency: number;
  connectTimeoutMs: number;
  reconnect: boolean;
  prime: boolean;
  primeRate: number;
  primeTimeoutS: number;
  maxLagMs: number;
  url?: string;
  prefix?: string;
  fakeGateway: boolean;
  fakeFrames: 'full' | 'minimal';
  allowFallback: boolean;
  natsUrl: string;
  databaseUrl?: string;
  env: Record<string, string>;
  processes: 'separate' | 'two' | 'one';
  keep: boolean;
  sampleIntervalMs: number;
  cpuProf?: string;
  repeat: number;
  label?: string;
  outDir: string;
  quiet: boolean;
};

const out = (line = '') => process.stdout.write(`${line}\n`);
const err = (line = '') => process.stderr.write(`${line}\n`);

function options(argv: string[]): Options | 'help' {
  const { values, positionals } = parseFlags(flags, argv);
  if (values.help) return 'help';
  if (positionals.length) throw new FlagError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const g = getters(values);
  const env: Record<string, string> = {};
  for (const kv of g.list('env')) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new FlagError(`--env wants KEY=VALUE, got ${JSON.stringify(kv)}`);
    env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const url = g.optStr('url');
  if (url !== undefined) {
    try {
      const u = new URL(url);
      if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new Error('not ws: or wss:');
    } catch (e) {
      throw new FlagError(`--url must be a ws:// URL, got ${JSON.stringify(url)} (${(e as Error).message})`);
    }
  }
  const o: Options = {
    connections: g.int('connections'),
    members: g.int('members'),
    ...(g.optNum('conversations') !== undefined ? { conversations: g.int('conversations') } : {}),
    rate: g.num('rate'),
    warmupS: g.num('warmup'),
    durationS: g.num('duration'),
    drainS: g.num('drain'),
    graceMs: g.num('grace'),
    codec: g.str('codec') as 'json' | 'msgpack',
    workers: g.int('workers'),
    addresses: g.int('addresses'),
    contentSize: g.int('content-size'),
    ackIntervalMs: g.int('ack-interval'),
    connectConcurrency: g.int('connect-concurrency'),
    setupConcurrency: g.int('setup-concurrency'),
    connectTimeoutMs: g.int('connect-timeout'),
    reconnect: !g.bool('no-reconnect'),
    prime: !g.bool('no-prime'),
    primeRate: g.num('prime-rate'),
    primeTimeoutS: g.num('prime-timeout'),
    maxLagMs: g.num('max-lag'),
    ...(url ? { url } : {}),
    ...(g.optStr('prefix') ? { prefix: g.str('prefix') } : {}),
    fakeGateway: g.bool('fake-gateway'),
    fakeFrames: g.str('fake-frames') as 'full' | 'minimal',
    allowFallback: g.bool('allow-fallback'),
    natsUrl: g.optStr('nats') ?? process.env.PARLEY_NATS_URL ?? 'nats://127.0.0.1:4222',
    ...(g.optStr('database-url') ? { databaseUrl: g.str('database-url') } : {}),
    env,
    processes: g.str('processes') as 'separate' | 'two' | 'one',
    keep: g.bool('keep'),
    sampleIntervalMs: g.int('sample-interval'),
    ...(g.optStr('cpu-prof') ? { cpuProf: resolve(g.str('cpu-prof')) } : {}),
    repeat: g.int('repeat'),
    ...(g.optStr('label') ? { label: g.str('label') } : {}),
    outDir: g.optStr('out') ?? RESULTS_DIR,
    quiet: g.bool('quiet'),
  };
  if (o.fakeGateway && o.url) throw new FlagError('--fake-gateway and --url exclude each other');
  if (o.fakeFrames !== 'full' && !o.fakeGateway) throw new FlagError('--fake-frames needs --fake-gateway');
  // fail on an impossible plan now, not after starting the system
  planLoad({ connections: o.connections, members: o.members, ...(o.conversations ? { conversations: o.conversations } : {}), workers: o.workers, rate: o.rate, runTag: 'check' });
  return o;
}

export async function run(argv: string[]): Promise<number> {
  let o: Options | 'help';
  try {
    o = options(argv);
  } catch (e) {
    if (e instanceof FlagError || (e instanceof Error && /conversation|connections|generator/.test(e.message))) {
      err(`bench load: ${(e as Error).message}\n\nRun \`npm run bench -- load --help\` for the flags.`);
      return 2;
    }
    throw e;
  }
  if (o === 'help') {
    out(help);
    return 0;
  }
  const runs: LoadResult[] = [];
  let code = 0;
  for (let r = 0; r < o.repeat; r++) {
    if (o.repeat > 1) out(`\n=== run ${r + 1} of ${o.repeat} ===`);
    const result = await runOnce(o);
    if (result === 'refused') return 2;
    if (result === 'failed') return 1;
    runs.push(result);
    if (!result.verdict.ok) code = 1;
    if (interrupted) break;
  }
  if (runs.length > 1) {
    const md = mediansMarkdown(runs);
    const id = runId('load-median', o.label);
    const files = writeRun(o.outDir, id, { json: { scenario: 'load-median', runs: runs.map((x) => x.runId), medians: medians(runs) }, md });
    out(`\n${md}`);
    out(`Medians: ${rel(files.md!)}`);
  }
  return code;
}

let interrupted = false;

// ---------------------------------------------------------------- one run

type Series = {
  t: number;
  sends: number;
  confirmed: number;
  deliveries: number;
  frames: number;
  lagMaxMs: number;
  eluMax: number;
  sent: { n: number; p50: number; p90: number; p99: number; max: number };
  new: { n: number; p50: number; p90: number; p99: number; max: number };
  cpu: Record<string, number>;
  rss: Record<string, number>;
  machineBusy?: number;
  load1?: number;
  /** The pipeline as JetStream saw it (started system, or --prefix). */
  pipeline?: { commandsPerSec: number; eventsPerSec: number; inboxPerSec: number; engine: number; delivery: number; postgres: number };
};

export type LoadResult = {
  schema: 'parley-bench/load@1';
  runId: string;
  scenario: 'load';
  command: string;
  startedAt: string;
  finishedAt: string;
  options: Omit<Options, 'env'> & { env: Record<string, string> };
  environment: ReturnType<typeof machineInfo> & {
    git: ReturnType<typeof gitInfo>;
    loadAverageEnd: [number, number, number];
    /** Median 1-minute load average over the measured window. */
    load1Median: number;
    machineBusyMedian: number;
    target: 'started' | 'url' | 'fake-gateway';
    url: string;
    prefix?: string;
    natsUrl: string;
    uws: { native: boolean | 'unknown'; reason?: string };
    systemEnv?: Record<string, string>;
    /** Where the started system's read models were (Postgres or the embedded PGlite). */
    database?: string;
    sourceAddresses: string[];
  };
  results: {
    throughput: {
      targetRate: number;
      sendsPerSec: number;
      confirmedPerSec: number;
      deliveriesPerSec: number;
      expectedDeliveriesPerSec: number;
      /** Lowest per-second deliveries inside the window (sustained?). */
      minDeliveriesPerSec: number;
    };
    latency: { sent: Summary; new: Summary };
    lag: Summary & { overMaxLag: boolean };
    counts: WorkerResult['counts'];
    lost: number;
    duplicated: number;
    rejected: number;
    connect: { msMax: number; failed: number; retries: number; firstError?: string; firstRetried?: string };
    setupMsMax: number;
    generators: { worker: number; pid: number; connections: number; conversations: number; rate: number; elu: number; maxBufferedBytes: number; drainedMs: number; complete: boolean }[];
    processes: ProcSummary[];
    /** The busiest other processes on the machine during the window (% of one core). */
    otherProcesses: { name: string; cpu: number; pids: number }[];
    /** Stage rates (mean over the window) and consumer backlogs, from JetStream. */
    pipeline?: {
      commandsPerSec: number;
      eventsPerSec: number;
      inboxPerSec: number;
      backlogEnd: { engine: number; delivery: number; postgres: number };
      backlogMax: { engine: number; delivery: number; postgres: number };
    };
  };
  verdict: { ok: boolean; problems: string[]; warnings: string[] };
  series: Series[];
  histograms: { sent: ReturnType<Histogram['toSparse']>; new: ReturnType<Histogram['toSparse']>; lag: ReturnType<Histogram['toSparse']> };
  files?: { json: string; md?: string; svg?: string };
  /** With --cpu-prof: self time per package and function, per process. */
  profiles?: (ProfileSummary & { name: string })[];
};

type Worker = { index: number; child: ChildProcess; exited: Promise<void>; inbox: FromWorker[]; waiters: ((m: FromWorker) => boolean)[] };

function spawnWorker(index: number, onMessage: (m: FromWorker) => void, cpuProf?: string): Worker {
  // one directory per process: node writes a profile per thread (tsx's loader thread too)
  const prof = cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${join(cpuProf, `generator-${index + 1}`)}`] : [];
  const child = spawn(process.execPath, [...prof, '--import', 'tsx', WORKER], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const w: Worker = { index, child, exited: new Promise((r) => child.once('exit', () => r())), inbox: [], waiters: [] };
  child.on('message', (m: FromWorker) => {
    onMessage(m);
    const i = w.waiters.findIndex((f) => f(m));
    if (i >= 0) w.waiters.splice(i, 1);
    else w.inbox.push(m);
  });
  return w;
}

function expect<K extends FromWorker['kind']>(w: Worker, kind: K, timeoutMs: number): Promise<Extract<FromWorker, { kind: K }>> {
  return new Promise((resolve, reject) => {
    const take = (m: FromWorker): boolean => {
      if (m.kind === kind) {
        clearTimeout(timer);
        resolve(m as Extract<FromWorker, { kind: K }>);
        return true;
      }
      if (m.kind === 'fatal') {
        clearTimeout(timer);
        reject(new Error(`generator ${w.index} failed: ${m.message}`));
        return true;
      }
      return false;
    };
    const timer = setTimeout(() => reject(new Error(`generator ${w.index}: no ${kind} within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
    const queued = w.inbox.findIndex(take);
    if (queued >= 0) {
      w.inbox.splice(queued, 1);
      return;
    }
    void w.exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`generator ${w.index} exited`));
    });
    w.waiters.push(take);
  });
}

function isLoopback(url: string): boolean {
  const h = new URL(url).hostname;
  return h === 'localhost' || h.startsWith('127.') || h === '[::1]' || h === '::1';
}

async function runOnce(o: Options): Promise<LoadResult | 'refused' | 'failed'> {
  const id = runId('load', o.label);
  const profDir = o.cpuProf ? join(o.cpuProf, id) : undefined;
  const runTag = `b${randomBytes(3).toString('hex')}`.slice(0, 6);
  const startedAt = new Date().toISOString();
  const env = machineInfo();
  const git = gitInfo();
  let system: StartedSystem | undefined;
  const workers: Worker[] = [];
  let sampler: ProcSampler | undefined;
  let backlog: BacklogSampler | undefined;
  let fake: ChildProcess | undefined;
  const onExit = () => {
    system?.kill();
    fake?.kill('SIGKILL');
    for (const w of workers) w.child.kill('SIGKILL');
  };
  process.on('exit', onExit);
  let stopping = false;
  const onSignal = () => {
    if (stopping) process.exit(130);
    stopping = true;
    interrupted = true;
    err('\ninterrupted: stopping the generators and the system …');
    for (const w of workers) w.child.kill('SIGTERM');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    // ------------------------------------------------ the target
    let url: string;
    let health: GatewayHealth | undefined;
    let signing: WorkerInit['signing'];
    if (o.fakeGateway) {
      fake = spawn(process.execPath, ['--import', 'tsx', FAKE_GATEWAY, '0', o.fakeFrames], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
      const port = await new Promise<number>((resolve, reject) => {
        let text = '';
        const timer = setTimeout(() => reject(new Error('the fake gateway did not start within 20 s')), 20_000);
        fake!.stdout!.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          const m = /ready (\d+)/.exec(text);
          if (m) {
            clearTimeout(timer);
            resolve(Number(m[1]));
          }
        });
        fake!.once('exit', (code) => reject(new Error(`the fake gateway exited with ${code}`)));
      });
      url = `ws://127.0.0.1:${port}/ws`;
      health = (await probeGateway(url))?.health;
      signing = { secret: 'fake-gateway-does-not-verify-tokens' };
      out(`Target: the FAKE gateway at ${url} (pid ${fake.pid}, ${o.fakeFrames} frames): this run measures the generators, not Parley.`);
    } else if (o.url) {
      url = o.url;
      const probe = await probeGateway(url);
      if (!probe) {
        err(`bench load: nothing answers at ${url.replace(/^ws/, 'http').replace(/\/ws$/, '/health')}`);
        return 'failed';
      }
      health = probe.health;
      const secret = process.env.PARLEY_JWT_SECRET || DEV_JWT_SECRET;
      signing = {
        secret,
        ...(process.env.PARLEY_JWT_ISSUER ? { issuer: process.env.PARLEY_JWT_ISSUER } : {}),
        ...(process.env.PARLEY_JWT_AUDIENCE ? { audience: process.env.PARLEY_JWT_AUDIENCE } : {}),
      };
      out(`Target: the running gateway at ${url} (its own frame limits apply: rate_limited rejections are counted).`);
    } else {
      const layout = {
        separate: 'engine, projector, gateway as separate processes',
        two: 'engine and projectors in one process, gateway in another',
        one: 'engine, projector and gateway in one process',
      }[o.processes];
      out(`Starting the system under test (${layout}; NATS ${o.natsUrl}) …`);
      const logFile = `${o.outDir}/${id}.log`;
      (await import('node:fs')).mkdirSync(o.outDir, { recursive: true });
      system = await startSystem({
        natsUrl: o.natsUrl,
        env: o.env,
        ...(o.processes === 'one' ? { roles: ['all' as const] } : o.processes === 'two' ? { roles: ['backend' as const, 'gateway' as const] } : {}),
        logFile,
        ...(o.databaseUrl ? { databaseUrl: o.databaseUrl } : {}),
        ...(profDir ? { cpuProfDir: profDir } : {}),
      });
      url = system.url;
      health = system.health;
      signing = { secret: system.secret, ...(o.env.PARLEY_JWT_ISSUER ? { issuer: o.env.PARLEY_JWT_ISSUER } : {}), ...(o.env.PARLEY_JWT_AUDIENCE ? { audience: o.env.PARLEY_JWT_AUDIENCE } : {}) };
      out(`  ${system.processes.map((p) => `${p.role} pid ${p.pid}`).join(', ')}; gateway ${url}; prefix ${system.prefix}; log ${rel(logFile)}`);
    }
    const native = typeof health?.uws?.native === 'boolean' ? health.uws.native : 'unknown';
    const uws = { native, ...(health?.uws?.reason ? { reason: health.uws.reason } : {}) } as LoadResult['environment']['uws'];
    if (native !== true) {
      const why = native === 'unknown' ? 'the gateway does not say which uWebSockets.js runtime it uses' : `the gateway runs uWebSockets.js's SLOW ws FALLBACK (${uws.reason ?? 'no reason given'})`;
      if (!o.allowFallback) {
        err(`bench load: refusing to measure: ${why}. Fix the native binary, or pass --allow-fallback to measure it anyway.`);
        return 'refused';
      }
      err(`WARNING: ${why}; measuring it anyway (--allow-fallback). These figures are NOT the native server's.`);
    } else out(`  uWebSockets.js: native`);

    // ------------------------------------------------ the plan and the generators
    const addressCount = o.addresses > 0 ? o.addresses : isLoopback(url) ? Math.max(2, Math.ceil(o.connections / 20_000)) : 0;
    const addresses = Array.from({ length: addressCount }, (_, i) => `127.0.0.${i + 1}`);
    if (addressCount > 0 && !isLoopback(url)) err('WARNING: --addresses uses 127.0.0.x source addresses, which cannot reach a non-loopback target');
    const plans = planLoad({ connections: o.connections, members: o.members, ...(o.conversations ? { conversations: o.conversations } : {}), workers: o.workers, rate: o.rate, runTag });
    const totalConvs = plans.reduce((a, p) => a + p.conversations.length, 0);
    out(
      `Load: ${o.connections} connections (${o.workers} generator processes, ${addressCount || 'default'} source address${addressCount === 1 ? '' : 'es'}), ` +
        `${totalConvs} ${o.members === 2 ? 'direct conversations' : `groups of ${o.members}`}, ${fmtRate(o.rate)} messages/s ` +
        `(${fmtRate(o.rate * (o.members - 1))} deliveries/s expected), ${o.codec}, warm-up ${o.warmupS} s, measured ${o.durationS} s.`,
    );

    const progress = new Map<number, Map<number, Extract<FromWorker, { kind: 'progress' }>>>();
    const onMessage = (m: FromWorker) => {
      if (m.kind !== 'progress' || o.quiet || m.sec < 0) return;
      const row = progress.get(m.sec) ?? new Map();
      row.set(m.worker, m);
      progress.set(m.sec, row);
      if (row.size === o.workers) {
        progress.delete(m.sec);
        const v = [...row.values()];
        const sum = (k: 'sends' | 'deliveries' | 'confirmed') => v.reduce((a, x) => a + x[k], 0);
        const phase = m.sec < o.warmupS ? 'warm-up' : m.sec < o.warmupS + o.durationS ? 'measure' : 'drain';
        const p99 = Math.max(...v.map((x) => x.p99NewMs).filter(Number.isFinite));
        out(
          `  ${String(m.sec).padStart(4)}s ${phase.padEnd(7)} sends ${fmtRate(sum('sends')).padStart(7)}/s  confirmed ${fmtRate(sum('confirmed')).padStart(7)}/s  ` +
            `deliveries ${fmtRate(sum('deliveries')).padStart(8)}/s  p99 new ${fmtMs(Number.isFinite(p99) ? p99 : undefined).padStart(8)}  ` +
            `lag max ${fmtMs(Math.max(...v.map((x) => x.lagMaxMs))).padStart(8)}  gen ELU ${v.map((x) => x.elu.toFixed(2)).join('/')}  ` +
            `errors ${v.reduce((a, x) => a + x.errors, 0)}  load ${loadAverage()[0].toFixed(2)}`,
        );
      }
    };
    for (const p of plans) workers.push(spawnWorker(p.worker, onMessage, profDir));
    const connectBudget = Math.max(60_000, (o.connections / o.workers / o.connectConcurrency) * o.connectTimeoutMs);
    const connected = await Promise.all(
      workers.map((w, i) => {
        const p = plans[i]!;
        const msg: ToWorker = {
          kind: 'init',
          worker: p.worker,
          url,
          codec: o.codec,
          signing,
          users: p.users,
          conversations: p.conversations,
          rate: p.rate,
          warmupS: o.warmupS,
          durationS: o.durationS,
          drainS: o.drainS,
          graceMs: o.graceMs,
          contentSize: o.contentSize,
          ackIntervalMs: o.ackIntervalMs,
          addresses,
          connectConcurrency: o.connectConcurrency,
          setupConcurrency: o.setupConcurrency,
          connectTimeoutMs: o.connectTimeoutMs,
          reconnect: o.reconnect,
          runTag,
          prime: o.prime,
          primeRate: o.primeRate,
          primeTimeoutMs: o.primeTimeoutS * 1000,
        };
        w.child.send(msg);
        return expect(w, 'connected', connectBudget);
      }),
    );
    const connectFailed = connected.reduce((a, c) => a + c.failed, 0);
    const connectRetries = connected.reduce((a, c) => a + c.retries, 0);
    const firstRetried = connected.find((c) => c.firstRetried)?.firstRetried;
    if (connectRetries) out(`  ${connectRetries} connect attempt(s) failed and were retried (first: ${firstRetried})`);
    out(`  connected ${o.connections - connectFailed}/${o.connections} in ${fmtMs(Math.max(...connected.map((c) => c.ms)))}${connectFailed ? ` (first failure: ${connected.find((c) => c.firstError)?.firstError})` : ''}`);
    if (connectFailed === o.connections) throw new Error('no connection could be opened');
    for (const w of workers) w.child.send({ kind: 'setup' } satisfies ToWorker);
    const ready = await Promise.all(workers.map((w) => expect(w, 'ready', 120_000 + (o.prime ? o.primeTimeoutS * 1000 : 0))));
    const setupFailed = ready.reduce((a, r) => a + r.failed, 0);
    out(
      `  ${totalConvs - setupFailed}/${totalConvs} conversations created${o.prime ? ' and primed' : ''} in ${fmtMs(Math.max(...ready.map((r) => r.ms)))}` +
        `${ready.find((r) => r.firstError) ? ` (${ready.find((r) => r.firstError)?.firstError})` : ''}`,
    );

    // ------------------------------------------------ process stats
    const startAtEpochMs = performance.timeOrigin + performance.now() + 1000;
    const t0 = startAtEpochMs - performance.timeOrigin;
    const tracked: Tracked[] = [];
    if (system) for (const p of system.processes) tracked.push({ name: p.role, pids: () => [p.pid] });
    else if (fake) tracked.push({ name: 'fake-gateway', pids: () => [fake!.pid!], note: 'the stand-in gateway (--fake-gateway)' });
    else {
      const roles = findParleyRoles();
      const seen = new Map<string, number>();
      for (const r of roles) {
        const n = (seen.get(r.role) ?? 0) + 1;
        seen.set(r.role, n);
        tracked.push({ name: n > 1 ? `${r.role}-${n}` : r.role, pids: () => [r.pid], note: 'found by command line (parley.mjs start)' });
      }
      if (roles.length === 0) err('WARNING: no local `parley.mjs start` process found: no CPU figures for gateway, engine and projector');
    }
    const natsPort = Number(new URL(o.natsUrl.split(',')[0]!.replace(/^nats:/, 'http:')).port || 4222);
    const natsPid = findListener(natsPort);
    if (natsPid) tracked.push({ name: 'nats-server', pids: () => [natsPid], note: `pid listening on port ${natsPort}` });
    else {
      const all = findByComm('nats-server');
      if (all.length) tracked.push({ name: 'nats-server', pids: () => findByComm('nats-server'), note: `all ${all.length} nats-server processes (the listener on ${natsPort} was not found)` });
    }
    tracked.push({
      name: 'postgres',
      pids: () => findByComm(/^postgres/),
      note:
        !system || system.database.kind === 'postgres'
          ? 'every postgres process on the machine'
          : 'every postgres process on the machine; not used by this run (the projector\'s read models are the embedded PGlite, inside the projector process)',
    });
    workers.forEach((w, i) => tracked.push({ name: `generator-${i + 1}`, pids: () => [w.child.pid!] }));
    tracked.push({ name: 'bench', pids: () => [process.pid], note: 'this coordinator' });
    sampler = new ProcSampler(tracked, o.sampleIntervalMs, t0);
    sampler.start();
    const observedPrefix = system?.prefix ?? o.prefix;
    if (observedPrefix) {
      backlog = new BacklogSampler(o.natsUrl, observedPrefix, o.sampleIntervalMs, t0);
      await backlog.start();
      if (backlog.error) err(`WARNING: cannot sample the pipeline backlog: ${backlog.error}`);
    }

    // who else uses the machine during the measured window
    let before: ReturnType<typeof allTicks> | undefined;
    let others: LoadResult['results']['otherProcesses'] = [];
    const windowStart = setTimeout(() => (before = allTicks()), Math.max(0, t0 + o.warmupS * 1000 - performance.now()));
    const windowEnd = setTimeout(() => {
      if (!before) return;
      const exclude = new Set(tracked.flatMap((t) => t.pids()));
      others = topOthers(before, allTicks(), exclude, o.durationS);
    }, Math.max(0, t0 + (o.warmupS + o.durationS) * 1000 - performance.now()));

    // ------------------------------------------------ go
    for (const w of workers) w.child.send({ kind: 'start', startAtEpochMs } satisfies ToWorker);
    const budget = (o.warmupS + o.durationS + o.drainS) * 1000 + o.graceMs + 60_000;
    const results = await Promise.all(workers.map((w) => expect(w, 'result', budget)));
    clearTimeout(windowStart);
    clearTimeout(windowEnd);
    sampler.stop();
    await backlog?.stop();
    const loadEnd = loadAverage();
    await Promise.all(
      workers.map((w) => {
        w.child.send({ kind: 'close' } satisfies ToWorker);
        return Promise.race([w.exited, new Promise((r) => setTimeout(r, 10_000))]);
      }),
    );
    const stopNotes = system ? await system.stop({ keepStreams: o.keep }) : [];
    fake?.kill('SIGTERM');
    for (const n of stopNotes) err(`note: ${n}`);

    // ------------------------------------------------ merge
    const result = merge(o, results, sampler, backlog?.samples ?? [], {
      id,
      startedAt,
      env,
      git,
      loadEnd,
      url,
      uws,
      addresses,
      ...(system ? { system } : {}),
      connect: {
        msMax: Math.max(...connected.map((c) => c.ms)),
        failed: connectFailed,
        retries: connectRetries,
        ...(connected.find((c) => c.firstError) ? { firstError: connected.find((c) => c.firstError)!.firstError! } : {}),
        ...(firstRetried ? { firstRetried } : {}),
      },
      setupMsMax: Math.max(...ready.map((r) => r.ms)),
      setupFailed,
      stopNotes: [...ready.flatMap((r) => (r.firstError ? [`set-up: ${r.firstError}`] : [])), ...stopNotes],
      others,
    });
    if (profDir) {
      result.profiles = summarizeDir(profDir).map((p) => ({ ...p, file: rel(p.file) }));
      result.verdict.warnings.push(`CPU profiles were on (--cpu-prof): every process ran slower than it would without them`);
    }
    const md = markdown(result);
    const svg = chart(result);
    result.files = writeRun(o.outDir, id, { json: result, md, svg });
    writeRun(o.outDir, id, { json: result });
    out('');
    out(md);
    out(`Files: ${rel(result.files.json)}, ${rel(result.files.md!)}, ${rel(result.files.svg!)}`);
    return result;
  } catch (e) {
    err(`bench load: ${(e as Error).stack ?? String(e)}`);
    sampler?.stop();
    await backlog?.stop();
    for (const w of workers) w.child.kill('SIGKILL');
    fake?.kill('SIGKILL');
    if (system) for (const n of await system.stop({ keepStreams: o.keep }).catch(() => [])) err(`note: ${n}`);
    return 'failed';
  } finally {
    process.off('exit', onExit);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

// ---------------------------------------------------------------- merging

function pct(h: Histogram) {
  return { n: h.n, p50: h.percentile(50) / 1000, p90: h.percentile(90) / 1000, p99: h.percentile(99) / 1000, max: h.n ? h.max / 1000 : Number.NaN };
}

function merge(
  o: Options,
  results: WorkerResult[],
  sampler: ProcSampler,
  backlog: BacklogSample[],
  x: {
    id: string;
    startedAt: string;
    env: ReturnType<typeof machineInfo>;
    git: ReturnType<typeof gitInfo>;
    loadEnd: [number, number, number];
    url: string;
    uws: LoadResult['environment']['uws'];
    addresses: string[];
    system?: StartedSystem;
    connect: LoadResult['results']['connect'];
    setupMsMax: number;
    setupFailed: number;
    stopNotes: string[];
    others: LoadResult['results']['otherProcesses'];
  },
): LoadResult {
  const hSent = new Histogram();
  const hNew = new Histogram();
  const hLag = new Histogram();
  for (const r of results) {
    hSent.add(r.hist.sent);
    hNew.add(r.hist.new);
    hLag.add(r.hist.lag);
  }
  const counts = results.map((r) => r.counts).reduce((a, b) => {
    const addRec = (p: Record<string, number>, q: Record<string, number>) => {
      const z = { ...p };
      for (const [k, v] of Object.entries(q)) z[k] = (z[k] ?? 0) + v;
      return z;
    };
    return {
      scheduled: a.scheduled + b.scheduled,
      sent: a.sent + b.sent,
      notSent: a.notSent + b.notSent,
      rejected: addRec(a.rejected, b.rejected),
      otherErrors: addRec(a.otherErrors, b.otherErrors),
      confirmed: a.confirmed + b.confirmed,
      deliveries: a.deliveries + b.deliveries,
      expectedDeliveries: a.expectedDeliveries + b.expectedDeliveries,
      missingSent: a.missingSent + b.missingSent,
      missingNew: a.missingNew + b.missingNew,
      lostMessages: a.lostMessages + b.lostMessages,
      duplicateSent: a.duplicateSent + b.duplicateSent,
      duplicateNew: a.duplicateNew + b.duplicateNew,
      foreign: a.foreign + b.foreign,
      rejectedButStored: a.rejectedButStored + b.rejectedButStored,
      acksSent: a.acksSent + b.acksSent,
      frames: addRec(a.frames, b.frames),
      closes: addRec(a.closes, b.closes),
      reconnects: a.reconnects + b.reconnects,
    };
  });
  const win = results.reduce((a, r) => ({ sends: a.sends + r.window.sends, confirmed: a.confirmed + r.window.confirmed, deliveries: a.deliveries + r.window.deliveries }), { sends: 0, confirmed: 0, deliveries: 0 });

  // per-second series
  const secs = Math.max(0, ...results.map((r) => r.series.length));
  const series: Series[] = [];
  const samples = sampler.samples;
  for (let s = 0; s < secs; s++) {
    const rows = results.map((r) => r.series[s]).filter((v): v is SecondStats => v !== undefined);
    const hs = new Histogram();
    const hn = new Histogram();
    for (const r of rows) {
      hs.add(r.hSent);
      hn.add(r.hNew);
    }
    // the process sample that covers (s, s + 1]
    const sample = samples.find((p) => p.t > s && p.t <= s + 1 + 1e-6) ?? samples.find((p) => Math.abs(p.t - (s + 1)) < 0.6);
    const pipe = backlog.find((p) => p.t > s && p.t <= s + 1 + 1e-6) ?? backlog.find((p) => Math.abs(p.t - (s + 1)) < 0.6);
    series.push({
      t: s,
      sends: rows.reduce((a, r) => a + r.sends, 0),
      confirmed: rows.reduce((a, r) => a + r.acks, 0),
      deliveries: rows.reduce((a, r) => a + r.deliveries, 0),
      frames: rows.reduce((a, r) => a + r.frames, 0),
      lagMaxMs: Math.max(0, ...rows.map((r) => r.lagMaxMs)),
      eluMax: Math.max(0, ...rows.map((r) => r.elu)),
      sent: pct(hs),
      new: pct(hn),
      cpu: sample ? { ...sample.cpu, 'rest of the machine': sample.others } : {},
      rss: sample?.rss ?? {},
      ...(sample ? { machineBusy: sample.machineBusy, load1: sample.load1 } : {}),
      ...(pipe ? { pipeline: { commandsPerSec: pipe.commandsPerSec, eventsPerSec: pipe.eventsPerSec, inboxPerSec: pipe.inboxPerSec, engine: pipe.engine, delivery: pipe.delivery, postgres: pipe.postgres } } : {}),
    });
  }
  const wFrom = o.warmupS;
  const wTo = o.warmupS + o.durationS;
  const inWin = series.filter((s) => s.t >= wFrom && s.t + 1 <= wTo + 1e-9);
  const windowSamples = samples.filter((p) => p.t > wFrom && p.t <= wTo + 1e-6);
  const processes = sampler.summary(wFrom, wTo);

  const lag = { ...hLag.summary(1000), overMaxLag: hLag.n > 0 && hLag.percentile(99) / 1000 > o.maxLagMs };
  const rejected = Object.values(counts.rejected).reduce((a, b) => a + b, 0);
  const lost = counts.lostMessages;
  const duplicated = counts.duplicateNew + counts.duplicateSent;
  const problems: string[] = [];
  const warnings: string[] = [];
  if (lost) problems.push(`${lost} message(s) lost: ${counts.missingSent} message.sent and ${counts.missingNew} message.new missing after the drain`);
  if (duplicated) problems.push(`${duplicated} duplicate(s): ${counts.duplicateSent} message.sent, ${counts.duplicateNew} message.new`);
  if (rejected) problems.push(`${rejected} send(s) rejected: ${Object.entries(counts.rejected).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  if (x.connect.failed) problems.push(`${x.connect.failed} connection(s) failed to open (${x.connect.firstError ?? ''})`);
  if (x.connect.retries) warnings.push(`${x.connect.retries} connect attempt(s) failed and were retried; first: ${x.connect.firstRetried}`);
  if (x.setupFailed) problems.push(`${x.setupFailed} conversation(s) could not be created`);
  if (counts.notSent) problems.push(`${counts.notSent} send(s) skipped: the sender's socket was not open`);
  if (results.some((r) => !r.complete)) warnings.push(`not everything arrived within the ${o.drainS} s drain`);
  if (Object.keys(counts.otherErrors).length) warnings.push(`other errors: ${Object.entries(counts.otherErrors).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  if (Object.keys(counts.closes).length) warnings.push(`unexpected closes: ${Object.entries(counts.closes).map(([k, v]) => `${k}×${v}`).join(', ')} (${counts.reconnects} reconnects)`);
  if (counts.foreign) warnings.push(`${counts.foreign} message frame(s) that were not this run's`);
  if (lag.overMaxLag) warnings.push(`the generator could not keep the schedule: sender lag p99 ${fmtMs(lag.p99)} > ${fmtMs(o.maxLagMs)} (max ${fmtMs(lag.max)}); latency includes that lag (it is measured from the scheduled time)`);
  const maxElu = Math.max(...results.map((r) => r.elu));
  if (maxElu > 0.9) warnings.push(`a generator's event loop was ${Math.round(maxElu * 100)} % busy: add --workers or the generator may be the bottleneck`);
  if (x.uws.native !== true) warnings.push(`measured uWebSockets.js ${x.uws.native === false ? 'FALLBACK (ws emulation)' : 'runtime unknown'}, not the native server`);
  const load1Median = median(windowSamples.map((s) => s.load1));
  const busyMedian = median(windowSamples.map((s) => s.machineBusy));
  if (busyMedian > 95) warnings.push(`the machine was saturated (median CPU busy ${busyMedian.toFixed(0)} % of ${x.env.cpus} cores): figures are bounded by CPU, including other work on the machine`);
  const expected = o.rate * (o.members - 1);
  const winPipe = backlog.filter((p) => p.t > wFrom && p.t <= wTo + 1e-6);
  const mean = (f: (p: BacklogSample) => number) => (winPipe.length ? winPipe.reduce((a, p) => a + f(p), 0) / winPipe.length : Number.NaN);
  const lastPipe = winPipe[winPipe.length - 1];
  const pipeline = winPipe.length
    ? {
        commandsPerSec: mean((p) => p.commandsPerSec),
        eventsPerSec: mean((p) => p.eventsPerSec),
        inboxPerSec: mean((p) => p.inboxPerSec),
        backlogEnd: { engine: lastPipe!.engine, delivery: lastPipe!.delivery, postgres: lastPipe!.postgres },
        backlogMax: { engine: Math.max(...winPipe.map((p) => p.engine)), delivery: Math.max(...winPipe.map((p) => p.delivery)), postgres: Math.max(...winPipe.map((p) => p.postgres)) },
      }
    : undefined;
  if (pipeline) {
    // more than a second of work queued at the end of the window: that stage could not keep up
    const stages = [
      ['engine (commands not yet decided)', pipeline.backlogEnd.engine, o.rate],
      ['delivery projector (events not yet in inboxes)', pipeline.backlogEnd.delivery, o.rate],
      ['postgres projector (events not yet in the read models)', pipeline.backlogEnd.postgres, o.rate],
    ] as const;
    for (const [name, queued, perSec] of stages) {
      if (queued > perSec) warnings.push(`${name} fell behind: ${queued.toLocaleString('en-US')} queued at the end of the window (${(queued / perSec).toFixed(1)} s of load)`);
    }
    const tail = backlog[backlog.length - 1];
    if (lost && tail && tail.engine + tail.delivery > 0) {
      problems.push(`of the missing messages, some were still queued in the pipeline when the drain ended (engine ${tail.engine.toLocaleString('en-US')}, delivery ${tail.delivery.toLocaleString('en-US')}): the system fell behind; a longer --drain tells late from lost`);
    }
  }

  return {
    schema: 'parley-bench/load@1',
    runId: x.id,
    scenario: 'load',
    command: `npm run bench -- load ${process.argv.slice(3).join(' ')}`.trim(),
    startedAt: x.startedAt,
    finishedAt: new Date().toISOString(),
    options: { ...o, env: o.env, ...(o.databaseUrl ? { databaseUrl: o.databaseUrl.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@') } : {}) },
    environment: {
      ...x.env,
      git: x.git,
      loadAverageEnd: x.loadEnd,
      load1Median,
      machineBusyMedian: busyMedian,
      target: x.system ? 'started' : o.fakeGateway ? 'fake-gateway' : 'url',
      url: x.url,
      ...(x.system ? { prefix: x.system.prefix, database: x.system.database.describe, systemEnv: Object.fromEntries(Object.entries(x.system.env).filter(([k]) => k !== 'PARLEY_JWT_SECRET' && k !== 'DATABASE_URL')) } : {}),
      natsUrl: o.natsUrl,
      uws: x.uws,
      sourceAddresses: x.addresses,
    },
    results: {
      throughput: {
        targetRate: o.rate,
        sendsPerSec: win.sends / o.durationS,
        confirmedPerSec: win.confirmed / o.durationS,
        deliveriesPerSec: win.deliveries / o.durationS,
        expectedDeliveriesPerSec: expected,
        minDeliveriesPerSec: inWin.length ? Math.min(...inWin.map((s) => s.deliveries)) : Number.NaN,
      },
      latency: { sent: hSent.summary(1000), new: hNew.summary(1000) },
      lag,
      counts,
      lost,
      duplicated,
      rejected,
      connect: x.connect,
      setupMsMax: x.setupMsMax,
      generators: results.map((r) => ({
        worker: r.worker,
        pid: r.pid,
        connections: r.connections,
        conversations: r.conversations,
        rate: r.rate,
        elu: r.elu,
        maxBufferedBytes: r.maxBufferedBytes,
        drainedMs: r.drainedMs,
        complete: r.complete,
      })),
      processes,
      otherProcesses: x.others,
      ...(pipeline ? { pipeline } : {}),
    },
    verdict: { ok: problems.length === 0, problems, warnings: [...warnings, ...x.stopNotes] },
    series,
    histograms: { sent: hSent.toSparse(), new: hNew.toSparse(), lag: hLag.toSparse() },
  };
}

// ---------------------------------------------------------------- reports

function latencyRow(name: string, s: Summary): (string | number)[] {
  return [name, fmtMs(s.p50), fmtMs(s.p90), fmtMs(s.p99), fmtMs(s.p999), fmtMs(s.max), fmtMs(s.mean), s.count.toLocaleString('en-US')];
}

function markdown(r: LoadResult): string {
  const o = r.options;
  const t = r.results.throughput;
  const e = r.environment;
  const kind = o.members === 2 ? '1:1' : `groups of ${o.members}`;
  const lines: string[] = [];
  lines.push(`# Load: ${kind}, ${o.connections} connections, ${fmtRate(o.rate)} msg/s, ${o.codec}${o.fakeGateway ? ` — FAKE gateway, ${o.fakeFrames} frames (generator ceiling)` : ''}`);
  lines.push('');
  lines.push(`Run \`${r.runId}\` · ${r.startedAt} · ${r.command}`);
  lines.push('');
  lines.push(
    `**${r.verdict.ok ? 'OK' : 'FAILED'}**: lost ${r.results.lost}, duplicated ${r.results.duplicated}, rejected ${r.results.rejected}. ` +
      `Sends ${fmtRate(t.sendsPerSec)}/s (target ${fmtRate(t.targetRate)}), deliveries ${fmtRate(t.deliveriesPerSec)}/s (expected ${fmtRate(t.expectedDeliveriesPerSec)}; lowest second ${fmtRate(t.minDeliveriesPerSec)}), ` +
      `p99 send → message.new ${fmtMs(r.results.latency.new.p99)}.`,
  );
  for (const p of r.verdict.problems) lines.push(`- problem: ${p}`);
  for (const w of r.verdict.warnings) lines.push(`- warning: ${w}`);
  lines.push('');
  lines.push(`![latency, throughput and CPU over time](${r.runId}.svg)`);
  lines.push('');
  lines.push(`## Latency (from the scheduled send time, measured window of ${o.durationS} s)`);
  lines.push('');
  lines.push(
    mdTable(
      ['', 'p50', 'p90', 'p99', 'p99.9', 'max', 'mean', 'samples'],
      [latencyRow('send → message.sent', r.results.latency.sent), latencyRow('send → message.new (every recipient)', r.results.latency.new), latencyRow('sender-loop lag', r.results.lag)],
    ),
  );
  lines.push('');
  lines.push('## Throughput and counts');
  lines.push('');
  const c = r.results.counts;
  lines.push(
    mdTable(
      ['', 'value'],
      [
        ['sends/s (measured window)', fmtRate(t.sendsPerSec)],
        ['message.sent/s', fmtRate(t.confirmedPerSec)],
        ['message.new/s (deliveries)', fmtRate(t.deliveriesPerSec)],
        ['messages scheduled / sent', `${c.scheduled.toLocaleString('en-US')} / ${c.sent.toLocaleString('en-US')}`],
        ['message.sent received / message.new received (expected)', `${c.confirmed.toLocaleString('en-US')} / ${c.deliveries.toLocaleString('en-US')} (${c.expectedDeliveries.toLocaleString('en-US')})`],
        ['lost messages (missing message.sent / message.new)', `${c.lostMessages} (${c.missingSent} / ${c.missingNew})`],
        ['duplicated message.sent / message.new', `${c.duplicateSent} / ${c.duplicateNew}`],
        ['rejected (of which delivered anyway)', `${Object.entries(c.rejected).map(([k, v]) => `${k} ${v}`).join(', ') || '0'} (${c.rejectedButStored})`],
        ['other errors', Object.entries(c.otherErrors).map(([k, v]) => `${k} ${v}`).join(', ') || '0'],
        ['unexpected closes (reconnects)', `${Object.entries(c.closes).map(([k, v]) => `${k}×${v}`).join(', ') || '0'} (${c.reconnects})`],
        ['connect (slowest generator) / retried / failed', `${fmtMs(r.results.connect.msMax)} / ${r.results.connect.retries} / ${r.results.connect.failed}`],
        [`conversation set-up${o.prime ? ' and priming' : ''}`, fmtMs(r.results.setupMsMax)],
        ['frames received', Object.entries(c.frames).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toLocaleString('en-US')}`).join(', ')],
      ],
    ),
  );
  lines.push('');
  const pl = r.results.pipeline;
  if (pl) {
    lines.push('## Pipeline (JetStream, measured window)');
    lines.push('');
    lines.push(
      mdTable(
        ['stage', 'appends/s (mean)', 'backlog at the end', 'backlog max'],
        [
          ['gateway → commands stored', fmtRate(pl.commandsPerSec), '', ''],
          ['engine → events appended', fmtRate(pl.eventsPerSec), fmtRate(pl.backlogEnd.engine), fmtRate(pl.backlogMax.engine)],
          ['delivery projector → inbox entries', fmtRate(pl.inboxPerSec), fmtRate(pl.backlogEnd.delivery), fmtRate(pl.backlogMax.delivery)],
          ['postgres projector', '', fmtRate(pl.backlogEnd.postgres), fmtRate(pl.backlogMax.postgres)],
        ],
      ),
    );
    lines.push('');
    lines.push('Backlog = messages the stage\'s consumers have not finished (pending + unacknowledged). A backlog that grows is the stage that cannot keep up.');
    lines.push('');
  }
  lines.push(`## Processes (measured window; CPU in % of one core, ${e.cpus} cores)`);
  lines.push('');
  lines.push(
    mdTable(
      ['process', 'pid', 'CPU mean', 'CPU max', 'CPU s', 'RSS max', 'note'],
      r.results.processes.map((p) => [p.name, p.pids.slice(0, 4).join(' ') + (p.pids.length > 4 ? ' …' : ''), `${p.cpuMean.toFixed(0)} %`, `${p.cpuMax.toFixed(0)} %`, p.cpuSeconds.toFixed(1), fmtBytes(p.rssMax), p.note ?? '']),
    ),
  );
  if (r.results.otherProcesses.length) {
    lines.push('');
    lines.push(`Busiest other processes in the window: ${r.results.otherProcesses.map((p) => `${p.name}${p.pids > 1 ? ` (×${p.pids})` : ''} ${p.cpu.toFixed(0)} %`).join(', ')}.`);
  }
  lines.push('');
  lines.push(
    mdTable(
      ['generator', 'connections', 'conversations', 'rate', 'event loop busy', 'max socket buffer', 'drain'],
      r.results.generators.map((g) => [g.worker + 1, g.connections, g.conversations, fmtRate(g.rate), `${Math.round(g.elu * 100)} %`, fmtBytes(g.maxBufferedBytes), `${fmtMs(g.drainedMs)}${g.complete ? '' : ' (incomplete)'}`]),
    ),
  );
  lines.push('');
  if (r.profiles?.length) {
    lines.push('## Where the time goes (CPU profiles, self time, % of busy time)');
    lines.push('');
    for (const p of r.profiles) {
      lines.push(`**${p.name}** (${p.file}): busy ${fmtMs(p.busyMs)} of ${fmtMs(p.totalMs)} profiled. ` + p.categories.map((c) => `${c.name} ${c.pct.toFixed(0)} %`).join(', '));
      lines.push('');
      lines.push(mdTable(['function', 'self', '%'], p.functions.map((f) => [`\`${f.name}\``, fmtMs(f.ms), `${f.pct.toFixed(1)} %`])));
      lines.push('');
    }
  }
  lines.push('## Environment');
  lines.push('');
  lines.push(
    `${e.cpus} × ${e.cpuModel}, ${fmtBytes(e.memTotalBytes)}, node ${e.node}; load average at start ${e.loadAverage.map((v) => v.toFixed(2)).join(' ')}, ` +
      `median over the window ${e.load1Median.toFixed(2)}, at the end ${e.loadAverageEnd.map((v) => v.toFixed(2)).join(' ')}; median machine CPU busy ${e.machineBusyMedian.toFixed(0)} %. ` +
      `git ${e.git.commit ?? '?'}${e.git.dirty ? ' (with uncommitted changes)' : ''}. Target: ${e.target === 'started' ? `started by the bench (prefix ${e.prefix}${e.database ? `, read models: ${e.database}` : ''})` : e.target === 'fake-gateway' ? 'the FAKE gateway (measures the generators)' : 'a running gateway'} at ${e.url}; ` +
      `uWebSockets.js ${e.uws.native === true ? 'native' : e.uws.native === false ? `FALLBACK (${e.uws.reason ?? ''})` : 'unknown'}; NATS ${e.natsUrl}; source addresses ${e.sourceAddresses.join(', ') || 'default'}.`,
  );
  lines.push('');
  return lines.join('\n');
}

function chart(r: LoadResult): string {
  const o = r.options;
  const s = r.series;
  const secs = s.map((x) => x.t + 0.5);
  const lat = (k: 'p50' | 'p90' | 'p99' | 'max', which: 'new' | 'sent') => s.map((x) => (x[which].n ? x[which][k] : undefined));
  const procNames = r.results.processes.map((p) => p.name).filter((n) => s.some((x) => (x.cpu[n] ?? 0) > 2));
  const cpuLines: Line[] = procNames.map((n, i) =>
    n === 'rest of the machine'
      ? { label: 'rest of the machine', color: '#9ca3af', dash: '4 3', values: s.map((x) => x.cpu[n]) }
      : { label: n, color: palette[i % palette.length]!, values: s.map((x) => x.cpu[n]) },
  );
  const cores = r.environment.cpus;
  cpuLines.push({ label: `whole machine (${cores * 100} % = all ${cores} cores busy)`, color: '#111827', dash: '2 3', values: s.map((x) => (x.machineBusy === undefined ? undefined : x.machineBusy * cores)) });
  const t = r.results.throughput;
  const l = r.results.latency.new;
  return renderChart({
    title: `${o.fakeGateway ? `FAKE gateway, ${o.fakeFrames} frames (generator ceiling)` : 'Parley load'}: ${o.members === 2 ? '1:1' : `groups of ${o.members}`}, ${o.connections} connections, ${fmtRate(o.rate)} msg/s, ${o.codec}${r.environment.uws.native === true ? '' : ' — uWS FALLBACK'}`,
    subtitle: [
      `measured ${o.durationS} s: send → message.new p50 ${fmtMs(l.p50)}, p90 ${fmtMs(l.p90)}, p99 ${fmtMs(l.p99)}, p99.9 ${fmtMs(l.p999)}, max ${fmtMs(l.max)} · ` +
        `${fmtRate(t.sendsPerSec)} sends/s, ${fmtRate(t.deliveriesPerSec)} deliveries/s · lost ${r.results.lost}, duplicated ${r.results.duplicated}`,
      `${r.runId} · load average ${r.environment.load1Median.toFixed(1)} on ${r.environment.cpus} cores · git ${r.environment.git.commit ?? '?'}${r.environment.git.dirty ? '+changes' : ''}`,
    ],
    seconds: secs,
    spans: [
      { from: 0, to: o.warmupS, label: 'warm-up', color: '#fef3c7' },
      { from: o.warmupS + o.durationS, to: Math.max(...secs, o.warmupS + o.durationS), label: 'drain', color: '#e5e7eb' },
    ],
    panels: [
      {
        title: 'Latency by scheduled send second, from the scheduled time (send → message.new, every recipient)',
        unit: 'ms',
        log: true,
        lines: [
          { label: 'p50', color: '#16a34a', values: lat('p50', 'new') },
          { label: 'p90', color: '#2563eb', values: lat('p90', 'new') },
          { label: 'p99', color: '#ea580c', values: lat('p99', 'new'), width: 2.2 },
          { label: 'max', color: '#dc2626', values: lat('max', 'new'), width: 1 },
          { label: 'message.sent p99', color: '#9333ea', values: lat('p99', 'sent'), dash: '5 4' },
          { label: 'sender lag max', color: '#6b7280', values: s.map((x) => (x.lagMaxMs > 0 ? x.lagMaxMs : undefined)), dash: '1 3', width: 1 },
        ],
        height: 240,
      },
      {
        title: 'Throughput per second (by arrival)',
        unit: 'messages/s',
        lines: [
          { label: 'sends', color: '#2563eb', values: s.map((x) => x.sends) },
          { label: 'message.sent', color: '#9333ea', values: s.map((x) => x.confirmed), dash: '5 4' },
          ...(o.members === 2 ? [{ label: 'message.new', color: '#16a34a', values: s.map((x) => x.deliveries) }] : []),
        ],
        refs: [{ value: o.rate, label: `target ${fmtNum(o.rate)}/s`, color: '#6b7280' }],
        ...(o.members > 2 ? { right: { unit: 'deliveries/s', lines: [{ label: 'message.new (deliveries)', color: '#16a34a', values: s.map((x) => x.deliveries) }] } } : {}),
        height: 180,
      },
      { title: 'CPU per process (% of one core)', unit: '% of a core', lines: cpuLines, height: 200 },
      ...(s.some((x) => x.pipeline)
        ? [
            {
              title: 'Pipeline backlog: work queued in JetStream per stage (a growing line is the stage that cannot keep up)',
              unit: 'messages queued',
              lines: [
                { label: 'engine (commands)', color: '#2563eb', values: s.map((x) => x.pipeline?.engine) },
                { label: 'delivery projector (events)', color: '#16a34a', values: s.map((x) => x.pipeline?.delivery) },
                { label: 'postgres projector (events)', color: '#ea580c', values: s.map((x) => x.pipeline?.postgres) },
              ],
              height: 160,
            },
          ]
        : []),
    ],
  });
}

// ---------------------------------------------------------------- medians of repeated runs

function medians(runs: LoadResult[]) {
  const m = (f: (r: LoadResult) => number) => median(runs.map(f));
  const procNames = [...new Set(runs.flatMap((r) => r.results.processes.map((p) => p.name)))];
  return {
    runs: runs.length,
    sendsPerSec: m((r) => r.results.throughput.sendsPerSec),
    deliveriesPerSec: m((r) => r.results.throughput.deliveriesPerSec),
    new: { p50: m((r) => r.results.latency.new.p50), p90: m((r) => r.results.latency.new.p90), p99: m((r) => r.results.latency.new.p99), p999: m((r) => r.results.latency.new.p999), max: m((r) => r.results.latency.new.max) },
    sent: { p50: m((r) => r.results.latency.sent.p50), p90: m((r) => r.results.latency.sent.p90), p99: m((r) => r.results.latency.sent.p99), p999: m((r) => r.results.latency.sent.p999), max: m((r) => r.results.latency.sent.max) },
    lagP99: m((r) => r.results.lag.p99),
    lost: runs.map((r) => r.results.lost),
    duplicated: runs.map((r) => r.results.duplicated),
    load1: m((r) => r.environment.load1Median),
    cpu: Object.fromEntries(procNames.map((n) => [n, m((r) => r.results.processes.find((p) => p.name === n)?.cpuMean ?? Number.NaN)])),
  };
}

function mediansMarkdown(runs: LoadResult[]): string {
  const md = medians(runs);
  const o = runs[0]!.options;
  const rows: (string | number)[][] = [
    ['sends/s', ...runs.map((r) => fmtRate(r.results.throughput.sendsPerSec)), fmtRate(md.sendsPerSec)],
    ['deliveries/s', ...runs.map((r) => fmtRate(r.results.throughput.deliveriesPerSec)), fmtRate(md.deliveriesPerSec)],
    ...(['p50', 'p90', 'p99', 'p999', 'max'] as const).map((k) => [`send → message.new ${k === 'p999' ? 'p99.9' : k}`, ...runs.map((r) => fmtMs(r.results.latency.new[k])), fmtMs(md.new[k])]),
    ...(['p50', 'p99', 'max'] as const).map((k) => [`send → message.sent ${k}`, ...runs.map((r) => fmtMs(r.results.latency.sent[k])), fmtMs(md.sent[k])]),
    ['sender lag p99', ...runs.map((r) => fmtMs(r.results.lag.p99)), fmtMs(md.lagP99)],
    ['lost / duplicated', ...runs.map((r) => `${r.results.lost} / ${r.results.duplicated}`), `${Math.max(...md.lost)} / ${Math.max(...md.duplicated)} (worst)`],
    ['load average (1 min)', ...runs.map((r) => r.environment.load1Median.toFixed(2)), md.load1.toFixed(2)],
    ...Object.entries(md.cpu).map(([n, v]) => [`CPU ${n}`, ...runs.map((r) => `${(r.results.processes.find((p) => p.name === n)?.cpuMean ?? Number.NaN).toFixed(0)} %`), `${v.toFixed(0)} %`]),
  ];
  return [
    `# Load, median of ${runs.length} runs: ${o.members === 2 ? '1:1' : `groups of ${o.members}`}, ${o.connections} connections, ${fmtRate(o.rate)} msg/s, ${o.codec}`,
    '',
    mdTable(['', ...runs.map((_, i) => `run ${i + 1}`), 'median'], rows),
    '',
    `Runs: ${runs.map((r) => r.runId).join(', ')}`,
    '',
  ].join('\n');
}
