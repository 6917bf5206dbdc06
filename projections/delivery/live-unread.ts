import type { NatsConnection } from '@nats-io/nats-core';
import { encodeJson } from '../../lib/json.js';
import type { Names } from '../../lib/names.js';
import type { ServerPayload } from '../../schemas/index.js';

/**
 * `unread.update` frames on the users' ephemeral subjects, coalesced: within `flushMs` only the
 * latest count of each (user, conversation) goes out. A member of a busy group would otherwise get
 * one frame per message, each superseding the one before.
 */
export class LiveUnreadUpdates {
  readonly #nc: NatsConnection;
  readonly #names: Names;
  readonly #flushMs: number;
  /** user → conversation → frame, in the order they last changed (the last frame carries the newest total). */
  #pending = new Map<string, Map<string, ServerPayload<'unread.update'>>>();
  #timer: NodeJS.Timeout | undefined;

  constructor(nc: NatsConnection, names: Names, flushMs = 50) {
    this.#nc = nc;
    this.#names = names;
    this.#flushMs = flushMs;
  }

  /** Queue a count. Call it only once the message that changed it is stored in the user's inbox. */
  queue(userId: string, payload: ServerPayload<'unread.update'>): void {
    let frames = this.#pending.get(userId);
    if (!frames) this.#pending.set(userId, (frames = new Map()));
    // Re-inserted so that the user's last frame is the newest: its totalUnread is the current one.
    frames.delete(payload.conversationId);
    frames.set(payload.conversationId, payload);
    this.#timer ??= setTimeout(() => this.flush(), this.#flushMs);
  }

  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#pending;
    this.#pending = new Map();
    for (const [userId, frames] of batch) {
      for (const payload of frames.values()) {
        this.#nc.publish(this.#names.subjects.ephemeral(userId), encodeJson({ type: 'unread.update', payload }));
      }
    }
  }
}
