import { LruMap } from '../lib/lru.js';
import type { Identity, TokenVerifier } from './auth.js';

/** Tokens remembered at most; longer tokens are not cached (bounds the memory to ~10 MB). */
const MAX_TOKENS = 10_000;
const MAX_TOKEN_LENGTH = 1_024;

/**
 * Remembers the tokens it has verified, until they expire: the same string verified again is
 * the same signature over the same claims. A client reconnecting or calling REST in a loop sends
 * one token over and over; verifying it each time was a quarter of the gateway's CPU under a REST
 * flood of 1,200 requests/s (all refused 429: the user's limit is only known once the token is),
 * and the per-user limits cannot refuse anything before it. A cached token past its `exp` is
 * verified again, so expiry (and its clock tolerance) is decided by the verifier as before.
 */
export function cachingVerifier(inner: TokenVerifier, clock: () => number = Date.now): TokenVerifier {
  const verified = new LruMap<string, Identity>(MAX_TOKENS);
  return {
    async verify(token: string): Promise<Identity> {
      const hit = typeof token === 'string' ? verified.get(token) : undefined;
      if (hit && clock() < hit.expiresAt) return { ...hit };
      const identity = await inner.verify(token);
      if (token.length <= MAX_TOKEN_LENGTH) verified.set(token, identity);
      return identity;
    },
  };
}
