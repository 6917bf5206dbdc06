/**
 * What a generator process knows: its share of the plan, its connections, and per message number
 * (typed arrays, a bitmap of recipients) whether it was sent, confirmed and delivered to whom;
 * the histograms and per-second series it measures. Built once from the coordinator's `init`.
 */
import type WebSocket from 'ws';
import { MessageIds, type FrameTemplate } from '../lib/frames.js';
import { Histogram } from '../lib/histogram.js';
import type { Counts, FromWorker, SecondStats, WorkerInit, WorkerResult } from './protocol.js';

/** Per message: what became of it. */
export const NOT_SENT = 0;
export const SENT = 1;
export const REJECTED = 2;
export const SKIPPED = 3;

export type Conn = {
  index: number;
  user: string;
  token: string;
  address?: string;
  ws?: WebSocket;
  open: boolean;
  closing: boolean;
  maxSeq: number;
  ackedSeq: number;
  /** conversation index → this user's member slot in it */
  slots: Map<number, number>;
  /** conversation ids this connection got conversation.created for (set-up) */
  created: Set<string>;
  onSuccess?: () => void;
  onFail?: (err: Error) => void;
};

export type Second = SecondStats & { _hs?: Histogram; _hn?: Histogram };

export const send = (m: FromWorker) => process.send?.(m);

export const bump = (rec: Record<string, number>, key: string, by = 1) => {
  rec[key] = (rec[key] ?? 0) + by;
};

export class GeneratorState {
  conns: Conn[] = [];
  readonly ids: MessageIds;
  /** Ids of the priming messages (before the clock starts); never part of the measurement. */
  readonly primeIds: MessageIds;
  primeReceived = 0;
  /** Members per conversation. */
  readonly size: number;
  /** Conversations. */
  readonly M: number;
  convIds: string[] = [];
  templates: FrameTemplate[] = [];
  readonly state: Uint8Array;
  readonly sentSeen: Uint8Array;
  readonly bitmap: Uint8Array;
  readonly bytesPerMsg: number;
  readonly interval: number;
  readonly total: number;
  readonly warmCount: number;
  t0 = 0;
  next = 0;
  phase: 'idle' | 'setup' | 'running' | 'draining' | 'done' = 'idle';
  scheduleDone = false;
  readonly createdWaiters = new Map<string, (frame: any) => void>();

  readonly hSent = new Histogram();
  readonly hNew = new Histogram();
  readonly hLag = new Histogram();
  readonly series: Second[] = [];
  readonly frames = new Map<string, number>();
  readonly counts: Counts = {
    scheduled: 0,
    sent: 0,
    notSent: 0,
    rejected: {},
    otherErrors: {},
    confirmed: 0,
    deliveries: 0,
    expectedDeliveries: 0,
    missingSent: 0,
    missingNew: 0,
    lostMessages: 0,
    duplicateSent: 0,
    duplicateNew: 0,
    foreign: 0,
    rejectedButStored: 0,
    acksSent: 0,
    frames: {},
    closes: {},
    reconnects: 0,
  };
  readonly windowCounts = { sends: 0, confirmed: 0, deliveries: 0 };
  /** Events still owed: one message.sent plus (size - 1) message.new per sent message. */
  owed = 0;
  maxBuffered = 0;
  readonly sendOpts: { binary: boolean; compress: boolean };
  sendTimer: NodeJS.Timeout | undefined;
  connectInfo: WorkerResult['connect'] = { ms: 0, failed: 0, retries: 0 };
  setupMs = 0;

  constructor(readonly init: WorkerInit) {
    const m = init;
    this.size = m.conversations[0]?.length ?? 2;
    this.M = m.conversations.length;
    this.sendOpts = { binary: m.codec === 'msgpack', compress: false };
    this.ids = new MessageIds(`${m.runTag}${m.worker.toString(36)}.`);
    this.primeIds = new MessageIds(`${m.runTag}${m.worker.toString(36)}p`);
    this.interval = m.rate > 0 ? 1000 / m.rate : Infinity;
    this.total = m.rate > 0 ? Math.round(m.rate * (m.warmupS + m.durationS)) : 0;
    this.warmCount = Math.round(m.rate * m.warmupS);
    this.state = new Uint8Array(this.total);
    this.sentSeen = new Uint8Array(this.total);
    this.bytesPerMsg = Math.ceil(this.size / 8);
    this.bitmap = new Uint8Array(this.total * this.bytesPerMsg);
  }

  second(sec: number): Second {
    const series = this.series;
    let s = series[sec];
    if (!s) {
      for (let k = series.length; k <= sec; k++) {
        series[k] ??= { sec: k, sends: 0, acks: 0, deliveries: 0, frames: 0, lagMaxMs: 0, elu: 0, hSent: { n: 0, min: 0, max: 0, sum: 0, b: [] }, hNew: { n: 0, min: 0, max: 0, sum: 0, b: [] } };
      }
      s = series[sec]!;
    }
    return s;
  }

  nowSec(now: number): number {
    return Math.floor((now - this.t0) / 1000);
  }

  inWindow(now: number): boolean {
    return now - this.t0 >= this.init.warmupS * 1000 && now - this.t0 < (this.init.warmupS + this.init.durationS) * 1000;
  }
}
