import type { NatsConnection } from '@nats-io/nats-core';
import { ReaderLiveness } from './liveness.js';

/** Whether a NATS connection is up: connected AND reading (see lib/liveness.ts). */
export class NatsUp {
  readonly #nc: NatsConnection;
  readonly #liveness: ReaderLiveness;
  readonly #connected: () => boolean;

  /** `onReconnect` runs after each reconnect. */
  constructor(nc: NatsConnection, onReconnect?: () => void) {
    this.#nc = nc;
    this.#liveness = new ReaderLiveness(nc);
    this.#connected = connectedFlag(nc, onReconnect);
  }

  get up(): boolean {
    return this.#connected() && this.#liveness.alive;
  }

  get server(): string {
    return this.#nc.getServer();
  }

  stop(): void {
    this.#liveness.stop();
  }
}

/** Whether a NATS connection is up, as its status events tell; `onReconnect` runs after each reconnect. */
function connectedFlag(nc: NatsConnection, onReconnect?: () => void): () => boolean {
  let connected = true;
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') connected = false;
      if (s.type === 'reconnect') {
        connected = true;
        onReconnect?.();
      }
    }
  })();
  return () => connected && !nc.isClosed();
}
