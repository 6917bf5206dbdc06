import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { ParleyError, type ErrorCode } from '../lib/errors.js';
import type { Faults } from '../lib/faults.js';
import { decodeJson } from '../lib/json.js';
import { KeyedQueue } from '../lib/keyed-queue.js';
import type { Logger } from '../lib/log.js';
import type { Names } from '../lib/names.js';
import { compile, PresenceTransition } from '../schemas/index.js';
import type { Connection } from './connection.js';
import type { AskPresence } from './presence-query.js';
import { PresenceWatch } from './presence-watch.js';

type Refs = { ref?: string };

const validateTransition = compile(PresenceTransition);

export type PresenceSubscriptionStats = { watchedUsers: number; watchingConnections: number; forwarded: number; invalid: number };

/**
 * presence.subscribe / presence.unsubscribe: a connection also hears `user.online` /
 * `user.offline` of users who are not its contacts (a group's member list), while it is open.
 *
 * The presence service publishes each announced transition of user U once on
 * <prefix>.presence.user.<U>, naming the contacts it already told on their ephemeral subjects.
 * This gateway subscribes to that subject while one of its connections watches U (PresenceWatch
 * counts them) — per user, not one wildcard as the inbox feeds may be: subscriptions are opt-in
 * and few, and a wildcard would bring every transition of the installation, with its list of
 * contacts told, to every gateway (the presence storm issue 14 warns about). NATS drops what no
 * gateway watches.
 *
 * On the way to a connection a transition is dropped when its user is among the contacts told
 * (they have it already: one frame per transition, never two) or when either of the two blocks the
 * other (ConversationMembers' user states, at most 1 s stale). One user's transitions are
 * forwarded in the order they came (one queue per watched user).
 */
export class PresenceSubscriptions {
  readonly #nc: NatsConnection;
  readonly #names: Names;
  readonly #watch: PresenceWatch;
  readonly #ask: AskPresence;
  readonly #blocksEither: (a: string, b: string) => Promise<boolean>;
  readonly #reject: (conn: Connection, code: ErrorCode, message: string, refs: Refs) => void;
  readonly #log: Logger;
  readonly #faults: Faults;
  readonly #connections = new Map<string, Connection>();
  readonly #subs = new Map<string, Subscription>();
  readonly #queue = new KeyedQueue();
  #forwarded = 0;
  #invalid = 0;

  constructor(opts: {
    nc: NatsConnection;
    names: Names;
    maxPerConnection: number;
    ask: AskPresence;
    blocksEither: (a: string, b: string) => Promise<boolean>;
    /** An error that counts as a bad frame (frame-handler.ts reject). */
    reject: (conn: Connection, code: ErrorCode, message: string, refs: Refs) => void;
    log: Logger;
    faults: Faults;
  }) {
    this.#nc = opts.nc;
    this.#names = opts.names;
    this.#watch = new PresenceWatch(opts.maxPerConnection);
    this.#ask = opts.ask;
    this.#blocksEither = opts.blocksEither;
    this.#reject = opts.reject;
    this.#log = opts.log;
    this.#faults = opts.faults;
  }

  stats(): PresenceSubscriptionStats {
    return { watchedUsers: this.#watch.users, watchingConnections: this.#watch.connections, forwarded: this.#forwarded, invalid: this.#invalid };
  }

  /**
   * Watches the users (all or none: over the bound → validation_error, nothing changes) and answers
   * with `status.bulk` (the frame's ref) holding each named user's presence now, in the frame's
   * order without repeats. When the presence service does not answer, the frame's new
   * subscriptions are undone and it is answered `unavailable` (temporary: retry).
   */
  async subscribe(conn: Connection, userIds: string[], refs: Refs): Promise<void> {
    const asker = conn.userId;
    if (asker === undefined || conn.closed) return;
    const users = [...new Set(userIds)];
    const result = this.#watch.subscribe(conn.id, users);
    if (!result.ok) {
      return this.#reject(conn, 'validation_error', `a connection may subscribe to the presence of at most ${this.#watch.max} users (it has ${result.held}; this frame would make ${result.wanted})`, refs);
    }
    this.#connections.set(conn.id, conn);
    for (const userId of result.opened) this.#open(userId);
    try {
      const statuses = await this.#ask(asker, users);
      conn.send({ type: 'status.bulk', ...refs, payload: { users: statuses } });
    } catch (err) {
      // Closed meanwhile: closed() has let go of everything already.
      if (conn.closed) return;
      this.#drop(this.#watch.unsubscribe(conn.id, result.added));
      if (this.#watch.heldBy(conn.id) === 0) this.#connections.delete(conn.id);
      const e = err instanceof ParleyError ? err : new ParleyError('unavailable', 'presence is not available right now; retry');
      if (!(err instanceof ParleyError)) this.#faults.report(err, 'presence.subscribe', { connectionId: conn.id });
      conn.sendError(e.code, e.message, refs);
    }
  }

  /** Stops watching the users; ids not watched are no-ops. Always answered `presence.unsubscribed` with the ids. */
  unsubscribe(conn: Connection, userIds: string[], refs: Refs): void {
    const users = [...new Set(userIds)];
    this.#drop(this.#watch.unsubscribe(conn.id, users));
    if (this.#watch.heldBy(conn.id) === 0) this.#connections.delete(conn.id);
    conn.send({ type: 'presence.unsubscribed', ...refs, payload: { userIds: users } });
  }

  /** The connection closed: it watches nobody any more. */
  closed(conn: Connection): void {
    if (!this.#connections.delete(conn.id)) return;
    this.#drop(this.#watch.close(conn.id));
  }

  async stop(): Promise<void> {
    for (const sub of this.#subs.values()) sub.unsubscribe();
    this.#subs.clear();
    await this.#queue.idle();
  }

  #open(userId: string): void {
    if (this.#subs.has(userId)) return;
    const sub = this.#nc.subscribe(this.#names.subjects.presenceUser(userId), {
      callback: (err, msg) => {
        if (err) return this.#log.warn({ err, userId }, 'presence subscription error');
        const data = msg.data;
        void this.#queue.run(userId, () => this.#forward(userId, data)).catch((e: unknown) => this.#faults.report(e, 'presence forwarding', { userId }));
      },
    });
    this.#subs.set(userId, sub);
  }

  #drop(userIds: string[]): void {
    for (const userId of userIds) {
      this.#subs.get(userId)?.unsubscribe();
      this.#subs.delete(userId);
    }
  }

  async #forward(userId: string, data: Uint8Array): Promise<void> {
    let value: unknown;
    try {
      value = decodeJson(data);
    } catch {
      value = undefined;
    }
    const checked = validateTransition(value);
    if (!checked.ok || checked.value.userId !== userId) {
      this.#invalid++;
      return;
    }
    const t = checked.value;
    const told = new Set(t.told);
    // Per watching user (several connections of one user: one block check).
    const byViewer = new Map<string, Connection[]>();
    for (const connectionId of this.#watch.watchers(userId)) {
      const conn = this.#connections.get(connectionId);
      const viewer = conn?.userId;
      if (!conn || viewer === undefined || told.has(viewer)) continue;
      const list = byViewer.get(viewer);
      if (list) list.push(conn);
      else byViewer.set(viewer, [conn]);
    }
    if (byViewer.size === 0) return;
    const frame = { type: t.isOnline ? 'user.online' : 'user.offline', payload: { userId, isOnline: t.isOnline, lastSeen: t.lastSeen } };
    await Promise.all(
      [...byViewer].map(async ([viewer, conns]) => {
        let hidden: boolean;
        try {
          hidden = await this.#blocksEither(viewer, userId);
        } catch (err) {
          // Unknown blocks: say nothing rather than risk telling a blocked user.
          this.#log.warn({ err, viewer, userId }, 'could not read blocks; presence not forwarded');
          return;
        }
        if (hidden) return;
        for (const conn of conns) {
          if (conn.closed || !this.#watch.isWatching(conn.id, userId)) continue;
          conn.send(frame);
          this.#forwarded++;
        }
      }),
    );
  }
}
