/**
 * `npm run bench -- storm`: K clients connected and receiving all drop at once, M messages are
 * sent to each of them meanwhile, then they all resume at once from their cursors. How long until
 * every one has caught up, and is anything lost or duplicated?
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { ClientPool, merge } from './scenario-lib/client-pool.js';
import { cpuSeconds, fmtInt, formatMs, inBatches, intFlag, isMain, load1, machineLine, openFilesLimit, rssOf, summarize, UsageError, waitFor, withUsage } from './scenario-lib/common.js';
import { READ_MODELS_NOTE } from './lib/database.js';
import { startScenarioSystem, tearDown } from './scenario-lib/system.js';
import { DriverClient } from './scenario-lib/ws-client.js';

export const help = `Usage: npm run bench -- storm [options]

Starts its own Parley: engine, delivery projector and gateway as separate processes
(node bin/parley.mjs start --role …) on a private PARLEY_PREFIX, with a high per-connection frame
rate (PARLEY_FRAMES_PER_SECOND / PARLEY_FRAME_BURST). Then:

  1. K clients (distinct users, in several client processes) connect; a sender user puts them in
     groups of --group-size and sends one message to each group, which every client receives live;
  2. all K clients drop at once (socket terminated, no close frame);
  3. the sender sends --messages more messages to every group; the bench waits until the delivery
     projector has written all of them to the inboxes (reported as the projection time);
  4. all K clients reconnect at once with ?cursor=<the last seq they got>.

Reported: time until every client has caught up (received every message it missed), p50/p99 per
client (from the resume start) for connection.success and for caught-up, resumed/reset counts, and
loss, duplicates and out-of-order frames (all three must be 0; exit code 1 otherwise). The target is
10,000 clients resumed from their cursors within 10 s.

Options:
  --clients <n>              K (default 10000)
  --group-size <n>           clients per group, at most 999 (default 100)
  --messages <n>             M: messages each client misses while dropped (default 10)
  --workers <n>              client processes (default: one per 2500 clients, at least 2)
  --codec <c>                json | msgpack, the clients' codec (default json)
  --connect-concurrency <n>  connection attempts in flight for the first connect (default 256)
  --resume-concurrency <n>   reconnections in flight over all client processes; 0 = all at once (default 0)
  --timeout-s <n>            bound for the resume (and for every other wait) (default 120)
  --reconnects <n>           while connecting and resuming, a client whose attempt fails or whose
                             socket the server closes (4009 slow consumer, 1011 inbox unavailable,
                             1006 …) reconnects, from its cursor once it has one, after 100–500 ms,
                             as the protocol says, at most n times (default 5; 0: never); every
                             such close and failed attempt is reported
  --allow-fallback           run even if uWebSockets.js is on its slow ws fallback
  -h, --help                 this help

${READ_MODELS_NOTE}
`;

export async function run(argv: string[]): Promise<number> {
  return withUsage(help, async () => {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        clients: { type: 'string' },
        'group-size': { type: 'string' },
        messages: { type: 'string' },
        workers: { type: 'string' },
        codec: { type: 'string' },
        'connect-concurrency': { type: 'string' },
        'resume-concurrency': { type: 'string' },
        'timeout-s': { type: 'string' },
        reconnects: { type: 'string' },
        'allow-fallback': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      process.stdout.write(help);
      return 0;
    }
    const K = intFlag(values, 'clients', 10_000);
    const G = Math.min(intFlag(values, 'group-size', 100), K);
    const M = intFlag(values, 'messages', 10);
    const connectConcurrency = intFlag(values, 'connect-concurrency', 256);
    const resumeConcurrency = intFlag(values, 'resume-concurrency', 0, 0);
    const timeoutMs = intFlag(values, 'timeout-s', 120) * 1000;
    const reconnects = intFlag(values, 'reconnects', 5, 0);
    const codec = (values.codec ?? 'json') as 'json' | 'msgpack';
    if (codec !== 'json' && codec !== 'msgpack') throw new UsageError('--codec must be json or msgpack');
    if (G > 999) throw new UsageError('--group-size is at most 999 (a group has at most 1000 members, the sender included)');
    if (M + 1 > 9_000) throw new UsageError('--messages must stay well under PARLEY_INBOX_MAX_PER_USER (10000)');
    const fdLimit = openFilesLimit('self').soft;
    if (K + 200 > fdLimit) throw new UsageError(`--clients ${K} does not fit under the gateway's open-files limit (ulimit -n ${fdLimit})`);
    const workers = values.workers !== undefined ? intFlag(values, 'workers', 1) : Math.max(2, Math.ceil(K / 2_500));
    const groups = Math.ceil(K / G);
    const total = M + 1; // the live warm-up message, then the M missed ones

    process.stdout.write(`${machineLine()}\n`);
    const system = await startScenarioSystem('storm', {}, { raiseFrameLimits: true });
    let pool: ClientPool | undefined;
    let sender: DriverClient | undefined;
    let failed = false;
    try {
      await system.start('engine');
      await system.start('projector');
      const gw = await system.start('gateway');
      const health = await system.health();
      if (!health.uws.native && !values['allow-fallback']) {
        process.stderr.write(`refusing to bench: uWebSockets.js is on its slow ws fallback (${health.uws.reason ?? 'unknown reason'}); --allow-fallback to run anyway\n`);
        return 1;
      }
      process.stdout.write(
        `system: prefix ${system.prefix}, gateway pid ${gw.pid} at ${system.url} (uWS native ${health.uws.native}), engine pid ${system.role('engine').pid}, projector pid ${system.role('projector').pid}\n` +
          `storm: ${fmtInt(K)} clients in ${groups} groups of ≤${G} (+ the sender), ${M} missed messages each, ${workers} client processes, codec ${codec}\n`,
      );

      // 1. Connect, form the groups, one live message to everyone.
      const users = Array.from({ length: K }, (_, i) => `su${i}`);
      pool = (await ClientPool.start({ url: system.url, secret: system.secret, codec, localAddresses: [], tokenTtlSec: 6 * 3600, users, workers })).pool;
      const connected = merge(await pool.connect({ concurrency: connectConcurrency, resume: false, reconnects, timeoutMs }));
      const c1 = summarize(connected.successMs);
      process.stdout.write(
        `connect: ${fmtInt(connected.success)}/${fmtInt(K)} connection.success in ${formatMs(connected.wallMs)} (p50 ${formatMs(c1.p50)}, p99 ${formatMs(c1.p99)} per connection)${connected.failed ? `; failed ${JSON.stringify(connected.errors)}` : ''}` +
          `${Object.keys(connected.attemptErrors).length ? `; failed attempts, retried: ${JSON.stringify(connected.attemptErrors)}` : ''}\n`,
      );
      if (connected.success !== K) throw new Error('not every client connected');

      sender = await DriverClient.open(system.url, await system.token('sender'));
      const conversationIds: string[] = [];
      const tGroups = performance.now();
      await inBatches(groups, 50, async (g) => {
        const members = users.slice(g * G, (g + 1) * G);
        const answer = await sender!.request({ type: 'conversation.create', ref: `g${g}`, payload: { kind: 'group', title: `storm ${g}`, members } }, timeoutMs);
        if (answer.type !== 'conversation.created') throw new Error(`conversation.create ${g}: answered ${answer.type}`);
        conversationIds[g] = answer.payload.conversation.id;
      });
      const allJoined = await waitFor(async () => (await pool!.stats()).reduce((a, s) => a + s.conversations, 0) >= K, timeoutMs, 250);
      process.stdout.write(`groups: ${groups} created in ${formatMs(performance.now() - tGroups)}; every client got conversation.created: ${allJoined}\n`);
      if (!allJoined) throw new Error('not every client got conversation.created');

      const live = pool.expect(1, timeoutMs);
      await sendRound(sender, conversationIds, 1, timeoutMs);
      const liveResults = await live;
      const liveMs = summarize(liveResults.flatMap((r) => r.ms));
      const liveIncomplete = liveResults.reduce((a, r) => a + r.incomplete, 0);
      process.stdout.write(`receiving: message 1 live to ${fmtInt(K - liveIncomplete)}/${fmtInt(K)} clients (p50 ${formatMs(liveMs.p50)}, p99 ${formatMs(liveMs.p99)} from the send)\n`);
      if (liveIncomplete) throw new Error('not every client received the live message');

      // 2. Everyone drops at once.
      const tDrop = performance.now();
      const dropped = (await pool.drop(30_000)).reduce((a, d) => a + d.dropped, 0);
      const gone = await waitFor(async () => (await system.health()).connections <= 1, timeoutMs, 200);
      process.stdout.write(`drop: ${fmtInt(dropped)} sockets terminated; gateway down to the sender's connection in ${formatMs(performance.now() - tDrop)}${gone ? '' : ' (NOT within the bound)'}\n`);
      const inboxBefore = await system.inboxMessages();

      // 3. M messages to every group while they are away; wait until the inboxes hold them all.
      const tSend = performance.now();
      for (let m = 2; m <= total; m++) await sendRound(sender, conversationIds, m, timeoutMs);
      const sendMs = performance.now() - tSend;
      const expectedInbox = inboxBefore + groups * M + K * M; // every message: one entry per member, the sender included
      let inboxNow = 0;
      const projected = await waitFor(
        async () => {
          inboxNow = await system.inboxMessages();
          return inboxNow >= expectedInbox;
        },
        Math.max(timeoutMs, 600_000),
        250,
      );
      const projectMs = performance.now() - tSend;
      process.stdout.write(
        `while away: ${fmtInt(groups * M)} messages sent and confirmed in ${formatMs(sendMs)}; ${fmtInt(K * M + groups * M)} inbox entries written in ${formatMs(projectMs)} ` +
          `(${fmtInt(((K * M + groups * M) / projectMs) * 1000)}/s)${projected ? '' : ` — ONLY ${fmtInt(inboxNow - inboxBefore)} within the bound`}\n`,
      );
      if (!projected) throw new Error('the projector did not write every inbox entry in time');

      // 4. Everyone resumes at once from their cursor.
      const load = load1();
      const rssBefore = rssOf(gw.pid);
      const gwCpu0 = cpuSeconds(gw.pid);
      const clientCpu0 = pool.workers.reduce((a, w) => a + cpuSeconds(w.pid), 0);
      const tResume = performance.now();
      const resumed = merge(await pool.connect({ concurrency: resumeConcurrency, resume: true, expectUpTo: total, reconnects, timeoutMs }));
      const wallMs = performance.now() - tResume;
      const gwCpu = cpuSeconds(gw.pid) - gwCpu0;
      const clientCpu = pool.workers.reduce((a, w) => a + cpuSeconds(w.pid), 0) - clientCpu0;
      const success = summarize(resumed.successMs);
      const caught = summarize(resumed.caughtUpMs);
      const verify = await pool.verify(total);
      const missing = verify.reduce((a, v) => a + v.missing, 0);
      const duplicates = verify.reduce((a, v) => a + v.duplicates, 0);
      const outOfOrder = verify.reduce((a, v) => a + v.outOfOrder, 0);
      const unexpected = verify.reduce((a, v) => a + v.unexpected, 0);
      const example = verify.find((v) => v.example)?.example;
      const allCaught = resumed.caughtUpMs.length === K;
      const slowest = allCaught ? caught.max : Number.NaN;

      process.stdout.write(`\nresume storm: ${fmtInt(K)} clients, ${M} missed messages each, ${resumeConcurrency || 'all'} reconnecting at once; load average before ${load.toFixed(2)}\n`);
      process.stdout.write(
        `  connection.success: ${fmtInt(resumed.success)}/${fmtInt(K)} (resumed: true ${fmtInt(resumed.resumedFlags)}, resume.reset ${fmtInt(resumed.resets)}); p50 ${formatMs(success.p50)}, p99 ${formatMs(success.p99)}, max ${formatMs(success.max)}` +
          `${resumed.failed ? `; failed ${JSON.stringify(resumed.errors)}` : ''}\n`,
      );
      process.stdout.write(
        `  caught up: ${fmtInt(resumed.caughtUpMs.length)}/${fmtInt(K)}; all caught up in ${allCaught ? formatMs(slowest) : `NOT within ${timeoutMs / 1000} s`} (wall ${formatMs(wallMs)}); per client p50 ${formatMs(caught.p50)}, p99 ${formatMs(caught.p99)}\n`,
      );
      const closes = Object.keys(resumed.closedBy).length ? JSON.stringify(resumed.closedBy) : 'none';
      const attemptErrors = Object.keys(resumed.attemptErrors).length ? JSON.stringify(resumed.attemptErrors) : 'none';
      process.stdout.write(`  closed by the server after connection.success: ${closes}; failed attempts: ${attemptErrors}; reconnects from the cursor: ${fmtInt(resumed.reconnects)}\n`);
      process.stdout.write(`  loss ${fmtInt(missing)}, duplicates ${fmtInt(duplicates)}, out of order ${fmtInt(outOfOrder)}, unexpected ${fmtInt(unexpected)}${example ? `; e.g. ${example}` : ''}\n`);
      process.stdout.write(
        `  CPU during the resume: gateway ${gwCpu.toFixed(1)} s (${fmtInt((gwCpu * 1e6) / K)} µs per client), clients ${clientCpu.toFixed(1)} s; gateway VmRSS ${(rssBefore / 2 ** 20).toFixed(0)} → ${(rssOf(gw.pid) / 2 ** 20).toFixed(0)} MiB; load average after ${load1().toFixed(2)}\n`,
      );
      process.stdout.write(`  target: ${fmtInt(K)} clients caught up within 10 s: ${allCaught && slowest <= 10_000 ? 'met' : 'MISSED'}\n`);
      if (sender.errors.length) process.stdout.write(`  sender errors: ${JSON.stringify(sender.errors.slice(0, 3))}\n`);
      failed = !allCaught || missing + duplicates + outOfOrder + unexpected > 0 || resumed.resets > 0;
      return failed ? 1 : 0;
    } finally {
      sender?.terminate();
      await pool?.close();
      await tearDown(system);
    }
  });
}

/** Message `m` (its per-conversation seq) to every group, ≤ 200 awaiting their message.sent. */
async function sendRound(sender: DriverClient, conversationIds: string[], m: number, timeoutMs: number): Promise<void> {
  await inBatches(conversationIds.length, 200, (g) =>
    sender.request({ type: 'message.send', ref: `m${g}.${m}`, payload: { conversationId: conversationIds[g]!, tempId: `t${g}.${m}`, content: `storm message ${m} to group ${g}` } }, timeoutMs),
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
