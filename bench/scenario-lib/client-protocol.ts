/**
 * What `ClientPool` (client-pool.ts) asks of its client processes (client-worker.ts) and what they
 * answer. Apart from the worker, as importing that module starts a worker.
 */

export type WorkerInit = {
  url: string;
  secret: string;
  codec: 'json' | 'msgpack';
  users: string[];
  /** Source addresses to spread the clients over (client i uses localAddresses[i % n]). */
  localAddresses: string[];
  tokenTtlSec: number;
};

export type ConnectArgs = {
  /** Open clients until this many of this worker's clients have been attempted (default: all). */
  upTo?: number;
  /** In-flight connection attempts in this worker; 0 = all at once. */
  concurrency: number;
  /** Resume with `?cursor=` each client's cursor. */
  resume: boolean;
  /** Also wait until every client has message seqs 1..expectUpTo (its conversation's), counted from this op's start. */
  expectUpTo?: number;
  /**
   * Until then, a client whose socket the server closes reconnects from its cursor, as the
   * protocol tells clients to (after 100–500 ms, at most this many times). 0: no reconnects.
   */
  reconnects?: number;
  timeoutMs: number;
};

export type ConnectResult = {
  attempted: number;
  success: number;
  failed: number;
  resumedFlags: number;
  resets: number;
  errors: Record<string, number>;
  /** A few of the users that failed, for the logs. */
  failedUsers: string[];
  /** ms from this op's start (resume) or the client's own attempt (connect) to connection.success. */
  successMs: number[];
  /** ms from this op's start to the last expected message (only with expectUpTo). */
  caughtUpMs: number[];
  notCaughtUp: number;
  /** Every failed attempt (also those that a reconnect then repaired), by error. */
  attemptErrors: Record<string, number>;
  /** Sockets the server closed during this op after connection.success, by close code. */
  closedBy: Record<string, number>;
  reconnects: number;
  wallMs: number;
  rss: number;
};

export type VerifyResult = {
  clients: number;
  missing: number;
  duplicates: number;
  /** Durable frames whose inbox seq was not above the one before on the same connection. */
  outOfOrder: number;
  unexpected: number;
  example?: string;
};

export type Stats = {
  open: number;
  success: number;
  unreadSummaries: number;
  conversations: number;
  /** Clients holding every message seq 1..n (given n). */
  complete: number;
  rss: number;
  heapUsed: number;
};

/** A ConnectResult with nothing counted yet. */
export function emptyConnectResult(): ConnectResult {
  return {
    attempted: 0,
    success: 0,
    failed: 0,
    resumedFlags: 0,
    resets: 0,
    errors: {},
    failedUsers: [],
    successMs: [],
    caughtUpMs: [],
    notCaughtUp: 0,
    closedBy: {},
    attemptErrors: {},
    reconnects: 0,
    wallMs: 0,
    rss: 0,
  };
}
