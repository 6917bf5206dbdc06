import { closes } from '../lib/errors.js';
import type { Connection } from './connection.js';

/** How often tokens are checked: a socket outlives its token by at most this (plus the tolerance). */
const SWEEP_MS = 1_000;

/**
 * Closes sockets whose token has expired (4001), by sweeping every connection once a second
 * instead of a timer per socket: a timer with its own duration costs an idle connection ~200 bytes
 * (the Timeout and a timer list of its own), a sweep of 50,000 sockets well under a millisecond.
 * `auth.refresh` only has to replace the identity: the next sweep reads the new expiry.
 */
export class TokenExpiry {
  readonly #timer: NodeJS.Timeout;

  constructor(connections: Map<string, Connection>, toleranceMs: number) {
    this.#timer = setInterval(() => {
      const now = Date.now();
      for (const conn of connections.values()) {
        if (conn.closed || !conn.identity || conn.identity.expiresAt + toleranceMs > now) continue;
        conn.sendError('token_expired', 'token expired; reconnect with a fresh token');
        conn.close(closes.tokenExpired);
      }
    }, SWEEP_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
