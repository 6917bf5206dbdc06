import type { Consumer, ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import type { Logger } from '../../lib/log.js';
import { BackOff } from './back-off.js';
import { ConsumerLag, consumerLags, failedEvents, projectedEvents } from '../../lib/projector-metrics.js';
import { postgresBatchSize } from '../metrics.js';

/** How often events held back behind a missing one are offered again when nothing new arrives. */
const HELD_RECHECK_MS = 100;

/** How failing batches are counted (part of PostgresProjectorStats, projector.ts). */
export type FailureCounts = {
  /** Batches that failed (rolled back, consumed again later). */
  failed: number;
  /** When the batches began to fail, while they still do (ms since the epoch); null while they succeed. */
  failingSince: number | null;
};

/** What the loop hands its batches to (BatchCommitter). */
export type BatchSink = {
  /** Whether events are held back behind a missing one: offered again even if nothing new comes. */
  readonly holding: boolean;
  flush(batch: JsMsg[]): Promise<void>;
  /** The batch failed and was not acked: forget what is held. */
  drop(): void;
};

export type BatchLoop = { stop(): Promise<void> };

/**
 * Consume `consumer` in batches (batchSize messages or batchMs after the first, whichever comes
 * first) and hand each to `sink`. A failed batch stops the consumption; it starts again after a
 * back-off, and JetStream redelivers what was not acked.
 */
export function consumeInBatches(opts: {
  consumer: Consumer;
  batchSize: number;
  batchMs: number;
  log: Logger;
  sink: BatchSink;
  counts: FailureCounts;
}): BatchLoop {
  const { consumer, batchSize, batchMs, log, sink, counts } = opts;
  let stopped = false;
  let messages: ConsumerMessages | undefined;
  const backOff = new BackOff();
  // Where the read models stand, after each committed batch (parley_projector_lag_*).
  const lag = new ConsumerLag('postgres');
  const removeLag = consumerLags.add(lag);

  /** The next message, or 'timeout' after `ms`. */
  const within = async (next: Promise<IteratorResult<JsMsg>>, ms: number): Promise<IteratorResult<JsMsg> | 'timeout'> => {
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([next, new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), ms)))]);
    clearTimeout(timer);
    return r;
  };

  /** Consume until the iterator ends (stop) or a batch fails; returns which. */
  const session = async (msgs: ConsumerMessages): Promise<'ended' | 'failed'> => {
    const it = msgs[Symbol.asyncIterator]();
    let next = it.next();
    for (;;) {
      const batch: JsMsg[] = [];
      let ended = false;
      let recheck = false;
      // One timer per batch, not one per message: the batch's deadline is raced by every next().
      let deadline: Promise<'timeout'> | undefined;
      let deadlineTimer: NodeJS.Timeout | undefined;
      while (batch.length < batchSize) {
        let r: IteratorResult<JsMsg> | 'timeout';
        if (deadline) {
          r = await Promise.race([next, deadline]);
        } else if (sink.holding) {
          // Events held back behind a missing one: look again now and then, even if nothing new
          // comes (another process may have applied the missing one meanwhile).
          r = await within(next, HELD_RECHECK_MS);
          recheck = r === 'timeout';
        } else r = await next;
        if (r === 'timeout') break;
        if (r.done) {
          ended = true;
          break;
        }
        if (batch.length === 0) deadline = new Promise((res) => (deadlineTimer = setTimeout(() => res('timeout'), batchMs)));
        batch.push(r.value);
        next = it.next();
      }
      clearTimeout(deadlineTimer);
      if (batch.length > 0 || recheck) {
        try {
          await sink.flush(batch);
          if (batch.length > 0) {
            lag.seen(batch[batch.length - 1]!);
            postgresBatchSize.observe(batch.length);
            projectedEvents.inc('postgres', batch.length);
          }
          backOff.reset();
          counts.failingSince = null;
        } catch (err) {
          counts.failed++;
          failedEvents.inc('postgres');
          counts.failingSince ??= Date.now();
          log.error({ err, firstSeq: batch[0]?.seq, events: batch.length }, 'read-model batch failed (rolled back); it will be consumed again');
          // Nothing of it was acked: JetStream redelivers it after the ack wait.
          sink.drop();
          msgs.stop();
          return 'failed';
        }
      }
      if (ended) return 'ended';
    }
  };

  const loop = (async () => {
    while (!stopped) {
      try {
        // No waiting for what a previous process abandoned: it comes back after its ack wait, and
        // what arrives before it is held back (see BatchCommitter).
        if (stopped) return;
        messages = await consumer.consume({ max_messages: batchSize * 2 });
        if (stopped) messages.stop();
        const outcome = await session(messages);
        if (outcome === 'ended') {
          if (stopped) return;
          log.warn('postgres consumer ended; consuming again');
        }
        if (outcome === 'failed') await backOff.wait();
      } catch (err) {
        counts.failed++;
        counts.failingSince ??= Date.now();
        log.error({ err }, 'postgres projector failed; retrying');
        await backOff.wait();
      }
    }
  })();

  return {
    async stop() {
      stopped = true;
      messages?.stop();
      await loop;
      removeLag();
    },
  };
}
