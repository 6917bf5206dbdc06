import type { JetStreamManager } from '@nats-io/jetstream';

/**
 * Reads single messages out of a stream with Direct Get (any replica answers, no consumer is
 * created). A subject's messages are walked with `next_by_subj`: one request per message, which is
 * why engine state comes from a cache and conversations stay short between snapshots.
 */
export type StoredEntry = { seq: number; subject: string; data: Uint8Array };

export class StreamReader {
  readonly #jsm: JetStreamManager;
  readonly stream: string;

  constructor(jsm: JetStreamManager, stream: string) {
    this.#jsm = jsm;
    this.stream = stream;
  }

  /** The first message on `subject` whose sequence is greater than `afterSeq`, or null. */
  async nextAfter(subject: string, afterSeq: number): Promise<StoredEntry | null> {
    const m = await this.#jsm.direct.getMessage(this.stream, { next_by_subj: subject, seq: afterSeq + 1 });
    return m ? { seq: m.seq, subject: m.subject, data: m.data } : null;
  }

  /** Every message on `subject` after `afterSeq` (and up to `untilSeq` when given), in order. */
  async *readAfter(subject: string, afterSeq: number, untilSeq = Number.POSITIVE_INFINITY): AsyncGenerator<StoredEntry> {
    let cursor = afterSeq;
    for (;;) {
      const entry = await this.nextAfter(subject, cursor);
      if (!entry || entry.seq > untilSeq) return;
      yield entry;
      cursor = entry.seq;
    }
  }

  /** The last message on `subject`, or null when it has none. */
  async last(subject: string): Promise<StoredEntry | null> {
    const m = await this.#jsm.direct.getMessage(this.stream, { last_by_subj: subject });
    return m ? { seq: m.seq, subject: m.subject, data: m.data } : null;
  }

  async bySeq(seq: number): Promise<StoredEntry | null> {
    const m = await this.#jsm.direct.getMessage(this.stream, { seq });
    return m ? { seq: m.seq, subject: m.subject, data: m.data } : null;
  }
}
