import type { NatsConnection } from '@nats-io/nats-core';
import type { Config } from '../lib/config.js';
import { conversationNotFound, type ErrorCode } from '../lib/errors.js';
import { encodeJson } from '../lib/json.js';
import type { Faults } from '../lib/faults.js';
import type { Logger } from '../lib/log.js';
import type { Names } from '../lib/names.js';
import type { Connection } from './connection.js';
import { FanoutBudget, TypingSessions, type TypingSession } from './typing.js';

type Refs = { ref?: string };
type Reject = (conn: Connection, code: ErrorCode, message: string, refs: Refs & { retryAfterMs?: number }) => void;

/** Who may hear a member type (gateway/conversation-members.ts). */
export type TypingAudience = { recipients(conversationId: string, userId: string): Promise<string[] | undefined> };

/**
 * `typing.start` / `typing.stop` from this gateway's connections, relayed to the other members'
 * ephemeral subjects (`<prefix>.eph.<user>`, core NATS: no command, no event, no JetStream write,
 * nothing stored). The gateways of the members forward them (gateway/typing-feed.ts). Each
 * connection's typing frames are handled in order, one after the other, so that a stop never
 * overtakes the start it ends while the membership of the start is being read.
 *
 * Typing is per connection: what a device does. A connection that closes ends its own typing
 * (its user's other devices are not typing that text), and a `typing.stop` from one device ends
 * that device's typing alone.
 */
export class TypingRelay {
  readonly #nc: NatsConnection;
  readonly #names: Names;
  readonly #audience: TypingAudience;
  readonly #reject: Reject;
  readonly #log: Logger;
  readonly #faults: Faults;
  readonly #now: () => number;
  readonly #sessions: TypingSessions;
  readonly #fanoutPerSecond: number;
  readonly #fanoutBurst: number;
  readonly #timeoutMs: number;
  /** Per connection: its budget, and the tail of its typing frames being handled. */
  readonly #budgets = new Map<string, FanoutBudget>();
  readonly #chains = new Map<string, Promise<void>>();
  readonly #sweep: NodeJS.Timeout;

  constructor(deps: {
    nc: NatsConnection;
    names: Names;
    config: Config['typing'];
    audience: TypingAudience;
    reject: Reject;
    log: Logger;
    faults: Faults;
    now?: () => number;
  }) {
    this.#nc = deps.nc;
    this.#names = deps.names;
    this.#audience = deps.audience;
    this.#reject = deps.reject;
    this.#log = deps.log;
    this.#faults = deps.faults;
    this.#now = deps.now ?? Date.now;
    this.#timeoutMs = deps.config.timeoutMs;
    this.#sessions = new TypingSessions(deps.config);
    this.#fanoutPerSecond = deps.config.fanoutPerSecond;
    // Room for a start and its stop in the largest group (1000 members), whatever the rate.
    this.#fanoutBurst = Math.max(2 * deps.config.fanoutPerSecond, 2 * 999);
    // A tenth of the timeout: a typing ends between 1 and 1.1 timeouts after its last renewal.
    this.#sweep = setInterval(() => this.#expire(), Math.max(10, Math.floor(this.#timeoutMs / 10)));
    this.#sweep.unref();
  }

  start(conn: Connection, conversationId: string, refs: Refs): void {
    const userId = conn.userId!;
    this.#enqueue(conn.id, async () => {
      const recipients = await this.#recipientsOrRefuse(conn, conversationId, refs);
      if (recipients === undefined || conn.closed) return;
      const now = this.#now();
      const decision = this.#sessions.start(conn.id, userId, conversationId, now);
      if (decision === 'quiet') return;
      if (decision === 'too_many') {
        return this.#reject(conn, 'rate_limited', 'typing in too many conversations at once; stop one first', { ...refs, retryAfterMs: this.#timeoutMs });
      }
      // A start pays for its stop as well; a renewal for itself.
      const cost = recipients.length * (decision === 'relay' ? 2 : 1);
      if (!this.#budget(conn.id, now).take(cost, now)) {
        if (decision === 'renew') return; // receivers hold it a while longer; the next renewal tries again
        this.#sessions.stop(conn.id, conversationId);
        const retryAfterMs = this.#budget(conn.id, now).retryAfterMs(cost, now);
        return this.#reject(conn, 'rate_limited', 'typing relayed to too many recipients; slow down', { ...refs, retryAfterMs });
      }
      this.#publish('typing.start', conversationId, userId, recipients);
    });
  }

  stop(conn: Connection, conversationId: string, refs: Refs): void {
    const userId = conn.userId!;
    this.#enqueue(conn.id, async () => {
      const recipients = await this.#recipientsOrRefuse(conn, conversationId, refs);
      if (recipients === undefined) return;
      if (this.#sessions.stop(conn.id, conversationId)) this.#publish('typing.stop', conversationId, userId, recipients);
    });
  }

  /** The connection closed: what it was typing ends, after its frames still being handled. */
  closed(conn: Connection): void {
    const end = async () => {
      this.#budgets.delete(conn.id);
      const ended = this.#sessions.close(conn.id);
      if (ended.length > 0) await this.#end(ended);
    };
    // Most sockets never typed: nothing to queue for them.
    if (this.#chains.has(conn.id) || this.#sessions.has(conn.id)) this.#enqueue(conn.id, end);
    else this.#budgets.delete(conn.id);
  }

  /** Gateway stop: every typing here ends with a `typing.stop` (awaited, at most `waitMs`). */
  async close(waitMs = 2_000): Promise<void> {
    clearInterval(this.#sweep);
    for (const connectionId of this.#sessions.connectionIds()) {
      this.#enqueue(connectionId, () => this.#end(this.#sessions.close(connectionId)));
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.settled(), new Promise((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
  }

  /** Resolves once the typing frames queued so far are handled. */
  async settled(): Promise<void> {
    await Promise.all(this.#chains.values());
  }

  #expire(): void {
    for (const ended of this.#sessions.expire(this.#now())) this.#enqueue(ended.connectionId, () => this.#end([ended]));
  }

  async #end(sessions: TypingSession[]): Promise<void> {
    for (const { userId, conversationId } of sessions) {
      try {
        const recipients = await this.#audience.recipients(conversationId, userId);
        if (recipients) this.#publish('typing.stop', conversationId, userId, recipients);
      } catch (err) {
        // Receivers drop it themselves when the renewals stop (gateway/typing-feed.ts).
        this.#log.warn({ err, conversationId }, 'typing.stop not relayed: members unreadable');
      }
    }
  }

  async #recipientsOrRefuse(conn: Connection, conversationId: string, refs: Refs): Promise<string[] | undefined> {
    let recipients: string[] | undefined;
    try {
      recipients = await this.#audience.recipients(conversationId, conn.userId!);
    } catch (err) {
      this.#log.warn({ err, conversationId }, 'typing frame dropped: members unreadable');
      conn.sendError('send_failed', 'typing could not be relayed now; try again', refs);
      return undefined;
    }
    if (recipients === undefined) {
      // Exactly the engine's answer for a conversation that does not exist (the privacy rule).
      conn.sendError('conversation_not_found', conversationNotFound(conversationId).message, refs);
    }
    return recipients;
  }

  #budget(connectionId: string, now: number): FanoutBudget {
    let budget = this.#budgets.get(connectionId);
    if (!budget) this.#budgets.set(connectionId, (budget = new FanoutBudget(this.#fanoutPerSecond, this.#fanoutBurst, now)));
    return budget;
  }

  #publish(type: 'typing.start' | 'typing.stop', conversationId: string, userId: string, recipients: string[]): void {
    if (recipients.length === 0) return;
    // Encoded once for every recipient.
    const data = encodeJson({ type, payload: { conversationId, userId } });
    for (const recipient of recipients) this.#nc.publish(this.#names.subjects.ephemeral(recipient), data);
  }

  /** Run `task` after the connection's earlier typing tasks; the chain is forgotten once it is idle. */
  #enqueue(connectionId: string, task: () => Promise<void>): void {
    // Anything thrown here is a bug: contained, logged and counted in /health `faults`.
    const run = (this.#chains.get(connectionId) ?? Promise.resolve()).then(task).catch((err: unknown) => this.#faults.report(err, 'typing', { connectionId }));
    this.#chains.set(connectionId, run);
    void run.then(() => {
      if (this.#chains.get(connectionId) === run) this.#chains.delete(connectionId);
    });
  }
}
