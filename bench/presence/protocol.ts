/**
 * What the presence scenario (bench/presence.ts) asks of its client processes (worker.ts) and what
 * they answer. Apart from the worker, as importing that module starts a worker.
 */

/** User `i` of the scenario is `pu<i>`; its contacts are the users `i ± 1 … i ± contacts/2` (mod users). */
export const userOf = (i: number): string => `pu${i}`;
export const indexOf = (user: string): number => (user.startsWith('pu') ? Number(user.slice(2)) : -1);

export type PresenceWorkerInit = {
  url: string;
  secret: string;
  /** This worker holds users first … first + count - 1. */
  first: number;
  count: number;
  /** Users in the whole scenario. */
  users: number;
  contacts: number;
  tokenTtlSec: number;
};

export type ConnectAnswer = { success: number; failed: number; errors: Record<string, number>; wallMs: number };

export type ContactsAnswer = { created: number; failed: number; errors: Record<string, number>; wallMs: number };

export type ChurnArgs = {
  /** Disconnects a second from this worker. */
  perSecond: number;
  durationMs: number;
  /** How long a disconnected user stays away before reconnecting (longer than grace + lease to be announced). */
  awayMs: number;
  timeoutMs: number;
};

export type ChurnAnswer = {
  /** Each disconnect: user index and wall-clock time (Date.now(): every process of the machine shares it). */
  disconnects: [number, number][];
  /** Each user.offline a client of this worker received: whose, and when. */
  offline: [number, number][];
  online: number;
  statusBulk: number;
  statusBulkUsers: number;
  reconnectFailures: number;
  /** Frames by type received during the churn window. */
  frames: Record<string, number>;
};
