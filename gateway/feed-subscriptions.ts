import type { Msg, NatsConnection, Subscription } from '@nats-io/nats-core';
import type { GatewayFeeds } from '../lib/config.js';
import type { Logger } from '../lib/log.js';
import type { Names } from '../lib/names.js';

/** Where a feed's messages go: the user they are for, and the raw message. */
export type FeedSink = {
  live(userId: string, msg: Msg): void;
  ephemeral(userId: string, msg: Msg): void;
};

/**
 * The core NATS subscriptions that bring users' live inbox entries (`<prefix>.live.<user>`) and
 * ephemeral frames (`<prefix>.eph.<user>`) to this gateway. `add` is called before the user's
 * first socket reads its inbox, so whatever is stored after that read arrives here.
 */
export interface FeedSubscriptions {
  add(userId: string): void;
  remove(userId: string): void;
  close(): void;
}

export function createFeedSubscriptions(mode: GatewayFeeds, nc: NatsConnection, names: Names, sink: FeedSink, log: Logger): FeedSubscriptions {
  return mode === 'wildcard' ? new WildcardFeeds(nc, names, sink, log) : new PerUserFeeds(nc, names, sink, log);
}

/**
 * Two subscriptions for the whole gateway, dispatched by the subject's user token. A NATS
 * subscription costs ~1.5 KB of heap in the client (~2.2 KB RSS), more than everything else an idle
 * connection holds, so this is what keeps idle sockets cheap. The price: every gateway receives
 * every user's frames and drops those of users it does not hold.
 */
class WildcardFeeds implements FeedSubscriptions {
  readonly #subs: Subscription[];

  constructor(nc: NatsConnection, names: Names, sink: FeedSink, log: Logger) {
    const { subjects } = names;
    this.#subs = [
      nc.subscribe(subjects.liveUsers, {
        callback: (err, msg) => {
          if (err) return log.warn({ err }, 'live subscription error');
          const userId = subjects.userOfLive(msg.subject);
          if (userId !== undefined) sink.live(userId, msg);
        },
      }),
      nc.subscribe(subjects.ephemeralUsers, {
        callback: (err, msg) => {
          if (err) return;
          const userId = subjects.userOfEphemeral(msg.subject);
          if (userId !== undefined) sink.ephemeral(userId, msg);
        },
      }),
    ];
  }

  add(): void {}

  remove(): void {}

  close(): void {
    for (const sub of this.#subs) sub.unsubscribe();
  }
}

/** Two subscriptions per user held here: traffic only for local users, ~4.5 KB RSS per user. */
class PerUserFeeds implements FeedSubscriptions {
  readonly #nc: NatsConnection;
  readonly #names: Names;
  readonly #sink: FeedSink;
  readonly #log: Logger;
  readonly #subs = new Map<string, Subscription[]>();

  constructor(nc: NatsConnection, names: Names, sink: FeedSink, log: Logger) {
    this.#nc = nc;
    this.#names = names;
    this.#sink = sink;
    this.#log = log;
  }

  add(userId: string): void {
    if (this.#subs.has(userId)) return;
    const live = this.#nc.subscribe(this.#names.subjects.live(userId), {
      callback: (err, msg) => (err ? this.#log.warn({ err, userId }, 'live subscription error') : this.#sink.live(userId, msg)),
    });
    const ephemeral = this.#nc.subscribe(this.#names.subjects.ephemeral(userId), {
      callback: (err, msg) => (err ? undefined : this.#sink.ephemeral(userId, msg)),
    });
    this.#subs.set(userId, [live, ephemeral]);
  }

  remove(userId: string): void {
    for (const sub of this.#subs.get(userId) ?? []) sub.unsubscribe();
    this.#subs.delete(userId);
  }

  close(): void {
    for (const subs of this.#subs.values()) for (const sub of subs) sub.unsubscribe();
    this.#subs.clear();
  }
}
