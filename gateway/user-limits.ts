import { KeyedBuckets } from './rate-limit.js';

/**
 * Per-user rate limits: one token bucket for a user's sends (`message.send`, WebSocket and REST)
 * and one for everything the user sends (frames and REST requests), shared by all of the user's
 * connections on this gateway. The per-connection bucket (connection.ts) alone let one user open
 * ten connections, or reconnect after every 4008, and get a fresh burst each time: 106k–279k
 * frames in 5 s past the limit, and ~990 sends/s paced under it. These buckets are kept per user
 * after the connections close (rate-limit.ts KeyedBuckets: dropped only once refilled), so a
 * reconnect finds the bucket as it was left.
 *
 * Across gateways the buckets are kept coherent approximately (usage-share.ts): every
 * `intervalMs` each gateway reports, for the users busy on it, the tokens they took since its last
 * report; the other gateways debit their own buckets for those users by as much (a bucket may go
 * into debt, down to minus its size, which its refill pays off first). A user flooding through N
 * gateways gets about the per-user rate in all, plus up to N bursts at the start and one interval's
 * worth of each gateway's takes before the others hear of them. "Busy" is having taken at least a
 * quarter of what the bucket refills in an interval: a user under that on every gateway is not
 * reported, so may get up to the rate plus a quarter of it per gateway (N gateways: 1 + N/4 times
 * the rate), at no cost to the reports when users are not near their limits.
 */
export type UserLimitSettings = { sendsPerSecond: number; sendBurst: number; framesPerSecond: number; frameBurst: number };

/** What gateways tell each other: tokens taken per user since the last report. */
export type UsageReport = { gatewayId: string; sends: [string, number][]; frames: [string, number][] };

/** What the frame handler and REST need: 0 when allowed (and counted), otherwise the ms until a retry can succeed. */
export interface UserRateLimits {
  takeFrame(userId: string): number;
  takeSend(userId: string): number;
}

/**
 * Commands besides message.send that take a token from the user's send bucket: each writes a frame
 * to the inbox of every member of a group of up to 1,000 (its creation, its administration), which
 * the frame rate alone (200/s) would let one user do hundreds of times a second. A join or a leave
 * is the user's own membership and stays on the frame rate.
 */
export const FAN_OUT_COMMANDS: ReadonlySet<string> = new Set([
  'conversation.create',
  'conversation.update',
  'conversation.add_members',
  'conversation.remove_member',
  'conversation.set_role',
]);
export const FAN_OUT_LIMITED_MESSAGE = 'too many conversation changes from this user; slow down';

/** Users tracked at most (each ~100 bytes); past it the oldest buckets are forgotten. */
const MAX_USERS = 200_000;

export class UserLimits implements UserRateLimits {
  readonly sends: KeyedBuckets;
  readonly frames: KeyedBuckets;
  readonly #clock: () => number;

  constructor(settings: UserLimitSettings, clock: () => number = Date.now, maxUsers = MAX_USERS) {
    this.sends = new KeyedBuckets(settings.sendsPerSecond, settings.sendBurst, maxUsers);
    this.frames = new KeyedBuckets(settings.framesPerSecond, settings.frameBurst, maxUsers);
    this.#clock = clock;
  }

  takeFrame(userId: string): number {
    return this.frames.take(userId, this.#clock());
  }

  takeSend(userId: string): number {
    return this.sends.take(userId, this.#clock());
  }

  /** The busy users' takes since the last report (undefined when there are none). */
  report(gatewayId: string, intervalMs: number): UsageReport | undefined {
    const sends = this.sends.takeUsage(busyFrom(this.sends.perSecond, intervalMs));
    const frames = this.frames.takeUsage(busyFrom(this.frames.perSecond, intervalMs));
    return sends.length || frames.length ? { gatewayId, sends, frames } : undefined;
  }

  /** Another gateway's report: its takes are debited here. */
  apply(report: UsageReport): void {
    const now = this.#clock();
    for (const [userId, n] of report.sends) if (n > 0) this.sends.debit(String(userId), n, now);
    for (const [userId, n] of report.frames) if (n > 0) this.frames.debit(String(userId), n, now);
  }
}

/** A user is reported once it took a quarter of what its bucket refills in an interval (at least 1). */
export function busyFrom(perSecond: number, intervalMs: number): number {
  return Math.max(1, Math.ceil((perSecond * intervalMs) / 1000 / 4));
}
