import type { JsMsg } from '@nats-io/jetstream';
import type { Logger } from '../../lib/log.js';
import type { Names } from '../../lib/names.js';
import { decodeLogEntry, type LogEntry } from './decode.js';
import { applyIsolating, type Atomic, type IsolateOptions } from './isolate.js';

/** What committing batches counts (part of PostgresProjectorStats, projector.ts). */
export type CommitCounts = {
  batches: number;
  /** Events applied to the read models. */
  events: number;
  /** Events received again at or below the checkpoint (redeliveries): acked, not applied. */
  skipped: number;
  /** Events that do not match their schema (or are of a type this version does not know): logged, stepped over. */
  invalid: number;
  /** Events whose text was made storable (NUL or lone surrogates replaced by U+FFFD). */
  sanitized: number;
  /**
   * Events this process parked since it started: Postgres refused them, they were set aside so that
   * the events after them could be applied (`parked_events`; `parley projections status` lists them).
   */
  parked: number;
  lastEventSeq: number;
  checkpoint: number;
};

/**
 * The live projector's batches of consumed messages, committed and then acked. Messages above a
 * missing event (a redelivery not arrived yet) are held back here and offered again with the next
 * batch, until the checkpoint covers them.
 */
export class BatchCommitter {
  /**
   * Messages received and not yet covered by the checkpoint: the batch at hand, plus any held back
   * behind a missing event. Keyed by sequence, so a redelivered copy replaces the first.
   */
  #held = new Map<number, { m: JsMsg; entry: LogEntry }>();
  #waitingFor = 0;

  constructor(
    private readonly opts: {
      names: Names;
      log: Logger;
      atomic: Atomic;
      schema: string;
      options: IsolateOptions;
      counts: CommitCounts;
    },
  ) {}

  /** Whether events are held back behind a missing one. */
  get holding(): boolean {
    return this.#held.size > 0;
  }

  /** Forget what is held: the batch failed, nothing of it was acked, JetStream redelivers it. */
  drop(): void {
    this.#held.clear();
  }

  /** Commit one batch, then ack it (the highest event at or below the new checkpoint; the policy is ack-all). */
  async flush(batch: JsMsg[]): Promise<void> {
    const { names, log, atomic, schema, options, counts } = this.opts;
    for (const m of batch) {
      const known = this.#held.get(m.seq);
      if (known) known.m = m;
      else {
        const entry = decodeLogEntry(names, { seq: m.seq, subject: m.subject, data: m.data }, log);
        if (entry.event === null) counts.invalid++;
        if (entry.sanitized) counts.sanitized++;
        this.#held.set(m.seq, { m, entry });
      }
    }
    const pending = [...this.#held.values()].sort((a, b) => a.m.seq - b.m.seq);
    // A refused event is parked here, not redelivered for ever (isolate.ts); an outage throws.
    const result = await applyIsolating(
      atomic,
      schema,
      pending.map((p) => p.entry),
      options,
    );
    const done = pending.filter((p) => p.m.seq <= result.checkpoint);
    done.at(-1)?.m.ack();
    this.#held = new Map(pending.filter((p) => p.m.seq > result.checkpoint).map((p) => [p.m.seq, p]));
    if (result.held.length > 0 && this.#waitingFor !== result.checkpoint + 1) {
      this.#waitingFor = result.checkpoint + 1;
      log.info({ checkpoint: result.checkpoint, holding: result.held.length, from: result.held[0] }, 'holding events back until the earlier ones arrive (redelivery)');
    }
    counts.batches++;
    counts.events += result.applied;
    counts.skipped += result.skipped;
    counts.parked += result.parked.length;
    counts.checkpoint = result.checkpoint;
    for (const m of batch) counts.lastEventSeq = Math.max(counts.lastEventSeq, m.seq);
  }
}
