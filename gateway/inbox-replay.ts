import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from '../lib/log.js';
import type { StoredEntry } from '../lib/stream-reader.js';
import type { DirectReader } from './direct-get.js';
import { InboxScan } from './inbox-scan.js';
import { planReplay } from './replay-plan.js';
import { inboxReads } from './metrics.js';

/** Reads arriving this close together are planned together (a lone resume waits this long). */
const GATHER_MS = 10;
/** Scans running at once; reads no scan covers wait for one to end, then are planned together. */
const MAX_RUNNING_SCANS = 2;
/**
 * A scan keeps every user's entries (not only those it was started for) when its range is at
 * most this many entries: ~0.7 KB each while it is in use, so at most ~170 MB for a moment.
 */
const KEEP_ALL_UP_TO = 250_000;
/** A finished scan answers late joiners from memory until it has been unused this long. */
const KEEP_FINISHED_MS = 2_000;
/** Replays handed to their sockets per event-loop turn (see #answer). */
const ANSWERS_PER_TURN = 200;

type Request = {
  subject: string;
  afterSeq: number;
  untilSeq: number;
  resolve(entries: StoredEntry[]): void;
  reject(err: unknown): void;
};

/**
 * Reads users' inbox entries after their cursors, for replay. Reads that arrive together are
 * planned together (see replay-plan.ts): when many users resume over the same stretch of the
 * inbox stream (a reconnect storm), one ordered-consumer scan reads that stretch once and answers
 * them all, and keeps what it read so that the storm's later arrivals are answered from memory;
 * other reads walk their user's entries with Direct Get.
 */
export class InboxReplay {
  readonly #nc: NatsConnection;
  readonly #reader: DirectReader;
  readonly stream: string;
  readonly #log: Logger;
  #queue: Request[] = [];
  /** Reads waiting for a running scan to end before they are planned. */
  #deferred: Request[] = [];
  #timer?: NodeJS.Timeout;
  #scans: InboxScan[] = [];
  #running = 0;
  #answers: { r: Request; entries: StoredEntry[] }[] = [];
  /** How reads were served, for tests and diagnostics. */
  readonly served = { scans: 0, fromScans: 0, walked: 0 };

  constructor(nc: NatsConnection, reader: DirectReader, log: Logger) {
    this.#nc = nc;
    this.#reader = reader;
    this.stream = reader.stream;
    this.#log = log;
  }

  /**
   * Every entry on `subject` with afterSeq < seq ≤ untilSeq, in order. An unbounded `untilSeq`
   * (Infinity) reads to whatever the inbox holds now, by walking.
   */
  read(subject: string, afterSeq: number, untilSeq: number): Promise<StoredEntry[]> {
    if (untilSeq <= afterSeq) return Promise.resolve([]);
    if (!Number.isFinite(untilSeq)) {
      this.served.walked++;
      inboxReads.inc('walked');
      return this.#walk(subject, afterSeq, untilSeq);
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ subject, afterSeq, untilSeq, resolve, reject });
      this.#schedule(GATHER_MS);
    });
  }

  #schedule(ms: number): void {
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.#plan();
    }, ms);
  }

  #plan(): void {
    this.#dropUnused();
    const uncovered: Request[] = [];
    for (const r of this.#queue) {
      const scan = this.#scans.find((s) => s.covers(r));
      if (scan) this.#fromScan(scan, r);
      else uncovered.push(r);
    }
    this.#queue = [];
    if (this.#running >= MAX_RUNNING_SCANS) {
      this.#deferred.push(...uncovered);
      return;
    }
    const plan = planReplay(this.#deferred.concat(uncovered));
    this.#deferred = [];
    for (const r of plan.walk) this.#walkRequest(r);
    if (plan.scan.length) this.#startScan(plan.scan, plan.from, plan.until);
  }

  #startScan(requests: Request[], planned: number, until: number): void {
    const keepAll = until - planned + 1 <= KEEP_ALL_UP_TO;
    // A scan that keeps everything starts a quarter of its range early: a storm's cursors are
    // spread over a stretch, and its later arrivals with older cursors are then answered from
    // memory too. Reading a quarter more costs less than a second pass.
    const from = keepAll ? Math.max(1, planned - Math.min(Math.floor((until - planned) / 4), KEEP_ALL_UP_TO - (until - planned + 1))) : planned;
    const scan = new InboxScan(from, new Set(requests.map((r) => r.subject)), keepAll);
    this.#scans.push(scan);
    this.#running++;
    this.served.scans++;
    inboxReads.inc('scan');
    for (const r of requests) this.#fromScan(scan, r);
    void scan.run(this.#nc, this.stream).then(() => {
      this.#running--;
      if (scan.failed) this.#log.warn({ from, position: scan.position }, 'inbox scan failed; its reads are walked');
      if (this.#queue.length || this.#deferred.length) this.#schedule(0);
      setTimeout(() => this.#dropUnused(), KEEP_FINISHED_MS + 100).unref();
    });
  }

  #fromScan(scan: InboxScan, r: Request): void {
    this.served.fromScans++;
    inboxReads.inc('from_scan');
    scan.add(r, (entries) => (entries ? this.#answer(r, entries) : this.#walkRequest(r)));
  }

  #dropUnused(): void {
    const now = Date.now();
    this.#scans = this.#scans.filter((s) => {
      const keep = !s.done || now - s.lastUsed < KEEP_FINISHED_MS;
      if (!keep) s.release();
      return keep;
    });
  }

  #walkRequest(r: Request): void {
    this.served.walked++;
    inboxReads.inc('walked');
    this.#walk(r.subject, r.afterSeq, r.untilSeq).then(r.resolve, r.reject);
  }

  /**
   * Direct Get `next_by_subj` from the cursor, one entry at a time. A bounded walk stops at its
   * end instead of asking once more: "no message" comes back as an error that nats.js builds with
   * a stack trace, which costs more than the request.
   */
  async #walk(subject: string, afterSeq: number, untilSeq: number): Promise<StoredEntry[]> {
    const entries: StoredEntry[] = [];
    let cursor = afterSeq;
    while (cursor < untilSeq) {
      const entry = await this.#reader.nextAfter(subject, cursor);
      if (!entry || entry.seq > untilSeq) break;
      entries.push(entry);
      cursor = entry.seq;
    }
    return entries;
  }

  /**
   * Answers go out a slice per event-loop turn: a scan ends with thousands of users answered at
   * once, and sending all their frames in one turn would keep the loop from accepting sockets and
   * reading NATS for seconds.
   */
  #answer(r: Request, entries: StoredEntry[]): void {
    this.#answers.push({ r, entries });
    if (this.#answers.length === 1) setImmediate(() => this.#drainAnswers());
  }

  #drainAnswers(): void {
    const slice = this.#answers.splice(0, ANSWERS_PER_TURN);
    for (const { r, entries } of slice) r.resolve(entries);
    if (this.#answers.length) setImmediate(() => this.#drainAnswers());
  }

  /** Reads still queued are walked; scans end by themselves. */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const r of this.#queue.concat(this.#deferred)) this.#walkRequest(r);
    this.#queue = [];
    this.#deferred = [];
  }
}
