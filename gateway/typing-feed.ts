import type { Connection } from './connection.js';
import { TypingShown } from './typing.js';

/** Typers held for all of this gateway's users at once, at most (each a few dozen bytes). */
export const TYPING_SHOWN_MAX = 100_000;

type TypingFrame = { type: 'typing.start' | 'typing.stop'; payload: { conversationId: string; userId: string } };

function isTypingFrame(frame: object): frame is TypingFrame {
  if (typeof frame !== 'object' || frame === null) return false;
  const { type, payload } = frame as { type?: unknown; payload?: { conversationId?: unknown; userId?: unknown } };
  return (type === 'typing.start' || type === 'typing.stop') && typeof payload?.conversationId === 'string' && typeof payload.userId === 'string';
}

/**
 * The receiving end of typing (gateway/typing.ts explains both ends): relayed `typing.start` /
 * `typing.stop` on a local user's ephemeral subject reach that user's sockets as transitions only
 * (a renewal reaches just the sockets not yet told), and a typer whose gateway has gone quiet for
 * twice the timeout is ended here with a `typing.stop`: no typing shown for ever after a crash.
 */
export class TypingFeed {
  readonly #shown: TypingShown<Connection>;
  readonly #connectionsOf: (userId: string) => Iterable<Connection>;
  readonly #now: () => number;
  readonly #sweep: NodeJS.Timeout;

  constructor(opts: { timeoutMs: number; connectionsOf: (userId: string) => Iterable<Connection>; now?: () => number; maxEntries?: number }) {
    this.#shown = new TypingShown({ holdMs: 2 * opts.timeoutMs, maxEntries: opts.maxEntries ?? TYPING_SHOWN_MAX });
    this.#connectionsOf = opts.connectionsOf;
    this.#now = opts.now ?? Date.now;
    this.#sweep = setInterval(() => this.expire(), Math.max(10, Math.floor(opts.timeoutMs / 10)));
    this.#sweep.unref();
  }

  /** A frame from `userId`'s ephemeral subject: true when it was typing (and is handled here). */
  offer(userId: string, frame: object): boolean {
    if (!isTypingFrame(frame)) return false;
    const { conversationId, userId: typerId } = frame.payload;
    if (frame.type === 'typing.start') {
      const live = [...this.#connectionsOf(userId)].filter((c) => c.started && !c.closed);
      for (const conn of this.#shown.start(userId, conversationId, typerId, live, this.#now())) conn.send(frame);
    } else {
      for (const conn of this.#shown.stop(userId, conversationId, typerId)) conn.send(frame);
    }
    return true;
  }

  expire(): void {
    for (const ended of this.#shown.expire(this.#now())) {
      const frame = { type: 'typing.stop', payload: { conversationId: ended.conversationId, userId: ended.typerId } };
      for (const conn of ended.told) conn.send(frame);
    }
  }

  close(): void {
    clearInterval(this.#sweep);
    this.#shown.clear();
  }
}
