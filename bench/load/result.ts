/** What one load run produces: the result written as <run>.json, and its per-second series. */
import type { RunCost } from '../lib/cost.js';
import type { ProfileSummary } from '../lib/cpuprofile.js';
import type { Histogram, Summary } from '../lib/histogram.js';
import type { PprofSummary } from '../lib/pprof.js';
import type { ProcSummary } from '../lib/procstats.js';
import type { gitInfo, machineInfo } from '../lib/results.js';
import type { Options } from './options.js';
import type { WorkerResult } from './protocol.js';

export type Series = {
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
    /** With --private-nats: the private nats-server's pid, its monitoring endpoint and store directory (removed at the end). */
    privateNats?: { pid: number; monitorUrl: string; storeDir: string };
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
    /** What a message cost over the measured window: CPU µs per process and in all, NATS messages and bytes (absent in runs made before it existed). */
    cost?: RunCost;
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
  /** With --cpu-prof and --private-nats: nats-server's CPU profile of the measured window (Go pprof, saved as `file`), or why there is none. */
  natsProfile?: (PprofSummary & { file: string; seconds: number }) | { error: string; file?: string };
};
