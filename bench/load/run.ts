/**
 * One load run, step by step: the target, the generators (connect, set up), the observers (process
 * stats, pipeline backlog), the clock, then everything stopped, the results merged and written.
 * Whatever fails, what was started is stopped; Ctrl-C stops the generators, which ends the run
 * early (a second Ctrl-C exits at once).
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import type { BacklogSampler } from '../lib/backlog.js';
import { summarizeDir } from '../lib/cpuprofile.js';
import { summarizePprofFile } from '../lib/pprof.js';
import { startPrivateNats, type PrivateNats } from '../lib/nats-monitor.js';
import { planLoad } from '../lib/load-plan.js';
import { loadAverage, ProcSampler } from '../lib/procstats.js';
import { fmtRate, gitInfo, machineInfo, rel, runId, writeRun } from '../lib/results.js';
import { chart } from './chart.js';
import { closeGenerators, connectGenerators, connectSummary, expect, progressPrinter, setUpConversations, spawnWorker, type Worker } from './generators.js';
import { merge } from './merge.js';
import type { Options } from './options.js';
import { startBacklog, trackedProcesses, watchNatsProfile, watchNatsTraffic, watchOtherProcesses, type NatsProfileFetch } from './observe.js';
import type { ToWorker } from './protocol.js';
import { markdown } from './report.js';
import type { LoadResult } from './result.js';
import { checkRuntime, startTarget, type Started } from './target.js';

const out = (line = '') => process.stdout.write(`${line}\n`);
const err = (line = '') => process.stderr.write(`${line}\n`);

let interrupted = false;

/** Did Ctrl-C (or SIGTERM) end a run early? Then --repeat stops too. */
export function wasInterrupted(): boolean {
  return interrupted;
}

function isLoopback(url: string): boolean {
  const h = new URL(url).hostname;
  return h === 'localhost' || h.startsWith('127.') || h === '[::1]' || h === '::1';
}

/** What a run has started so far, for stopping it whatever happens. */
type Running = Started & { workers: Worker[]; sampler?: ProcSampler; backlog?: BacklogSampler; nats?: PrivateNats; natsProfile?: { abort(): void } };

/** Kill everything synchronously when the process exits; stop the generators on the first signal. */
function onExitAndSignals(running: Running): () => void {
  const onExit = () => {
    running.system?.kill();
    running.fake?.kill('SIGKILL');
    for (const w of running.workers) w.child.kill('SIGKILL');
    running.nats?.kill();
  };
  process.on('exit', onExit);
  let stopping = false;
  const onSignal = () => {
    if (stopping) process.exit(130);
    stopping = true;
    interrupted = true;
    err('\ninterrupted: stopping the generators and the system …');
    for (const w of running.workers) w.child.kill('SIGTERM');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('exit', onExit);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

export async function runOnce(options: Options): Promise<LoadResult | 'refused' | 'failed'> {
  let o = options;
  const id = runId('load', o.label);
  const profDir = o.cpuProf ? join(o.cpuProf, id) : undefined;
  const runTag = `b${randomBytes(3).toString('hex')}`.slice(0, 6);
  const startedAt = new Date().toISOString();
  const env = machineInfo();
  const git = gitInfo();
  const running: Running = { workers: [] };
  const off = onExitAndSignals(running);
  try {
    // ------------------------------------------------ a private nats-server (--private-nats)
    if (o.privateNats) {
      const nats = (running.nats = await startPrivateNats({ profile: profDir !== undefined }));
      o = { ...o, natsUrl: nats.url, natsMonitor: nats.monitorUrl };
      out(`Private nats-server: pid ${nats.pid}, ${nats.url}, monitoring ${nats.monitorUrl}${nats.profileUrl ? `, pprof ${nats.profileUrl}` : ''}, store ${nats.storeDir} (removed at the end)`);
    }

    // ------------------------------------------------ the target
    const target = await startTarget(o, id, profDir, running);
    if (target === 'failed') return 'failed';
    const uws = checkRuntime(o, target.health);
    if (uws === 'refused') return 'refused';
    const { url, signing } = target;

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
    const onMessage = progressPrinter(o);
    for (const p of plans) running.workers.push(spawnWorker(p.worker, onMessage, profDir));
    const workers = running.workers;
    const connect = connectSummary(o, await connectGenerators(o, workers, plans, { url, signing, addresses, runTag }));
    const setUp = await setUpConversations(o, workers, totalConvs);

    // ------------------------------------------------ process stats
    const startAtEpochMs = performance.timeOrigin + performance.now() + 1000;
    const t0 = startAtEpochMs - performance.timeOrigin;
    const tracked = trackedProcesses(o, running, workers);
    const sampler = (running.sampler = new ProcSampler(tracked, o.sampleIntervalMs, t0));
    sampler.start();
    running.backlog = await startBacklog(o, running.system, t0);
    const others = watchOtherProcesses(o, t0, tracked);
    const natsTraffic = watchNatsTraffic(o, t0);
    const natsProfile = (running.natsProfile =
      profDir && running.nats?.profileUrl ? watchNatsProfile(o, t0, running.nats.profileUrl, join(profDir, 'nats-server', 'cpu.pb.gz')) : undefined);

    // ------------------------------------------------ go
    for (const w of workers) w.child.send({ kind: 'start', startAtEpochMs } satisfies ToWorker);
    const budget = (o.warmupS + o.durationS + o.drainS) * 1000 + o.graceMs + 60_000;
    const results = await Promise.all(workers.map((w) => expect(w, 'result', budget)));
    others.cancel();
    natsTraffic.cancel();
    const nats = await natsTraffic.result();
    if (interrupted) natsProfile?.abort(); // the window was cut short: do not wait out the profile's full length
    const natsProf = await natsProfile?.result();
    sampler.stop();
    await running.backlog?.stop();
    const loadEnd = loadAverage();
    await closeGenerators(workers);
    const stopNotes = running.system ? await running.system.stop({ keepStreams: o.keep }) : [];
    running.fake?.kill('SIGTERM');
    await running.nats?.stop();
    for (const n of stopNotes) err(`note: ${n}`);

    // ------------------------------------------------ merge
    const result = merge(o, results, sampler, running.backlog?.samples ?? [], {
      id,
      startedAt,
      env,
      git,
      loadEnd,
      url,
      uws,
      addresses,
      ...(running.system ? { system: running.system } : {}),
      connect,
      setupMsMax: Math.max(...setUp.ready.map((r) => r.ms)),
      setupFailed: setUp.failed,
      stopNotes: [...setUp.ready.flatMap((r) => (r.firstError ? [`set-up: ${r.firstError}`] : [])), ...stopNotes],
      others: others.result(),
      nats,
      ...(running.nats ? { privateNats: { pid: running.nats.pid, monitorUrl: running.nats.monitorUrl, storeDir: running.nats.storeDir } } : {}),
    });
    writeResult(o, id, result, profDir, natsProf);
    return result;
  } catch (e) {
    err(`bench load: ${(e as Error).stack ?? String(e)}`);
    running.natsProfile?.abort();
    running.sampler?.stop();
    await running.backlog?.stop();
    for (const w of running.workers) w.child.kill('SIGKILL');
    running.fake?.kill('SIGKILL');
    if (running.system) for (const n of await running.system.stop({ keepStreams: o.keep }).catch(() => [])) err(`note: ${n}`);
    await running.nats?.stop().catch((e: Error) => err(`note: could not stop the private nats-server: ${e.message}`));
    return 'failed';
  } finally {
    off();
  }
}

/** The profiles' summaries (with --cpu-prof), then <run>.json, .md and .svg, and the summary on stdout. */
function writeResult(o: Options, id: string, result: LoadResult, profDir: string | undefined, natsProf: NatsProfileFetch | undefined): void {
  if (profDir) {
    result.profiles = summarizeDir(profDir).map((p) => ({ ...p, file: rel(p.file) }));
    if (natsProf) result.natsProfile = natsProfileResult(natsProf);
    if (result.natsProfile && 'error' in result.natsProfile) result.verdict.warnings.push(result.natsProfile.error);
    result.verdict.warnings.push(`CPU profiles were on (--cpu-prof): every process ran slower than it would without them`);
  }
  const md = markdown(result);
  const svg = chart(result);
  result.files = writeRun(o.outDir, id, { json: result, md, svg });
  writeRun(o.outDir, id, { json: result });
  out('');
  out(md);
  out(`Files: ${rel(result.files.json)}, ${rel(result.files.md!)}, ${rel(result.files.svg!)}`);
}

/** The saved nats-server profile summarised; a profile that cannot be read is reported, not thrown. */
function natsProfileResult(f: NatsProfileFetch): NonNullable<LoadResult['natsProfile']> {
  if ('error' in f) return f;
  try {
    return { file: rel(f.file), seconds: f.seconds, ...summarizePprofFile(f.file, 15) };
  } catch (e) {
    return { file: rel(f.file), error: `cannot read nats-server's CPU profile ${rel(f.file)}: ${(e as Error).message}` };
  }
}
