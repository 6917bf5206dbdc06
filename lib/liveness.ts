import type { NatsConnection } from '@nats-io/nats-core';

/**
 * Whether a NATS connection still reads what the server sends. "Connected" only says the socket
 * is open: a client whose reader has stopped (once, a subscription callback that threw) stays
 * connected and hears nothing. A PING is answered by a PONG that goes through the same reader, so
 * a flush that does not come back within `deadMs` means the reader is stuck or gone.
 */
export class ReaderLiveness {
  readonly #nc: NatsConnection;
  readonly #deadMs: number;
  readonly #timer: NodeJS.Timeout;
  /** When the flush in flight was sent; undefined when none is. */
  #since?: number;

  constructor(nc: NatsConnection, options: { everyMs?: number; deadMs?: number } = {}) {
    this.#nc = nc;
    this.#deadMs = options.deadMs ?? 5_000;
    this.#timer = setInterval(() => this.#probe(), options.everyMs ?? 2_000).unref();
  }

  #probe(): void {
    if (this.#since !== undefined || this.#nc.isClosed()) return;
    this.#since = Date.now();
    const done = () => (this.#since = undefined);
    this.#nc.flush().then(done, done);
  }

  get alive(): boolean {
    return this.#since === undefined || Date.now() - this.#since < this.#deadMs;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
