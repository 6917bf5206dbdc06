/**
 * `npm run bench -- presence`: many connected users, each with a fixed set of contacts (direct
 * conversations), disconnecting and coming back at a steady rate. What presence costs (frames,
 * CPU per process) and how long a contact waits for user.offline after a user goes.
 */
import { parseArgs } from 'node:util';
import { Worker } from './scenario-lib/client-pool.js';
import { cpuSeconds, fmtInt, formatMs, intFlag, isMain, machineLine, openFilesLimit, summarize, UsageError, waitFor, withUsage } from './scenario-lib/common.js';
import { READ_MODELS_NOTE } from './lib/database.js';
import { findListener } from './lib/procstats.js';
import { startScenarioSystem, tearDown } from './scenario-lib/system.js';
import type { ChurnAnswer, ConnectAnswer, ContactsAnswer, PresenceWorkerInit } from './presence/protocol.js';
import { fileURLToPath } from 'node:url';

const workerFile = fileURLToPath(new URL('./presence/worker.ts', import.meta.url));

export const help = `Usage: npm run bench -- presence [options]

Starts its own Parley (engine, projector, gateway as separate processes, on a private prefix), then:

  1. --users clients connect (distinct users, in several client processes);
  2. each user gets --contacts contacts: user i creates the direct conversations with users
     i+1 … i+contacts/2 (mod users), so every user has the contacts/2 before and after it;
  3. churn: for --duration seconds, --churn users a second (picked at random among those present)
     close their socket and reconnect --away-ms later.

Reported: presence frames delivered a second over the window (the churn, until the last user is back) (user.online, user.offline,
status.bulk), CPU seconds per process over the churn (and µs per disconnect), the time from a
disconnect to each contact's user.offline (p50, p99, max), and user.offline received per
disconnect (at most the contacts present at the time).

Options:
  --users <n>          connected users (default 10000)
  --contacts <n>       contacts per user, even (default 20)
  --churn <n>          disconnects a second (default 200)
  --away-ms <n>        how long a user stays away; longer than lease + grace to be announced (default 30000)
  --duration <s>       seconds of churn (default 30)
  --workers <n>        client processes (default: one per 2500 users, at least 2)
  --timeout-s <n>      bound for every wait (default 300)
  --allow-fallback     run even if uWebSockets.js is on its slow ws fallback
  -h, --help           this help

${READ_MODELS_NOTE}
`;

export async function run(argv: string[]): Promise<number> {
  return withUsage(help, async () => {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        users: { type: 'string' },
        contacts: { type: 'string' },
        churn: { type: 'string' },
        'away-ms': { type: 'string' },
        duration: { type: 'string' },
        workers: { type: 'string' },
        'timeout-s': { type: 'string' },
        'allow-fallback': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      process.stdout.write(help);
      return 0;
    }
    const users = intFlag(values, 'users', 10_000, 2);
    const contacts = intFlag(values, 'contacts', 20, 2);
    const churnRate = intFlag(values, 'churn', 200);
    const awayMs = intFlag(values, 'away-ms', 30_000);
    const durationMs = intFlag(values, 'duration', 30) * 1000;
    const timeoutMs = intFlag(values, 'timeout-s', 300) * 1000;
    if (contacts % 2 !== 0 || contacts >= users) throw new UsageError('--contacts must be even and below --users');
    const fdLimit = openFilesLimit('self').soft;
    if (users + 200 > fdLimit) throw new UsageError(`--users ${users} does not fit under the gateway's open-files limit (ulimit -n ${fdLimit})`);
    const workerCount = values.workers !== undefined ? intFlag(values, 'workers', 1) : Math.max(2, Math.ceil(users / 2_500));

    process.stdout.write(`${machineLine()}\n`);
    const system = await startScenarioSystem('presence', {}, { raiseFrameLimits: true });
    const workers: Worker[] = [];
    try {
      await system.start('engine');
      const projector = await system.start('projector');
      const gw = await system.start('gateway');
      const health = await system.health();
      if (!health.uws.native && !values['allow-fallback']) {
        process.stderr.write(`refusing to bench: uWebSockets.js is on its slow ws fallback (${health.uws.reason ?? 'unknown reason'}); --allow-fallback to run anyway\n`);
        return 1;
      }
      process.stdout.write(`presence: ${fmtInt(users)} users, ${contacts} contacts each, churn ${churnRate}/s for ${durationMs / 1000} s, away ${awayMs} ms, ${workerCount} client processes\n`);

      for (let i = 0; i < workerCount; i++) workers.push(new Worker(i, workerFile));
      await Promise.all(workers.map((w) => w.ready));
      const per = Math.ceil(users / workerCount);
      await Promise.all(
        workers.map((w, i) => {
          const init: PresenceWorkerInit = { url: system.url, secret: system.secret, first: i * per, count: Math.max(0, Math.min(per, users - i * per)), users, contacts, tokenTtlSec: 6 * 3600 };
          return w.request('init', init, 300_000);
        }),
      );
      const all = <T>(op: string, args: object, ms = timeoutMs + 60_000) => Promise.all(workers.map((w) => w.request<T>(op, args, ms)));

      const connected = await all<ConnectAnswer>('connect', { concurrency: Math.ceil(256 / workerCount), timeoutMs });
      const ok = connected.reduce((a, c) => a + c.success, 0);
      process.stdout.write(`connect: ${fmtInt(ok)}/${fmtInt(users)} in ${formatMs(Math.max(...connected.map((c) => c.wallMs)))}${ok < users ? ` — failed ${JSON.stringify(connected.map((c) => c.errors))}` : ''}\n`);
      if (ok < users) throw new Error('not every user connected');

      const made = await all<ContactsAnswer>('contacts', { concurrency: Math.ceil(200 / workerCount), timeoutMs });
      const created = made.reduce((a, c) => a + c.created, 0);
      process.stdout.write(`contacts: ${fmtInt(created)}/${fmtInt((users * contacts) / 2)} direct conversations in ${formatMs(Math.max(...made.map((c) => c.wallMs)))}${created < (users * contacts) / 2 ? ` — failed ${JSON.stringify(made.map((c) => c.errors))}` : ''}\n`);
      // Contacts are read from the read models: let the projectors catch up before measuring.
      const tSettle = Date.now();
      const settled = await waitFor(async () => (await system.readModelLag().catch(() => Number.POSITIVE_INFINITY)) === 0, timeoutMs, 500);
      process.stdout.write(`read models caught up: ${settled} (${formatMs(Date.now() - tSettle)})\n`);
      // As autovacuum would after such a load (within a minute or so): a planner still holding the
      // empty tables' statistics reads every conversation for each user's contacts.
      await system.analyzeReadModels();

      const natsPid = findListener(4222);
      const tracked: [string, number][] = [
        ['gateway', gw.pid],
        ['engine', system.role('engine').pid],
        ['projector', projector.pid],
        ...(natsPid ? [['nats-server', natsPid] as [string, number]] : []),
        ...workers.map((w, i) => [`clients-${i + 1}`, w.pid] as [string, number]),
      ];
      const cpu0 = tracked.map(([, pid]) => cpuSeconds(pid));
      await all('record', {});
      const t0 = Date.now();
      await all('churn', { perSecond: churnRate / workerCount, durationMs, awayMs, timeoutMs });
      const windowMs = Date.now() - t0;
      const cpu = tracked.map(([name, pid], i) => [name, cpuSeconds(pid) - cpu0[i]!] as const);
      // The last ones back get their status.bulk and their contacts their user.online a moment later.
      await new Promise((r) => setTimeout(r, 3_000));
      const results = await all<ChurnAnswer>('results', {});
      report({ results, cpu, windowMs, durationMs, contacts });
      return 0;
    } finally {
      await Promise.all(workers.map((w) => w.request('close', {}, 10_000).catch(() => w.child.kill('SIGKILL'))));
      await tearDown(system);
    }
  });
}

function report(r: { results: ChurnAnswer[]; cpu: readonly (readonly [string, number])[]; windowMs: number; durationMs: number; contacts: number }): void {
  const disconnects = r.results.flatMap((x) => x.disconnects).sort((a, b) => a[1] - b[1]);
  const offline = r.results.flatMap((x) => x.offline);
  const online = r.results.reduce((a, x) => a + x.online, 0);
  const bulk = r.results.reduce((a, x) => a + x.statusBulk, 0);
  const bulkUsers = r.results.reduce((a, x) => a + x.statusBulkUsers, 0);
  const byUser = new Map<number, number[]>();
  for (const [u, t] of disconnects) (byUser.get(u) ?? byUser.set(u, []).get(u)!).push(t);
  // Each user.offline against the user's latest disconnect before it.
  const waits: number[] = [];
  let unmatched = 0;
  for (const [u, t] of offline) {
    const times = byUser.get(u);
    const before = times?.filter((d) => d <= t).at(-1);
    if (before === undefined) unmatched++;
    else waits.push(t - before);
  }
  const w = summarize(waits);
  const seconds = r.windowMs / 1000;
  process.stdout.write(
    `\nchurn: ${fmtInt(disconnects.length)} disconnects in ${(r.durationMs / 1000).toFixed(0)} s (${fmtInt(disconnects.length / (r.durationMs / 1000))}/s); the window, until the last one is back: ${seconds.toFixed(1)} s\n`,
  );
  process.stdout.write(
    `presence frames delivered: user.offline ${fmtInt(offline.length)}, user.online ${fmtInt(online)}, status.bulk ${fmtInt(bulk)} (${fmtInt(bulkUsers)} users listed); ` +
      `${fmtInt((offline.length + online + bulk) / seconds)}/s\n`,
  );
  process.stdout.write(`user.offline per disconnect: ${(offline.length / Math.max(1, disconnects.length)).toFixed(1)} (of ${r.contacts} contacts, fewer when some are away)${unmatched ? `; ${unmatched} without a disconnect before them` : ''}\n`);
  process.stdout.write(`disconnect → user.offline at a contact: p50 ${formatMs(w.p50)}, p99 ${formatMs(w.p99)}, max ${formatMs(w.max)} (${fmtInt(waits.length)} samples)\n`);
  process.stdout.write(
    `CPU over the window, and per churn (a disconnect and its reconnect): ${r.cpu.map(([name, s]) => `${name} ${s.toFixed(1)} s (${fmtInt((s * 1e6) / Math.max(1, disconnects.length))} µs)`).join(', ')}\n`,
  );
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
