import type { UnreadCount } from '../lib/unread-header.js';
import type { Connection } from './connection.js';

/** Within this long after a socket's last unread.update, further counts wait and only the latest per conversation goes. */
const WINDOW_MS = 50;

/**
 * `unread.update` frames from the counts live inbox entries carry (lib/unread-header.ts), per
 * socket. A count goes at once, in the same socket write as its entry, unless the socket had one
 * less than a window ago; then it is held, and at the window's end the latest count of each
 * conversation goes (in the order they last changed, so the last frame has the newest total).
 *
 * Why a window: a member of a busy group would get a count frame behind every message. The first
 * time counts rode on the entries without one (reverted in 8d0e087) that doubled the gateway's
 * socket writes in groups of 50, the gateway fell behind its NATS feed, and nats-server cut it as a
 * slow consumer. A 1:1 chat rarely has two counts within a window, so its counts are never late.
 */
export class UnreadFrames {
  readonly #windowMs: number;
  readonly #held = new Map<Connection, Map<string, UnreadCount>>();
  #timer: NodeJS.Timeout | undefined;

  constructor(windowMs = WINDOW_MS) {
    this.#windowMs = windowMs;
  }

  /** Send `count` to the socket now, or hold it to the window's end. Call it inside the entry's cork. */
  offer(conn: Connection, count: UnreadCount, now = performance.now()): void {
    const held = this.#held.get(conn);
    if (held) {
      held.delete(count.conversationId);
      held.set(count.conversationId, count);
      return;
    }
    if (now - conn.unreadSentAt >= this.#windowMs) {
      conn.unreadSentAt = now;
      conn.send({ type: 'unread.update', payload: count });
      return;
    }
    this.#held.set(conn, new Map([[count.conversationId, count]]));
    this.#timer ??= setTimeout(() => this.flush(), this.#windowMs);
  }

  /** Send everything held. */
  flush(now = performance.now()): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const held = [...this.#held];
    this.#held.clear();
    for (const [conn, counts] of held) {
      if (conn.closed) continue;
      conn.unreadSentAt = now;
      conn.ws.cork(() => {
        for (const payload of counts.values()) conn.send({ type: 'unread.update', payload });
      });
    }
  }

  /** Drop what is held (the gateway is closing its sockets). */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#held.clear();
  }
}
