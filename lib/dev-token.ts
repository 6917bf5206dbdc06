import { SignJWT } from 'jose';
import { isId } from '../schemas/index.js';

/**
 * Mint an HS256 token for development and tests. A non-positive ttl mints an already-expired token.
 * Here rather than beside the verifier (gateway/auth.ts) because the CLI and the benchmarks mint
 * tokens too, and neither should reach into the gateway for it.
 */
export async function signDevToken(
  config: { secret: string; issuer?: string; audience?: string },
  claims: { sub: string; name?: string; picture?: string; scope?: string },
  ttlSeconds: number,
): Promise<string> {
  // The verifier refuses any other `sub`: it becomes a NATS subject token.
  if (!isId(claims.sub)) throw new Error('signDevToken: sub must match ^[A-Za-z0-9_-]{1,128}$');
  if (!Number.isFinite(ttlSeconds)) throw new Error('signDevToken: ttlSeconds must be a finite number');
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({
    ...(claims.name !== undefined ? { name: claims.name } : {}),
    ...(claims.picture !== undefined ? { picture: claims.picture } : {}),
    ...(claims.scope !== undefined ? { scope: claims.scope } : {}),
  })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuedAt(now)
    .setExpirationTime(now + ttlSeconds);
  if (config.issuer !== undefined) jwt.setIssuer(config.issuer);
  if (config.audience !== undefined) jwt.setAudience(config.audience);
  return jwt.sign(new TextEncoder().encode(config.secret));
}
