import type { JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from '../lib/log.js';

/** How often the gateway reads the backlog. */
const POLL_MS = 500;

/**
 * Admission control: how much work waits before a sent message reaches its recipients, read twice
 * a second: the commands in the command stream (a work queue: what is decided is gone) plus the
 * events the delivery projector has not finished (not yet delivered to it, or not acked). Past
 * `limit`, new sends are refused with the temporary error `overloaded` instead of stored.
 *
 * Without it, a gateway offered more than the pipeline delivers stores everything: at 10,000 msg/s
 * on a 2-core machine the backlog grew by 6,000 a second, every message waited longer than the one
 * before, and the gateway's shared NATS connection was cut as a slow consumer (466 deliveries/s).
 * Counting commands alone moved the backlog to the delivery projector. With both: 3,003
 * deliveries/s and nothing lost. Refused sends cost the client a retry (same tempId: idempotent).
 */
export class CommandBacklog {
  readonly #jsm: JetStreamManager;
  readonly #stream: string;
  readonly #delivery: { stream: string; consumer: string };
  readonly #limit: number;
  readonly #log: Logger;
  #size = 0;
  #over = false;
  #timer: NodeJS.Timeout | undefined;
  #reading = false;

  constructor(jsm: JetStreamManager, stream: string, delivery: { stream: string; consumer: string }, limit: number, log: Logger) {
    this.#jsm = jsm;
    this.#stream = stream;
    this.#delivery = delivery;
    this.#limit = limit;
    this.#log = log;
  }

  /** Commands and undelivered events waiting, as last read. */
  get size(): number {
    return this.#size;
  }

  get overloaded(): boolean {
    return this.#over;
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
    try {
      const [commands, delivery] = await Promise.all([
        this.#jsm.streams.info(this.#stream),
        // No delivery projector yet (its consumer is made when it starts): nothing waits for it.
        this.#jsm.consumers.info(this.#delivery.stream, this.#delivery.consumer).catch(() => null),
      ]);
      this.#size = commands.state.messages + (delivery ? delivery.num_pending + delivery.num_ack_pending : 0);
      const over = this.#size > this.#limit;
      if (over !== this.#over) {
        if (over) this.#log.warn({ backlog: this.#size, limit: this.#limit }, 'command backlog over its limit: refusing sends with overloaded');
        else this.#log.info({ backlog: this.#size, limit: this.#limit }, 'command backlog back under its limit: accepting sends');
      }
      this.#over = over;
    } catch (err) {
      // Unknown is not over: a NATS hiccup must not refuse every send (they fail on their own if NATS is down).
      this.#log.debug({ err }, 'could not read the command backlog');
      this.#over = false;
    } finally {
      this.#reading = false;
    }
  }
}
