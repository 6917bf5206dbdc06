/**
 * The generators' results made one: histograms merged (every latency was measured in one process
 * on one clock, so merging is exact), counts summed, the per-second series joined with the process
 * and backlog samples, the pipeline's rates and backlogs over the measured window, and the verdict
 * (problems fail the run, warnings qualify it).
 */
import type { BacklogSample } from '../lib/backlog.js';
import { isServerProcess, runCost, type NatsWindow } from '../lib/cost.js';
import { Histogram } from '../lib/histogram.js';
import type { ProcSampler } from '../lib/procstats.js';
import { fmtMs, gitInfo, machineInfo, median } from '../lib/results.js';
import type { SystemUnderTest } from '../lib/system.js';
import type { Options } from './options.js';
import type { Counts, SecondStats, WorkerResult } from './protocol.js';
import type { LoadResult, Series } from './result.js';

/** What the run knows besides the generators' results. */
export type RunFacts = {
  id: string;
  startedAt: string;
  env: ReturnType<typeof machineInfo>;
  git: ReturnType<typeof gitInfo>;
  loadEnd: [number, number, number];
  url: string;
  uws: LoadResult['environment']['uws'];
  addresses: string[];
  system?: SystemUnderTest;
  connect: LoadResult['results']['connect'];
  setupMsMax: number;
  setupFailed: number;
  stopNotes: string[];
  others: LoadResult['results']['otherProcesses'];
  /** nats-server's counters over the window (--private-nats, --nats-monitor), or nothing. */
  nats: NatsWindow;
  privateNats?: LoadResult['environment']['privateNats'];
};

type Pipeline = NonNullable<LoadResult['results']['pipeline']>;

function pct(h: Histogram) {
  return { n: h.n, p50: h.percentile(50) / 1000, p90: h.percentile(90) / 1000, p99: h.percentile(99) / 1000, max: h.n ? h.max / 1000 : Number.NaN };
}

function addRec(p: Record<string, number>, q: Record<string, number>): Record<string, number> {
  const z = { ...p };
  for (const [k, v] of Object.entries(q)) z[k] = (z[k] ?? 0) + v;
  return z;
}

function sumCounts(results: WorkerResult[]): Counts {
  return results.map((r) => r.counts).reduce((a, b) => ({
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
  }));
}

/** One row a second: the generators' seconds merged, with the process and backlog samples that cover it. */
function perSecondSeries(results: WorkerResult[], samples: ProcSampler['samples'], backlog: BacklogSample[]): Series[] {
  const secs = Math.max(0, ...results.map((r) => r.series.length));
  const series: Series[] = [];
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
  return series;
}

/** Stage rates (mean) and backlogs (at the end, highest) over the window (wFrom, wTo]; undefined without samples. */
function pipelineSummary(backlog: BacklogSample[], wFrom: number, wTo: number): Pipeline | undefined {
  const winPipe = backlog.filter((p) => p.t > wFrom && p.t <= wTo + 1e-6);
  if (!winPipe.length) return undefined;
  const mean = (f: (p: BacklogSample) => number) => winPipe.reduce((a, p) => a + f(p), 0) / winPipe.length;
  const lastPipe = winPipe[winPipe.length - 1]!;
  return {
    commandsPerSec: mean((p) => p.commandsPerSec),
    eventsPerSec: mean((p) => p.eventsPerSec),
    inboxPerSec: mean((p) => p.inboxPerSec),
    backlogEnd: { engine: lastPipe.engine, delivery: lastPipe.delivery, postgres: lastPipe.postgres },
    backlogMax: { engine: Math.max(...winPipe.map((p) => p.engine)), delivery: Math.max(...winPipe.map((p) => p.delivery)), postgres: Math.max(...winPipe.map((p) => p.postgres)) },
  };
}

/** Problems fail the run; warnings say what qualifies its figures. */
function judge(
  o: Options,
  x: RunFacts,
  results: WorkerResult[],
  m: { counts: Counts; lag: LoadResult['results']['lag']; rejected: number; lost: number; duplicated: number; busyMedian: number; pipeline?: Pipeline; backlog: BacklogSample[] },
): { problems: string[]; warnings: string[] } {
  const { counts, lag, rejected, lost, duplicated } = m;
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
  if (m.busyMedian > 95) warnings.push(`the machine was saturated (median CPU busy ${m.busyMedian.toFixed(0)} % of ${x.env.cpus} cores): figures are bounded by CPU, including other work on the machine`);
  const pipeline = m.pipeline;
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
    const tail = m.backlog[m.backlog.length - 1];
    if (lost && tail && tail.engine + tail.delivery > 0) {
      problems.push(`of the missing messages, some were still queued in the pipeline when the drain ended (engine ${tail.engine.toLocaleString('en-US')}, delivery ${tail.delivery.toLocaleString('en-US')}): the system fell behind; a longer --drain tells late from lost`);
    }
  }
  return { problems, warnings };
}

function environment(o: Options, x: RunFacts, load1Median: number, busyMedian: number): LoadResult['environment'] {
  return {
    ...x.env,
    git: x.git,
    loadAverageEnd: x.loadEnd,
    load1Median,
    machineBusyMedian: busyMedian,
    target: x.system ? 'started' : o.fakeGateway ? 'fake-gateway' : 'url',
    url: x.url,
    ...(x.system
      ? { prefix: x.system.prefix, database: x.system.databaseDescription, systemEnv: Object.fromEntries(Object.entries(x.system.env).filter(([k]) => k !== 'PARLEY_JWT_SECRET' && k !== 'DATABASE_URL')) }
      : {}),
    natsUrl: o.natsUrl,
    ...(x.privateNats ? { privateNats: x.privateNats } : {}),
    uws: x.uws,
    sourceAddresses: x.addresses,
  };
}

export function merge(o: Options, results: WorkerResult[], sampler: ProcSampler, backlog: BacklogSample[], x: RunFacts): LoadResult {
  const hSent = new Histogram();
  const hNew = new Histogram();
  const hLag = new Histogram();
  for (const r of results) {
    hSent.add(r.hist.sent);
    hNew.add(r.hist.new);
    hLag.add(r.hist.lag);
  }
  const counts = sumCounts(results);
  const win = results.reduce((a, r) => ({ sends: a.sends + r.window.sends, confirmed: a.confirmed + r.window.confirmed, deliveries: a.deliveries + r.window.deliveries }), { sends: 0, confirmed: 0, deliveries: 0 });
  const samples = sampler.samples;
  const series = perSecondSeries(results, samples, backlog);
  const wFrom = o.warmupS;
  const wTo = o.warmupS + o.durationS;
  const inWin = series.filter((s) => s.t >= wFrom && s.t + 1 <= wTo + 1e-9);
  const windowSamples = samples.filter((p) => p.t > wFrom && p.t <= wTo + 1e-6);
  const processes = sampler.summary(wFrom, wTo);

  const lag = { ...hLag.summary(1000), overMaxLag: hLag.n > 0 && hLag.percentile(99) / 1000 > o.maxLagMs };
  const rejected = Object.values(counts.rejected).reduce((a, b) => a + b, 0);
  const lost = counts.lostMessages;
  const duplicated = counts.duplicateNew + counts.duplicateSent;
  const load1Median = median(windowSamples.map((s) => s.load1));
  const busyMedian = median(windowSamples.map((s) => s.machineBusy));
  const pipeline = pipelineSummary(backlog, wFrom, wTo);
  const embedded = x.system !== undefined && x.system.database.kind !== 'postgres';
  const cost = runCost({
    processes,
    // with the embedded PGlite the read models are inside the projector: the machine's postgres is not this run's
    isServer: (n) => isServerProcess(n) && !(embedded && n === 'postgres'),
    basis: { messages: win.sends, deliveries: win.deliveries, members: o.members },
    windowS: o.durationS,
    expectedDeliveries: win.sends * (o.members - 1),
    rejected,
    nats: x.nats,
    ...(x.nats.monitorUrl !== undefined ? { natsSource: o.privateNats ? ('private' as const) : ('monitor' as const) } : {}),
    natsUrl: o.natsUrl,
  });
  const { problems, warnings } = judge(o, x, results, { counts, lag, rejected, lost, duplicated, busyMedian, ...(pipeline ? { pipeline } : {}), backlog });

  return {
    schema: 'parley-bench/load@1',
    runId: x.id,
    scenario: 'load',
    command: `npm run bench -- load ${process.argv.slice(3).join(' ')}`.trim(),
    startedAt: x.startedAt,
    finishedAt: new Date().toISOString(),
    options: { ...o, env: o.env, ...(o.databaseUrl ? { databaseUrl: o.databaseUrl.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@') } : {}) },
    environment: environment(o, x, load1Median, busyMedian),
    results: {
      throughput: {
        targetRate: o.rate,
        sendsPerSec: win.sends / o.durationS,
        confirmedPerSec: win.confirmed / o.durationS,
        deliveriesPerSec: win.deliveries / o.durationS,
        expectedDeliveriesPerSec: o.rate * (o.members - 1),
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
      cost,
    },
    verdict: { ok: problems.length === 0, problems, warnings: [...warnings, ...x.stopNotes] },
    series,
    histograms: { sent: hSent.toSparse(), new: hNew.toSparse(), lag: hLag.toSparse() },
  };
}
