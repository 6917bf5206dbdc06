/**
 * The flags of `npm run bench -- load`, its help text, and the options they make (checked before
 * anything starts: an impossible plan fails now, not after starting the system).
 */
import { resolve } from 'node:path';
import { FlagError, flagsHelp, getters, parseFlags, type FlagSpec } from '../lib/flags.js';
import { planLoad } from '../lib/load-plan.js';
import { RESULTS_DIR } from '../lib/results.js';
import { DATABASE_HELP } from '../lib/database.js';
import { varzUrl } from '../lib/cost.js';

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
  { name: 'private-nats', kind: 'bool', help: 'Start a private nats-server for the run (/usr/sbin/nats-server -a 127.0.0.1 -p <free port> -m <free port> -js -sd <tmpdir>; stopped and its directory removed at the end) and run the system on it: its monitoring endpoint (/varz) gives the NATS messages and bytes per chat message, counting nothing but this run.' },
  { name: 'nats-monitor', kind: 'string', value: '<http-url>', help: 'The monitoring endpoint (nats-server -m) of the NATS the system uses, e.g. http://127.0.0.1:8222: its /varz gives the NATS messages and bytes per chat message. Everything else on that server counts too. Without this or --private-nats those figures are not measured (the machine\'s nats-server runs without monitoring).' },
  { name: 'database-url', kind: 'string', value: '<url>', help: DATABASE_HELP },
  { name: 'processes', kind: 'string', default: 'separate', choices: ['separate', 'two', 'one'], help: 'How the started system runs: `separate` = engine, projector and gateway each in a process of its own (as when scaling out); `two` = `--role backend` (engine and projectors) and `--role gateway`; `one` = one `parley start --role all` process (fewest processes to wake per message, one event loop for all).' },
  { name: 'engines', kind: 'int', default: 1, min: 1, max: 8, help: 'Engine processes (with --processes separate): they share the command partitions by leases (README "Scale-out"). Their CPU is reported as engine, engine-2, …' },
  { name: 'projectors', kind: 'int', default: 1, min: 1, max: 8, help: 'Projector processes (with --processes separate, and a Postgres for the read models: PGlite is one process): PARLEY_DELIVERY_PARTITIONS is set to this, and they share the delivery and push partitions by leases; the run waits until they hold even shares. Their CPU is reported as projector, projector-2, …' },
  { name: 'env', kind: 'list', value: '<KEY=VALUE>', help: 'Extra environment for the started roles, e.g. --env PARLEY_PARTITIONS=16 (repeatable; applied last).' },
  { name: 'keep', kind: 'bool', help: 'Keep the started system\'s streams and data directory (the prefix is printed).' },
  { name: 'sample-interval', kind: 'int', default: 1000, min: 100, value: '<ms>', help: 'How often process CPU and RSS are read from /proc.' },
  { name: 'cpu-prof', kind: 'string', value: '<dir>', help: 'Write V8 CPU profiles (.cpuprofile, open in Chrome DevTools) of the generators and of the started roles into this directory; with --private-nats also a Go CPU profile of nats-server over the measured window (nats-server/cpu.pb.gz). The report summarises them ("Where the time goes").' },
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

Cost per message: CPU µs of each server process and of all of them (their CPU seconds in the
measured window ÷ messages sent in it; for groups also ÷ deliveries), and, with --private-nats or
--nats-monitor, the NATS messages and bytes through nats-server per chat message (/varz).

Output: bench/results/<run>.json (everything, per-second series included), <run>.md (summary) and
<run>.svg (latency percentiles, throughput and CPU over time). Exit code 0 when nothing was lost,
duplicated or rejected, 1 otherwise, 2 on a usage error.

Flags:
${flagsHelp(flags)}

Examples:
  npm run bench -- load --connections 200 --rate 1000 --duration 10
  npm run bench -- load --connections 200 --rate 1000 --duration 10 --private-nats   # + NATS msgs/bytes per message
  npm run bench -- load --connections 2000 --rate 5000 --duration 60
  npm run bench -- load --connections 2000 --members 50 --rate 2000 --duration 60
  npm run bench -- load --url ws://127.0.0.1:8080/ws --connections 100 --rate 200
  npm run bench -- load --fake-gateway --connections 2000 --rate 10000     # the generators' own ceiling
  npm run bench -- load --fake-gateway --fake-frames minimal --connections 2000 --members 50 --rate 2000
                                                                  # the socket-I/O floor of this machine
`;

export type Options = {
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
  /** With --private-nats: the private server's monitoring endpoint, set once it runs. */
  natsMonitor?: string;
  privateNats: boolean;
  databaseUrl?: string;
  env: Record<string, string>;
  processes: 'separate' | 'two' | 'one';
  engines: number;
  projectors: number;
  keep: boolean;
  sampleIntervalMs: number;
  cpuProf?: string;
  repeat: number;
  label?: string;
  outDir: string;
  quiet: boolean;
};

export function parseOptions(argv: string[]): Options | 'help' {
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
    ...(g.optStr('nats-monitor') ? { natsMonitor: g.str('nats-monitor') } : {}),
    privateNats: g.bool('private-nats'),
    ...(g.optStr('database-url') ? { databaseUrl: g.str('database-url') } : {}),
    env,
    processes: g.str('processes') as 'separate' | 'two' | 'one',
    engines: g.int('engines'),
    projectors: g.int('projectors'),
    keep: g.bool('keep'),
    sampleIntervalMs: g.int('sample-interval'),
    ...(g.optStr('cpu-prof') ? { cpuProf: resolve(g.str('cpu-prof')) } : {}),
    repeat: g.int('repeat'),
    ...(g.optStr('label') ? { label: g.str('label') } : {}),
    outDir: g.optStr('out') ?? RESULTS_DIR,
    quiet: g.bool('quiet'),
  };
  if (o.fakeGateway && o.url) throw new FlagError('--fake-gateway and --url exclude each other');
  if (o.engines > 1 && o.processes !== 'separate') throw new FlagError('--engines needs --processes separate');
  if (o.projectors > 1 && o.processes !== 'separate') throw new FlagError('--projectors needs --processes separate');
  if (o.projectors > 1 && o.databaseUrl === 'embedded') throw new FlagError('--projectors needs Postgres for the read models: the embedded PGlite is one process');
  // Each projector process holds one delivery partition (every partition reads the whole log: README "Scale-out").
  if (o.projectors > 1) o.env.PARLEY_DELIVERY_PARTITIONS ??= String(o.projectors);
  if (o.fakeFrames !== 'full' && !o.fakeGateway) throw new FlagError('--fake-frames needs --fake-gateway');
  if (o.natsMonitor !== undefined) {
    try {
      varzUrl(o.natsMonitor);
    } catch (e) {
      throw new FlagError(`--nats-monitor must be an http:// URL, got ${JSON.stringify(o.natsMonitor)} (${(e as Error).message})`);
    }
  }
  if (o.privateNats) {
    const clash = [['nats', g.optStr('nats')], ['nats-monitor', o.natsMonitor], ['url', o.url], ['fake-gateway', o.fakeGateway || undefined], ['keep', o.keep || undefined]].find(([, v]) => v !== undefined);
    if (clash) throw new FlagError(`--private-nats and --${clash[0]} exclude each other (--private-nats starts the system on a nats-server of its own, removed at the end)`);
  }
  if (o.natsMonitor !== undefined && o.fakeGateway) throw new FlagError('--nats-monitor and --fake-gateway exclude each other (the fake gateway uses no NATS)');
  // fail on an impossible plan now, not after starting the system
  planLoad({ connections: o.connections, members: o.members, ...(o.conversations ? { conversations: o.conversations } : {}), workers: o.workers, rate: o.rate, runTag: 'check' });
  return o;
}
