import { randomBytes } from 'node:crypto';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { decodeJson, encodeJson } from '../lib/json.js';
import type { Logger } from '../lib/log.js';
import type { Names } from '../lib/names.js';
import type { PresenceNotice, PresenceStatus } from '../schemas/index.js';
import type { Connection } from './connection.js';

/** Users per snapshot notice: well under NATS's 1 MB message limit at 128-character ids. */
const SNAPSHOT_CHUNK = 2_000;

/** How long a connection waits for its status.bulk before going without (the presence service may be down). */
const STATUS_TIMEOUT_MS = 2_000;

/**
 * This gateway's side of presence: per user, not per connection — a notice when a user's first
 * connection here starts and one when their last one here closes (three tabs are one user), a
 * heartbeat every PARLEY_PRESENCE_HEARTBEAT_MS with the number of users held (the lease the
 * presence service keeps), the whole user list when the service asks for it (after a lost notice,
 * or its own restart), and `gone` on a clean stop. Core NATS, numbered per epoch
 * (schemas/presence-notices.ts): a SIGKILLed gateway simply stops heartbeating.
 */
export class PresenceNotices {
  readonly #nc: NatsConnection;
  readonly #names: Names;
  readonly #gatewayId: string;
  readonly #epoch = randomBytes(6).toString('hex');
  readonly #log: Logger;
  /** user → ids of their started connections here. */
  readonly #users = new Map<string, Set<string>>();
  readonly #timer: NodeJS.Timeout;
  readonly #sync: Subscription;
  #seq = 0;
  #stopped = false;
  /** When a missing status answer was last logged: once a minute is enough to say the service is down. */
  #statusWarnedAt = Number.NEGATIVE_INFINITY;
  statusMissed = 0;

  constructor(opts: { nc: NatsConnection; names: Names; gatewayId: string; heartbeatMs: number; log: Logger }) {
    this.#nc = opts.nc;
    this.#names = opts.names;
    this.#gatewayId = opts.gatewayId;
    this.#log = opts.log;
    this.#sync = this.#nc.subscribe(this.#names.subjects.presenceSync(this.#gatewayId), {
      callback: (err) => {
        if (err) return this.#log.warn({ err }, 'presence sync subscription error');
        this.#snapshot();
      },
    });
    this.#timer = setInterval(() => this.#send({ type: 'heartbeat', users: this.#users.size }), opts.heartbeatMs);
    // At once too: the service learns of this gateway (and asks for its users) without a wait.
    this.#send({ type: 'heartbeat', users: 0 });
  }

  /** A connection of the user started (after connection.success). */
  connected(conn: Connection): void {
    const userId = conn.userId;
    if (!userId || this.#stopped) return;
    const held = this.#users.get(userId);
    if (held) {
      held.add(conn.id);
      return;
    }
    this.#users.set(userId, new Set([conn.id]));
    this.#send({ type: 'user', userId, online: true });
  }

  /** A connection closed; the user's last one here makes them offline on this gateway. */
  disconnected(conn: Connection): void {
    const userId = conn.userId;
    if (!userId) return;
    const held = this.#users.get(userId);
    if (!held?.delete(conn.id) || held.size > 0) return;
    this.#users.delete(userId);
    if (!this.#stopped) this.#send({ type: 'user', userId, online: false });
  }

  get users(): number {
    return this.#users.size;
  }

  /**
   * The user's contacts' presence for status.bulk, from the presence service; undefined when it
   * does not answer in time (then nothing is sent: better none than a wrong one).
   */
  async status(userId: string): Promise<PresenceStatus[] | undefined> {
    try {
      const reply = await this.#nc.request(this.#names.subjects.presenceStatus, encodeJson({ userId }), { timeout: STATUS_TIMEOUT_MS });
      const body = decodeJson<{ users?: PresenceStatus[] }>(reply.data);
      return Array.isArray(body.users) ? body.users : undefined;
    } catch (err) {
      this.statusMissed++;
      if (Date.now() - this.#statusWarnedAt >= 60_000) {
        this.#statusWarnedAt = Date.now();
        this.#log.warn({ err, userId, missed: this.statusMissed }, 'no presence status (is a presence service running?); status.bulk not sent');
      }
      return undefined;
    }
  }

  /** A clean stop: the service drops this gateway's users now (each offline after the grace unless they are elsewhere). */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#sync.unsubscribe();
    this.#send({ type: 'gone' });
  }

  #snapshot(): void {
    if (this.#stopped) return;
    const users = [...this.#users.keys()];
    const parts = Math.max(1, Math.ceil(users.length / SNAPSHOT_CHUNK));
    const syncId = randomBytes(6).toString('hex');
    // All parts in one go: no notice of this gateway comes between them.
    for (let part = 0; part < parts; part++) {
      this.#send({ type: 'snapshot', syncId, part, parts, users: users.slice(part * SNAPSHOT_CHUNK, (part + 1) * SNAPSHOT_CHUNK) });
    }
  }

  #send(body: DistributiveOmit<PresenceNotice, 'gatewayId' | 'epoch' | 'seq'>): void {
    const notice = { ...body, gatewayId: this.#gatewayId, epoch: this.#epoch, seq: ++this.#seq };
    try {
      this.#nc.publish(this.#names.subjects.presenceNotices, encodeJson(notice));
    } catch (err) {
      // A closed connection (stopping): the lease ends this gateway's presence instead.
      this.#log.debug({ err }, 'presence notice not sent');
    }
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
