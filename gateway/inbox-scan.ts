import { jetstream, type ConsumerMessages } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { StoredEntry } from '../lib/stream-reader.js';

/** A scan that receives nothing this long gives up (its waiting reads are walked instead). */
const STALL_MS = 5_000;

type Waiter = { read: ScanRead; answer(entries: StoredEntry[] | null): void };

/** One user's read from a scan: the entries on `subject` with afterSeq < seq ≤ untilSeq. */
export type ScanRead = { subject: string; afterSeq: number; untilSeq: number };

/**
 * One pass of an ordered consumer over the inbox stream from `from` to the stream's end, keeping
 * what it reads by subject. With `keepAll` it keeps every subject's entries, so that reads
 * joining later (a reconnect storm's stragglers) are answered from memory instead of another pass
 * over the same range; otherwise only the subjects it was started for.
 */
export class InboxScan {
  readonly from: number;
  readonly keepAll: boolean;
  /** The last seq read; every entry in [from, position] on a kept subject is in `#kept`. */
  position: number;
  /** Nothing more to read: `position` is as far as this scan covers. */
  done = false;
  failed = false;
  lastUsed = Date.now();
  readonly #kept = new Map<string, StoredEntry[]>();
  /**
   * Waiting reads by subject. A read's untilSeq is one of its user's entries (the inbox's end when
   * the socket attached, or the entry before a live one), so it is complete when the scan reads
   * that entry: only the subject's waiting reads are looked at per message.
   */
  readonly #waiting = new Map<string, Waiter[]>();

  constructor(from: number, subjects: Iterable<string>, keepAll: boolean) {
    this.from = from;
    this.position = from - 1;
    this.keepAll = keepAll;
    for (const s of subjects) this.#kept.set(s, []);
  }

  /** Whether this scan has (or will have) every entry `read` needs. */
  covers(read: ScanRead): boolean {
    if (this.failed || read.afterSeq + 1 < this.from) return false;
    if (!this.keepAll && !this.#kept.has(read.subject)) return false;
    return this.done ? read.untilSeq <= this.position : true;
  }

  /** Answer now if the scan is past the read's end, else when it gets there; null: walk it instead. */
  add(read: ScanRead, answer: (entries: StoredEntry[] | null) => void): void {
    this.lastUsed = Date.now();
    if (read.untilSeq <= this.position) return answer(this.#slice(read));
    const list = this.#waiting.get(read.subject);
    if (list) list.push({ read, answer });
    else this.#waiting.set(read.subject, [{ read, answer }]);
  }

  /** Read from `from` until nothing more is stored (then `done`), answering reads on the way. */
  async run(nc: NatsConnection, stream: string): Promise<void> {
    let messages: ConsumerMessages | undefined;
    let stall: NodeJS.Timeout | undefined;
    try {
      const consumer = await jetstream(nc).consumers.get(stream, { opt_start_seq: this.from });
      // Batches of 1 MiB: big enough to stream, small enough not to hold the event loop long.
      messages = await consumer.consume({ max_bytes: 1024 * 1024 });
      const armStall = () => {
        clearTimeout(stall);
        stall = setTimeout(() => {
          this.failed = true;
          messages?.stop();
        }, STALL_MS);
      };
      armStall();
      for await (const m of messages) {
        armStall();
        const list = this.#kept.get(m.subject);
        const entry = { seq: m.seq, subject: m.subject, data: m.data };
        if (list) list.push(entry);
        else if (this.keepAll) this.#kept.set(m.subject, [entry]);
        this.position = m.seq;
        if (this.#waiting.has(m.subject)) this.#answerReady(m.subject);
        if (m.info.pending === 0) break;
      }
    } catch {
      this.failed = true;
    } finally {
      clearTimeout(stall);
      messages?.stop();
      this.done = true;
      // What is still waiting: answered from what was read if the scan got past its end (its
      // last entry was removed meanwhile), otherwise walked (null).
      for (const list of this.#waiting.values()) {
        for (const w of list) w.answer(!this.failed && w.read.untilSeq <= this.position ? this.#slice(w.read) : null);
      }
      this.#waiting.clear();
    }
  }

  /** Forget the kept entries (the scan is no longer used). */
  release(): void {
    this.#kept.clear();
  }

  #answerReady(subject: string): void {
    const list = this.#waiting.get(subject)!;
    const still = list.filter((w) => {
      if (w.read.untilSeq > this.position) return true;
      w.answer(this.#slice(w.read));
      return false;
    });
    if (still.length) this.#waiting.set(subject, still);
    else this.#waiting.delete(subject);
  }

  #slice(read: ScanRead): StoredEntry[] {
    const list = this.#kept.get(read.subject) ?? [];
    const out: StoredEntry[] = [];
    for (const e of list) if (e.seq > read.afterSeq && e.seq <= read.untilSeq) out.push(e);
    return out;
  }
}
