import { KeyedQueue } from '../../lib/keyed-queue.js';
import type { LiveUnreadUpdates } from './live-unread.js';
import type { UnreadCount } from './unread-header.js';
import type { UnreadChange, UnreadTotals } from './unread-totals.js';

/** What one event's unread changes started: the KV writes its ack waits for, and what runs once its inbox writes are stored (or failed). */
export type UnreadWork = { unreadWrites: Promise<unknown>[]; unreadUsers: string[]; afterInbox: ((stored: boolean) => void)[] };

/**
 * Where a changed unread count goes. Always into the user's KV map (UnreadTotals, coalesced). To the
 * user's devices, one of two ways:
 *
 * - **with the inbox entry** (a header, see unread-header.ts): when the user's counts are in memory,
 *   the count is known before the entry is published. The gateway sends `unread.update` right behind
 *   the entry, in the same socket write. This is the common case, and the cheap one.
 * - **separately**, on the ephemeral subject once the entry is stored (LiveUnreadUpdates): when the
 *   counts must first be loaded from KV (a user's lane keeps their changes in order meanwhile).
 *
 * A user's counts must reach them in the order they changed, or a stale total would be the last
 * one shown. So while a separate count of a user is on its way (loading, waiting for its entry to be
 * stored, or held for the next flush), that user's later counts go separately too.
 */
export class UnreadRouting {
  readonly #totals: UnreadTotals;
  readonly #live: LiveUnreadUpdates;
  /**
   * One lane per user: a cold user's totals load from KV without holding up the ordered loop (a
   * load starting on cold users stalled delivery at ~100 events/s); a user's changes keep their order.
   */
  readonly #lanes = new KeyedQueue();
  /** Users with separate counts on their way, and how many. */
  readonly #separate = new Map<string, number>();

  constructor(totals: UnreadTotals, live: LiveUnreadUpdates) {
    this.#totals = totals;
    this.#live = live;
  }

  /**
   * Record a user's new count for a conversation. Returns the count when it may ride on the user's
   * inbox entry for this event; the caller then either attaches it or, if the user gets no entry,
   * hands it to `sendSeparately`. Returns undefined when it goes separately or did not change.
   */
  change(userId: string, conversationId: string, unread: number, work: UnreadWork): UnreadCount | undefined {
    work.unreadUsers.push(userId);
    if (!this.#lanes.busy(userId) && !this.#separate.has(userId) && !this.#live.holds(userId)) {
      const changed = this.#totals.setCached(userId, conversationId, unread);
      if (changed !== undefined) {
        if (changed === null) return undefined;
        work.unreadWrites.push(changed.stored);
        return { conversationId, unread, totalUnread: changed.total };
      }
    }
    const changed = this.#lanes.run(userId, () => this.#totals.set(userId, conversationId, unread));
    work.unreadWrites.push(changed.then((c) => c?.stored));
    this.#sendWhenStored(userId, conversationId, unread, changed, work);
    return undefined;
  }

  /** A count from `change` that found no inbox entry of the user to ride on. */
  sendSeparately(userId: string, count: UnreadCount, work: UnreadWork): void {
    const change: UnreadChange = { total: count.totalUnread, stored: Promise.resolve() };
    this.#sendWhenStored(userId, count.conversationId, count.unread, Promise.resolve(change), work);
  }

  #sendWhenStored(userId: string, conversationId: string, unread: number, changed: Promise<UnreadChange | null>, work: UnreadWork): void {
    this.#separate.set(userId, (this.#separate.get(userId) ?? 0) + 1);
    const release = () => {
      const n = this.#separate.get(userId)! - 1;
      if (n > 0) this.#separate.set(userId, n);
      else this.#separate.delete(userId);
    };
    work.afterInbox.push((stored) => {
      changed.then(
        (c) => {
          // Queued before the release: until the flush publishes it, `holds` keeps later counts separate.
          if (stored && c) this.#live.queue(userId, { conversationId, unread, totalUnread: c.total });
          release();
        },
        release, // the failure is the ack's to handle (unreadWrites)
      );
    });
  }

  /** Resolves when no unread change is loading. */
  idle(): Promise<void> {
    return this.#lanes.idle();
  }
}
