/** Messages between the load coordinator (bench/load/) and its generator processes (bench/load/worker.ts). */
import type { Codec } from '../lib/frames.js';
import type { SparseHistogram } from '../lib/histogram.js';

export type WorkerInit = {
  kind: 'init';
  worker: number;
  url: string;
  codec: Codec;
  signing: { secret: string; issuer?: string; audience?: string };
  users: string[];
  conversations: number[][];
  rate: number;
  warmupS: number;
  durationS: number;
  drainS: number;
  graceMs: number;
  contentSize: number;
  ackIntervalMs: number;
  /** Source addresses for the connections (ws localAddress), used round-robin; empty = let the OS choose. */
  addresses: string[];
  connectConcurrency: number;
  setupConcurrency: number;
  connectTimeoutMs: number;
  /** Reconnect (with ?cursor=) after an unexpected close, like a real client. */
  reconnect: boolean;
  runTag: string;
  /** Before the clock: two messages per conversation so every user has received one (warm caches). */
  prime: boolean;
  primeRate: number;
  primeTimeoutMs: number;
};

export type ToWorker = WorkerInit | { kind: 'setup' } | { kind: 'start'; startAtEpochMs: number } | { kind: 'close' };

export type SecondStats = {
  sec: number;
  /** Sends issued in this second (by send time). */
  sends: number;
  /** message.sent and message.new received in this second (first copies only). */
  acks: number;
  deliveries: number;
  frames: number;
  lagMaxMs: number;
  /** Event-loop utilisation of the generator in this second (0–1). */
  elu: number;
  /** Latencies of the messages scheduled in this second (µs). */
  hSent: SparseHistogram;
  hNew: SparseHistogram;
};

export type Counts = {
  /** Messages the schedule asked for (warm-up, measured window). */
  scheduled: number;
  /** Sent on an open socket. */
  sent: number;
  /** Not sent: the sender's socket was not open at its time. */
  notSent: number;
  rejected: Record<string, number>;
  /** `error` frames that are not about one of our sends (by code). */
  otherErrors: Record<string, number>;
  /** message.sent received (first copies). */
  confirmed: number;
  /** message.new received (first copies, every recipient). */
  deliveries: number;
  expectedDeliveries: number;
  /** Accepted messages without a message.sent, and missing message.new (recipient × message). */
  missingSent: number;
  missingNew: number;
  /** Messages with anything missing. */
  lostMessages: number;
  duplicateSent: number;
  duplicateNew: number;
  /** message.new / message.sent whose tempId is not one of this generator's messages. */
  foreign: number;
  /** Rejected (e.g. send_failed: the gateway gave up waiting for the store) yet delivered after all. */
  rejectedButStored: number;
  acksSent: number;
  frames: Record<string, number>;
  closes: Record<string, number>;
  reconnects: number;
};

export type WorkerResult = {
  kind: 'result';
  worker: number;
  pid: number;
  connections: number;
  conversations: number;
  rate: number;
  connect: { ms: number; failed: number; retries: number; firstError?: string; firstRetried?: string };
  setupMs: number;
  counts: Counts;
  /** Counts over the measured window: sends by send time, confirmations and deliveries by arrival time. */
  window: { sends: number; confirmed: number; deliveries: number };
  hist: { sent: SparseHistogram; new: SparseHistogram; lag: SparseHistogram };
  series: SecondStats[];
  elu: number;
  maxBufferedBytes: number;
  drainedMs: number;
  complete: boolean;
};

export type FromWorker =
  | { kind: 'connected'; worker: number; ms: number; failed: number; retries: number; firstError?: string; firstRetried?: string }
  | { kind: 'ready'; worker: number; ms: number; conversations: number; failed: number; firstError?: string; primeMs?: number }
  | { kind: 'progress'; worker: number; sec: number; sends: number; deliveries: number; confirmed: number; lagMaxMs: number; errors: number; p99NewMs: number; elu: number }
  | WorkerResult
  | { kind: 'fatal'; worker: number; message: string };
