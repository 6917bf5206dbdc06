/**
 * `npm run bench -- connections`: idle authenticated connections on ONE gateway process, and what
 * each costs it (RSS), how long connecting takes, and whether every one got connection.success.
 */
import { parseArgs } from 'node:util';
import { ClientPool, merge } from './scenario-lib/client-pool.js';
import {
  cpuSeconds,
  ephemeralPorts,
  fmtBytes,
  fmtInt,
  formatMs,
  intFlag,
  isMain,
  load1,
  machineLine,
  median,
  openFiles,
  openFilesLimit,
  rssOf,
  sleep,
  summarize,
  UsageError,
  waitFor,
  withUsage,
} from './scenario-lib/common.js';
import { READ_MODELS_NOTE } from './lib/database.js';
import { startScenarioSystem, tearDown } from './scenario-lib/system.js';

export const help = `Usage: npm run bench -- connections [options]

Starts ONE gateway process (node bin/parley.mjs start --role gateway, private PARLEY_PREFIX, free
port, random JWT secret) and opens idle authenticated WebSocket connections to it, one distinct user
each (so every connection also costs the gateway its per-user NATS subscriptions), from several
client processes. Past 20,000 connections they come from source addresses 127.0.0.2 … 127.0.0.(N+1)
(the ws client's localAddress), because one address has only the ephemeral port range (~28k
ports); up to 20,000 the kernel picks the ports (cheaper, and bound ports would be taken from every
other process's outgoing connections). Sockets are dropped with a TCP reset, so no TIME_WAIT
lingers on the client side. Connections
are opened in steps; after each step the gateway's VmRSS is sampled. Reports gateway RSS per
connection (delta over the idle baseline, and the marginal slope between the first and the last
step), time to connect (total, and p50/p99 per connection: socket opened → connection.success),
how many got connection.success and unread.summary, client-side memory, and the limits in the way.
The target is 50,000 idle authenticated connections with ≤ 4 KiB of gateway RSS each.

A process cannot hold more sockets than its open-files limit (ulimit -n, checked and reported).
The gateway inherits this process's limit: when --connections does not fit under it, the run is
clamped to what fits, and says so (--no-clamp tries anyway and counts the failures).

Options:
  --connections <n>     target connections (default 50000)
  --steps <n>           connect in this many equal steps, sampling RSS after each (default 4)
  --concurrency <n>     connection attempts in flight, over all client processes (default 256)
  --workers <n>         client processes (default: one per 5000 connections, at least 2)
  --addresses <n>       bind to this many source addresses 127.0.0.2… (default: 0 up to 20000
                        connections, else one per 20000)
  --codec <c>           json | msgpack (default json)
  --settle-ms <n>       wait after each step before sampling RSS (default 3000)
  --hold-ms <n>         keep the connections open this long at the end, then check they are all still there (default 5000)
  --timeout-s <n>       bound for each connection step (default 300)
  --no-clamp            do not clamp --connections to the open-files limit
  --allow-fallback      run even if uWebSockets.js is on its slow ws fallback (the figures then mean little)
  -h, --help            this help

${READ_MODELS_NOTE}
`;

export async function run(argv: string[]): Promise<number> {
  return withUsage(help, async () => {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        connections: { type: 'string' },
        steps: { type: 'string' },
        concurrency: { type: 'string' },
        workers: { type: 'string' },
        addresses: { type: 'string' },
        codec: { type: 'string' },
        'settle-ms': { type: 'string' },
        'hold-ms': { type: 'string' },
        'timeout-s': { type: 'string' },
        'no-clamp': { type: 'boolean' },
        'allow-fallback': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      process.stdout.write(help);
      return 0;
    }
    const target = intFlag(values, 'connections', 50_000);
    const steps = intFlag(values, 'steps', 4);
    const concurrency = intFlag(values, 'concurrency', 256);
    const settleMs = intFlag(values, 'settle-ms', 3_000, 0);
    const holdMs = intFlag(values, 'hold-ms', 5_000, 0);
    const stepTimeoutMs = intFlag(values, 'timeout-s', 300) * 1000;
    const codec = (values.codec ?? 'json') as 'json' | 'msgpack';
    if (codec !== 'json' && codec !== 'msgpack') throw new UsageError('--codec must be json or msgpack');

    const limit = openFilesLimit('self');
    const reserve = 200; // the gateway's own descriptors: NATS, epoll, timers, stdio, node internals
    const fits = Math.max(0, limit.soft - reserve);
    let connections = target;
    const limits: string[] = [];
    process.stdout.write(`${machineLine()}\n`);
    process.stdout.write(`open files (ulimit -n): soft ${limit.soft}, hard ${limit.hard}; ephemeral ports per source address: ${ephemeralPorts()}\n`);
    if (target > fits) {
      const note = `the gateway inherits ulimit -n ${limit.soft} (hard ${limit.hard}; raising it needs CAP_SYS_RESOURCE), so one gateway process holds at most ~${fits} sockets`;
      limits.push(note);
      if (!values['no-clamp']) {
        connections = fits;
        process.stdout.write(`LIMIT: ${note}: clamping ${fmtInt(target)} → ${fmtInt(connections)} connections (--no-clamp to try anyway)\n`);
      } else process.stdout.write(`LIMIT: ${note}; --no-clamp: trying ${fmtInt(target)} anyway\n`);
    }
    const workers = values.workers !== undefined ? intFlag(values, 'workers', 2) : Math.max(2, Math.ceil(connections / 5_000));
    const perWorker = Math.ceil(connections / workers);
    if (perWorker > fits) throw new UsageError(`--workers ${workers}: ${perWorker} sockets per client process do not fit under ulimit -n ${limit.soft}; use more workers`);
    // Up to 20,000 connections, no explicit source address: connect() then picks ports per
    // 4-tuple, which is cheap and leaves the ports usable for everyone else's connections. Binding a
    // source address (needed past one address's ephemeral range) makes each bind(port 0) slower as
    // the address fills up, and takes the port away from every other process's outgoing connections.
    const addresses = values.addresses !== undefined ? intFlag(values, 'addresses', 0, 0) : connections > 20_000 ? Math.ceil(connections / 20_000) : 0;
    if (addresses > 250) throw new UsageError('--addresses is at most 250');
    const localAddresses = Array.from({ length: addresses }, (_, i) => `127.0.0.${i + 2}`);
    const sources = addresses ? `source addresses ${localAddresses[0]}…${localAddresses[addresses - 1]} (bound)` : 'source address 127.0.0.1 (kernel-chosen, not bound)';

    const system = await startScenarioSystem('conn', { PARLEY_LOG_LEVEL: 'warn' });
    let pool: ClientPool | undefined;
    try {
      const gw = await system.start('gateway');
      const health = await system.health();
      if (!health.uws.native && !values['allow-fallback']) {
        process.stderr.write(`refusing to bench: uWebSockets.js is on its slow ws fallback (${health.uws.reason ?? 'unknown reason'}); --allow-fallback to run anyway\n`);
        return 1;
      }
      const gwLimit = openFilesLimit(gw.pid);
      process.stdout.write(
        `gateway pid ${gw.pid} at ${system.url} (prefix ${system.prefix}, uWS native ${health.uws.native}, open files limit ${gwLimit.soft}); ` +
          `${fmtInt(connections)} connections from ${workers} client processes, ${sources}, ${concurrency} in flight\n`,
      );

      const users = Array.from({ length: connections }, (_, i) => `cu${i}`);
      const started = await ClientPool.start({ url: system.url, secret: system.secret, codec, localAddresses, tokenTtlSec: 6 * 3600, users, workers });
      pool = started.pool;
      process.stdout.write(`tokens signed (${fmtInt(connections)}, ${formatMs(started.signMs)} in the slowest client process)\n`);

      // The idle baseline: the gateway has listened, connected to NATS and settled.
      await sleep(1_000);
      const baselineSamples: number[] = [];
      for (let i = 0; i < 3; i++) {
        baselineSamples.push(rssOf(gw.pid));
        await sleep(500);
      }
      const baseline = median(baselineSamples);
      process.stdout.write(`gateway baseline VmRSS ${fmtBytes(baseline)}\n`);

      const results = [];
      const checkpoints: { connections: number; rss: number; fds: number; load: number }[] = [];
      let connectWallMs = 0;
      let gatewayCpu = 0;
      for (let s = 1; s <= steps; s++) {
        const upTo = Math.round((connections * s) / steps);
        const cpu0 = cpuSeconds(gw.pid);
        const clientCpu0 = pool.workers.reduce((a, w) => a + cpuSeconds(w.pid), 0);
        const r = merge(await pool.connect({ upTo, concurrency, resume: false, timeoutMs: stepTimeoutMs }));
        connectWallMs += r.wallMs;
        const gwCpu = cpuSeconds(gw.pid) - cpu0;
        const clientCpu = pool.workers.reduce((a, w) => a + cpuSeconds(w.pid), 0) - clientCpu0;
        gatewayCpu += gwCpu;
        results.push(r);
        await sleep(settleMs);
        const h = await system.health();
        const rss = rssOf(gw.pid);
        checkpoints.push({ connections: h.connections, rss, fds: openFiles(gw.pid), load: load1() });
        process.stdout.write(
          `  step ${s}/${steps}: +${fmtInt(r.success)} ok, ${fmtInt(r.failed)} failed in ${formatMs(r.wallMs)}; gateway: ${fmtInt(h.connections)} connections, ${fmtInt(h.users)} users, ` +
            `VmRSS ${fmtBytes(rss)} (${fmtBytes((rss - baseline) / Math.max(1, h.connections))}/conn), ${fmtInt(openFiles(gw.pid))} fds; ` +
            `CPU gateway ${gwCpu.toFixed(1)} s (${fmtInt((gwCpu * 1e6) / Math.max(1, r.success))} µs/conn), clients ${clientCpu.toFixed(1)} s; load ${load1().toFixed(2)}` +
            `${r.failed ? `; errors ${JSON.stringify(r.errors)}` : ''}\n`,
        );
        if (r.failed) process.stdout.write(`    failed users (some): ${r.failedUsers.join(', ')}\n`);
        if (r.success === 0 && r.failed > 0) {
          limits.push(`step ${s}: no connection succeeded (${JSON.stringify(r.errors)})`);
          break;
        }
      }
      const all = merge(results);
      await sleep(holdMs);
      const h = await system.health();
      const stats = await pool.stats();
      const finalRss = rssOf(gw.pid);
      const clientRss = pool.workers.reduce((a, w) => a + rssOf(w.pid), 0);
      const unread = stats.reduce((a, x) => a + x.unreadSummaries, 0);
      const stillConnected = stats.reduce((a, x) => a + x.success, 0);
      const n = h.connections;
      const first = checkpoints[0]!;
      const last = checkpoints[checkpoints.length - 1]!;
      const slope = last.connections > first.connections ? (last.rss - first.rss) / (last.connections - first.connections) : Number.NaN;
      const perConn = (finalRss - baseline) / Math.max(1, n);
      const connect = summarize(all.successMs);

      process.stdout.write(`\nconnections: ${fmtInt(n)} open on the gateway after ${holdMs / 1000} s idle (target ${fmtInt(target)}), ${fmtInt(h.users)} users\n`);
      process.stdout.write(`  connection.success: ${fmtInt(all.success)} of ${fmtInt(all.attempted)} attempts (a failed one is tried again in the next step); still open at the end: ${fmtInt(stillConnected)}; unread.summary: ${fmtInt(unread)}\n`);
      if (all.failed) process.stdout.write(`  failed: ${fmtInt(all.failed)} ${JSON.stringify(all.errors)}\n`);
      process.stdout.write(
        `  time to connect: ${formatMs(connectWallMs)} in total (${fmtInt(all.success / (connectWallMs / 1000))}/s); per connection p50 ${formatMs(connect.p50)}, p99 ${formatMs(connect.p99)}, max ${formatMs(connect.max)} (${concurrency} in flight); gateway CPU ${gatewayCpu.toFixed(1)} s (${fmtInt((gatewayCpu * 1e6) / Math.max(1, all.success))} µs/conn)\n`,
      );
      process.stdout.write(
        `  gateway VmRSS: ${fmtBytes(baseline)} → ${fmtBytes(finalRss)}; per connection ${fmtBytes(perConn)} (delta/connections), marginal ${fmtBytes(slope)} (steps ${fmtInt(first.connections)} → ${fmtInt(last.connections)}); target ≤ 4 KiB: ${perConn <= 4096 ? 'met' : 'MISSED'}\n`,
      );
      process.stdout.write(`  client side: ${workers} processes, ${fmtBytes(clientRss)} VmRSS in total (${fmtBytes(clientRss / Math.max(1, n))}/conn)\n`);
      process.stdout.write(`  load average (1 min) at the end: ${load1().toFixed(2)}\n`);
      if (n < target) limits.push(`${fmtInt(n)} of the target ${fmtInt(target)} connections were held`);
      if (limits.length) process.stdout.write(`  limits: ${limits.join('; ')}\n`);
      const ok = all.failed === 0 && stillConnected === all.success && n === all.success;
      return ok ? 0 : 1;
    } finally {
      await pool?.close();
      await tearDown(system);
    }
  });
}

if (isMain(import.meta.url)) {
  run(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
