import { BelowMark } from '../../lib/below-mark.js';
import { KeyedQueue } from '../../lib/keyed-queue.js';
import type { Logger } from '../../lib/log.js';

/**
 * Stores one inbox entry (a JetStream publish with its Nats-Msg-Id, and the recipient's unread
 * count header when the event changed it); rejects when it was not stored.
 */
export type StoreEntry = (subject: string, bytes: Uint8Array, msgId: string, unread: string | undefined) => Promise<unknown>;

export type InboxWriterOptions = {
  /** Back-off between attempts at a write that failed: from the first to the last, doubling. */
  retryMs?: { first: number; last: number };
  log: Logger;
};

/**
 * Inbox writes that keep each inbox in log order whatever fails. A user's entries are written one
 * after another: the next is published once the one before is stored. Writes to different inboxes
 * stay pipelined.
 *
 * Why: writes used to be pipelined per inbox too, and a write that failed was redone by the
 * event's redelivery. When nats-server restarted under load, the writes in flight were lost while
 * newer ones, published after the reconnect, were stored; the redelivered event then put its entry
 * after them, so a user's inbox held message 6 before message 5 (seen in fault-nats.test.ts). Now a
 * failed write is retried in place, with back-off, and nothing behind it in that inbox goes first.
 * It gives up only when the writer stops (the event is not acked, and is projected again, in
 * order, by the next start).
 */
export class InboxWriter {
  readonly #store: StoreEntry;
  readonly #lanes = new KeyedQueue();
  readonly #retry: { first: number; last: number };
  readonly #log: Logger;
  #queued = 0;
  #stopping = false;
  /** Inboxes with a write given up (at the stop): what is queued behind it is not written. */
  readonly #abandoned = new Set<string>();
  /** Wakes the back-off sleeps at stop. */
  readonly #sleepers = new Set<() => void>();
  readonly #below = new BelowMark(() => this.#queued);

  constructor(store: StoreEntry, options: InboxWriterOptions) {
    this.#store = store;
    this.#retry = options.retryMs ?? { first: 100, last: 2_000 };
    this.#log = options.log;
  }

  /** Writes waiting for their turn or for their acknowledgement: what bounds the projector's intake. */
  get queued(): number {
    return this.#queued;
  }

  /**
   * Resolves once `userId`'s entry is stored, after every entry written to that inbox before it.
   * `unread`: the count header it carries, known once the user's counts are loaded; the inbox
   * waits for it (that user's alone), and a count that could not be had leaves the entry without one.
   */
  write(userId: string, subject: string, bytes: Uint8Array, msgId: string, unread?: Promise<string | undefined>): Promise<void> {
    this.#queued++;
    return this.#lanes
      .run(userId, async () => {
        // Behind a write given up at the stop, nothing newer may be stored in this inbox.
        if (this.#abandoned.has(userId)) throw new Error(`inbox write ${msgId} not attempted: an earlier one for this inbox was not stored`);
        const header = unread === undefined ? undefined : await unread.catch(() => undefined);
        try {
          await this.#untilStored(subject, bytes, msgId, header);
        } catch (err) {
          this.#abandoned.add(userId);
          throw err;
        }
      })
      .finally(() => {
        this.#queued--;
        this.#below.settled();
      });
  }

  /** Resolves once fewer than `below` writes are queued (at once if so already). */
  whenQueuedBelow(below: number): Promise<void> {
    return this.#below.when(below);
  }

  /**
   * No more retries: a write that fails from now on rejects, and so does every write queued behind
   * it for that inbox (they are not attempted). Writes that succeed still go on, so a healthy stop
   * drains everything.
   */
  stop(): void {
    this.#stopping = true;
    for (const wake of this.#sleepers) wake();
    this.#sleepers.clear();
  }

  async #untilStored(subject: string, bytes: Uint8Array, msgId: string, unread: string | undefined): Promise<void> {
    let delay = this.#retry.first;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#store(subject, bytes, msgId, unread);
        if (attempt > 1) this.#log.info({ msgId, attempt }, 'inbox write stored after retrying');
        return;
      } catch (err) {
        if (this.#stopping) throw err;
        this.#log.warn({ err, subject, msgId, attempt, retryInMs: delay }, 'inbox write failed; retrying it before anything newer for this inbox');
        await this.#sleep(delay);
        delay = Math.min(delay * 2, this.#retry.last);
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#sleepers.add(wake);
    });
  }
}
