import type { Logger } from '../lib/log.js';
import { decideAdmission, DrainRate, isOverloaded, RecentSends, SHED_FROM, type AdmissionLimits } from './admission.js';

/** How often the gateway reads the backlog. */
const POLL_MS = 250;

/**
 * Admission control: how much work waits before a sent message reaches its recipients, read four
 * times a second: the commands not yet decided (lib/nats.ts undecidedCommands) plus
 * the events the delivery projector has not finished (not yet delivered to it, or not acked). The
 * rate at which the projector takes events, read at the same time, is the rate the pipeline drains
 * at: its ack floor moves in jumps (an event is acked once its users' unread counts are written, at
 * most once a second per user), and a rate read from it refused sends at 1,000 msg/s, which the
 * pipeline delivers with a p99 of 113 ms. Past either limit (admission.ts: a count, and a wait =
 * backlog / drain rate), new sends are refused with the temporary error `overloaded`.
 *
 * Without it, a gateway offered more than the pipeline delivers stores everything: at 10,000 msg/s
 * on a 2-core machine the backlog grew by 6,000 a second, every message waited longer than the one
 * before, and the gateway's shared NATS connection was cut as a slow consumer (466 deliveries/s).
 * Counting commands alone moved the backlog to the delivery projector. With both: 3,003
 * deliveries/s and nothing lost. Refused sends cost the client a retry (same tempId: idempotent).
 *
 * Between two reads the gateway counts the sends it let through itself, so the limit holds at any
 * offered rate: with the reads alone, at 10,000 msg/s it let 2,500–5,000 through per read (more
 * while a slow read was pending) and the backlog overshot to 81,000 with a limit of 20,000.
 */
/** The delivery projectors' unfinished events (the partition furthest behind) and how far the slowest has read. */
export type DeliveryWaiting = { waiting: number; delivered: number };

export class CommandBacklog {
  readonly #commandsWaiting: () => Promise<number>;
  readonly #deliveryWaiting: () => Promise<DeliveryWaiting | null>;
  readonly #limits: AdmissionLimits;
  readonly #log: Logger;
  readonly #drain = new DrainRate();
  /** Sends asked for per user (admitted or not), for who is refused first (admission.ts decideAdmission). */
  readonly #recent = new RecentSends();
  /** The backlog as last read. */
  #lastRead = 0;
  /** Sends this gateway let through since the read started that `#lastRead` came from. */
  #admitted = 0;
  /** Over a limit at the last read: only to log the changes. */
  #loggedOver = false;
  #timer: NodeJS.Timeout | undefined;
  #reading = false;

  /**
   * `commandsWaiting`: the undecided commands in every partition stream (lib/nats.ts undecidedCommands);
   * `deliveryWaiting`: the events the delivery projectors have not finished (lib/delivery-durables.ts
   * deliveryBacklog), null before any has started.
   */
  constructor(commandsWaiting: () => Promise<number>, deliveryWaiting: () => Promise<DeliveryWaiting | null>, limits: AdmissionLimits, log: Logger) {
    this.#commandsWaiting = commandsWaiting;
    this.#deliveryWaiting = deliveryWaiting;
    this.#limits = limits;
    this.#log = log;
  }

  /** Commands and unfinished events: as last read, plus the sends let through since. */
  get size(): number {
    return this.#lastRead + this.#admitted;
  }

  /** Events a second the delivery projector takes, over the last two seconds (undefined: not known yet). */
  get drainPerSec(): number | undefined {
    return this.#drain.perSecond();
  }

  get overloaded(): boolean {
    return isOverloaded(this.size, this.#drain.perSecond(), this.#limits);
  }

  /** Past half a limit: the heaviest senders are refused (admission.ts SHED_FROM). */
  get shedding(): boolean {
    const soft = { ...this.#limits, maxBacklog: this.#limits.maxBacklog * SHED_FROM, maxWaitMs: this.#limits.maxWaitMs * SHED_FROM };
    return isOverloaded(this.size, this.#drain.perSecond(), soft);
  }

  /** Whether a send of `userId` may go in now; one that may is counted until the next read sees it. */
  admit(userId: string): boolean {
    const now = performance.now();
    const userRate = this.#recent.add(userId, now);
    const decision = decideAdmission({ backlog: this.size, drainPerSec: this.#drain.perSecond(), userRate, activeSenders: this.#recent.active(now) }, this.#limits);
    if (decision !== 'admit') return false;
    this.#admitted++;
    return true;
  }

  start(): void {
    this.#timer = setInterval(() => void this.#read(), POLL_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async #read(): Promise<void> {
    if (this.#reading) return; // a slow answer is not asked again on top of itself
    this.#reading = true;
    // Sends let through before the read asks are in what it returns; later ones may not be.
    const before = this.#admitted;
    try {
      const [commands, delivery] = await Promise.all([
        this.#commandsWaiting(),
        // No delivery projector yet (its consumer is made when it starts): nothing waits for it.
        this.#deliveryWaiting().catch(() => null),
      ]);
      this.#lastRead = commands + (delivery ? delivery.waiting : 0);
      this.#admitted -= before;
      if (delivery) this.#drain.add(performance.now(), delivery.delivered);
      else this.#drain.clear();
      const over = isOverloaded(this.#lastRead, this.#drain.perSecond(), this.#limits);
      if (over !== this.#loggedOver) {
        const fields = { backlog: this.#lastRead, drainPerSec: Math.round(this.#drain.perSecond() ?? 0), ...this.#limits };
        if (over) this.#log.warn(fields, 'command backlog over its limit: refusing sends with overloaded');
        else this.#log.info(fields, 'command backlog back under its limit: accepting sends');
      }
      this.#loggedOver = over;
    } catch (err) {
      // Unknown is not over: a NATS hiccup must not refuse every send (they fail on their own if NATS is down).
      this.#log.debug({ err }, 'could not read the command backlog');
      this.#lastRead = 0;
      this.#admitted = 0;
      this.#drain.clear();
    } finally {
      this.#reading = false;
    }
  }
}
