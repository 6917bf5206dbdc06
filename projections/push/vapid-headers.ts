import webpush from 'web-push';
import type { VapidKeys } from '../../lib/vapid-keys.js';

/** How long a VAPID token is valid (RFC 8292 allows at most 24 hours). */
const TOKEN_LIFETIME_S = 12 * 3600;
/** A token is made again this long before it expires, so none goes out about to expire. */
const RENEW_BEFORE_S = 3600;

/**
 * VAPID `Authorization` headers, one per push service origin, reused until an hour before they
 * expire. Signing a fresh ES256 token for every push (what web-push does by default) was a third
 * of the push process's CPU in `bench push`; the token says nothing about the push, only who sends
 * (RFC 8292 §2), so one per origin is as good.
 */
export class VapidHeaders {
  readonly #keys: VapidKeys;
  readonly #byAudience = new Map<string, { header: string; renewAt: number }>();

  constructor(keys: VapidKeys) {
    this.#keys = keys;
  }

  /** The Authorization header for a push to `endpoint` (whose origin is the token's audience). */
  for(endpoint: string, nowMs = Date.now()): string {
    const audience = new URL(endpoint).origin;
    const cached = this.#byAudience.get(audience);
    if (cached && nowMs < cached.renewAt) return cached.header;
    const expiresAt = Math.floor(nowMs / 1000) + TOKEN_LIFETIME_S;
    const { Authorization } = webpush.getVapidHeaders(audience, this.#keys.subject, this.#keys.publicKey, this.#keys.privateKey, 'aes128gcm', expiresAt) as { Authorization: string };
    this.#byAudience.set(audience, { header: Authorization, renewAt: (expiresAt - RENEW_BEFORE_S) * 1000 });
    return Authorization;
  }
}
