import { compactVerify, decodeJwt, importJWK } from 'jose';

/**
 * A push service's check of the VAPID `Authorization: vapid t=<jwt>, k=<key>` header (RFC 8292).
 * It returns a verdict instead of throwing, so a test can assert on why a sender was refused.
 */

export type VapidFailure =
  | 'missing' // no Authorization header, or not the vapid scheme
  | 'malformed' // t or k absent, k not a P-256 point, t not a JWT
  | 'bad-signature' // not ES256, or not signed by the private half of k
  | 'wrong-aud' // aud is not the push service's origin
  | 'no-exp'
  | 'expired'
  | 'exp-too-far' // more than 24 hours ahead (RFC 8292 §2)
  | 'bad-sub'; // absent, or neither mailto: nor https:

export type VapidCheck = {
  ok: boolean;
  reason?: VapidFailure;
  /** The claims as sent, even when the check failed, so a test can see what was wrong. */
  sub?: string;
  aud?: string;
  exp?: number;
  /** The sender's public key (k), base64url. */
  k?: string;
};

const DAY_SEC = 24 * 60 * 60;

export async function checkVapid(authorization: string | undefined, origin: string, nowSec = Date.now() / 1000): Promise<VapidCheck> {
  const scheme = /^vapid\s+(.+)$/i.exec(authorization ?? '');
  if (!scheme) return { ok: false, reason: 'missing' };
  const params = new Map<string, string>();
  for (const part of scheme[1]!.split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) params.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  const token = params.get('t');
  const k = params.get('k');
  if (!token || !k) return { ok: false, reason: 'malformed' };

  const seen: VapidCheck = { ok: false, k };
  try {
    const claims = decodeJwt(token);
    if (typeof claims.sub === 'string') seen.sub = claims.sub;
    if (typeof claims.aud === 'string') seen.aud = claims.aud;
    if (typeof claims.exp === 'number') seen.exp = claims.exp;
  } catch {
    return { ...seen, reason: 'malformed' };
  }

  const point = Buffer.from(k, 'base64url');
  if (point.length !== 65 || point[0] !== 0x04) return { ...seen, reason: 'malformed' };
  const key = await importJWK(
    { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') },
    'ES256',
  ).catch(() => undefined);
  if (!key) return { ...seen, reason: 'malformed' }; // a point off the curve
  try {
    await compactVerify(token, key, { algorithms: ['ES256'] });
  } catch {
    return { ...seen, reason: 'bad-signature' };
  }

  // Claims are checked here rather than by jwtVerify so each failure gets its own reason.
  if (seen.aud !== origin) return { ...seen, reason: 'wrong-aud' };
  if (seen.exp === undefined) return { ...seen, reason: 'no-exp' };
  if (seen.exp <= nowSec) return { ...seen, reason: 'expired' };
  if (seen.exp > nowSec + DAY_SEC) return { ...seen, reason: 'exp-too-far' };
  if (!seen.sub || !/^(mailto:|https:)/.test(seen.sub)) return { ...seen, reason: 'bad-sub' };
  return { ...seen, ok: true };
}
