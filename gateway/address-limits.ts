import { isIPv6 } from 'node:net';
import { KeyedBuckets } from './rate-limit.js';

/**
 * Per-address limits on WebSocket upgrades, checked before a socket exists: a token bucket of
 * connection attempts, and a cap on the sockets open at once that have not authenticated yet.
 * A socket waiting for its `authenticate` frame costs 24–32 KB for up to PARLEY_AUTH_TIMEOUT_MS;
 * 3,000 of them from one address held ~90 MB, and nothing stopped a client from churning
 * connections (every 4008 was followed by a new socket with a fresh per-connection burst).
 * Pure: the clock is passed in.
 */
export type AddressLimitSettings = { connectsPerSecond: number; connectBurst: number; maxUnauthenticated: number };

export type AddressVerdict = { ok: true } | { ok: false; reason: string; retryAfterMs: number };

/** Addresses tracked at most; past it the oldest connect buckets are forgotten (they start full). */
const MAX_ADDRESSES = 100_000;

/** What a client refused for too many unauthenticated sockets is told to wait: one of them may authenticate or time out by then. */
const UNAUTHENTICATED_RETRY_MS = 1_000;

export class AddressLimits {
  readonly #connects: KeyedBuckets;
  readonly #unauthenticated = new Map<string, number>();
  readonly #max: number;

  constructor(settings: AddressLimitSettings, maxAddresses = MAX_ADDRESSES) {
    this.#connects = new KeyedBuckets(settings.connectsPerSecond, settings.connectBurst, maxAddresses);
    this.#max = settings.maxUnauthenticated;
  }

  /** Whether an upgrade from `address` may go ahead; one that may is counted as an attempt. */
  admit(address: string, now: number): AddressVerdict {
    // The cap first: an attempt refused for it does not also spend a connect token.
    if ((this.#unauthenticated.get(address) ?? 0) >= this.#max) {
      return { ok: false, reason: `more than ${this.#max} unauthenticated connections from this address`, retryAfterMs: UNAUTHENTICATED_RETRY_MS };
    }
    const wait = this.#connects.take(address, now);
    if (wait > 0) return { ok: false, reason: 'too many connection attempts from this address', retryAfterMs: wait };
    return { ok: true };
  }

  /** A socket from `address` opened without an identity yet. */
  opened(address: string): void {
    this.#unauthenticated.set(address, (this.#unauthenticated.get(address) ?? 0) + 1);
  }

  /** That socket authenticated or closed (call once per `opened`). */
  settled(address: string): void {
    const n = (this.#unauthenticated.get(address) ?? 0) - 1;
    if (n > 0) this.#unauthenticated.set(address, n);
    else this.#unauthenticated.delete(address);
  }

  unauthenticated(address: string): number {
    return this.#unauthenticated.get(address) ?? 0;
  }
}

/**
 * The address a request comes from. X-Forwarded-For is believed only for `trustedHops` proxies
 * of our own: each appends the address it saw, so the entry `trustedHops` from the right is the
 * one the outermost of them saw (entries left of it are whatever the client wrote). Without
 * trusted proxies (the default) the header is ignored: anyone can send it.
 */
export function clientAddress(socketAddress: string, forwardedFor: string, trustedHops: number): string {
  if (trustedHops <= 0 || forwardedFor.trim() === '') return addressKey(socketAddress);
  const entries = forwardedFor.split(',').map((s) => s.trim()).filter(Boolean);
  const entry = entries[Math.max(0, entries.length - trustedHops)];
  return addressKey(entry ?? socketAddress);
}

/**
 * What limits are kept by: an IPv4 address as is (an IPv4-mapped IPv6 one as IPv4), an IPv6 one
 * by its /64 (what one subscriber or host is usually given; counting single IPv6 addresses would
 * let one client take 2^64 of them), anything else as is.
 */
export function addressKey(address: string): string {
  const a = address.trim().toLowerCase();
  if (!isIPv6(a)) return a;
  const groups = expandIPv6(a);
  // ::ffff:a.b.c.d, however it is written: the IPv4 client behind a dual-stack socket.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return [groups[6]! >> 8, groups[6]! & 255, groups[7]! >> 8, groups[7]! & 255].join('.');
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` and a dotted IPv4 tail expanded). */
function expandIPv6(a: string): number[] {
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(a);
  const text = dotted ? `${a.slice(0, dotted.index)}${((+dotted[1]! << 8) | +dotted[2]!).toString(16)}:${((+dotted[3]! << 8) | +dotted[4]!).toString(16)}` : a;
  const [head = '', tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((g) => parseInt(g, 16));
}
