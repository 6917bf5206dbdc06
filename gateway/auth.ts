/**
 * JWT verification for the gateway (WebSocket upgrade and REST). jose does the cryptography and the
 * standard claim checks; this module pins the configuration, maps failures onto ParleyError codes and
 * turns the claims into an Identity.
 */
import { createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { sanitizeText } from '../lib/wire-value.js';
import { ParleyError } from '../lib/errors.js';

export type AuthConfig = {
  secret?: string; // HS256 shared secret (utf-8)
  jwksUrl?: string; // alternatively a JWKS URL (RS256/ES256/EdDSA keys), via jose createRemoteJWKSet
  algorithms: string[]; // allow-list, e.g. ['HS256'] or ['RS256','ES256','EdDSA']; never allow 'none'
  issuer?: string; // checked when set
  audience?: string; // checked when set
  clockToleranceSec: number; // small, e.g. 5
};

/**
 * A display claim as the actor of every command: its schema's length, and text every store can
 * hold. An identity provider may let users pick any name; refusing it would lock the user out.
 */
function claimText(value: string, maxLength: number): string {
  return sanitizeText(sanitizeText(value).slice(0, maxLength)); // the second pass mends a pair cut in two
}

export type Identity = {
  userId: string;
  name?: string;
  avatar?: string;
  expiresAt: number /* ms epoch */;
  /** The token's `iat` in ms (absent without one): a revocation refuses tokens issued before it. */
  issuedAt?: number;
  /** The token's `scope` holds `parley:admin`: the /v1/admin routes are open to it. */
  admin?: true;
};

/** The scope that opens the admin routes. */
export const ADMIN_SCOPE = 'parley:admin';

/**
 * Whether a `scope` claim grants `scope`: a space-separated string (RFC 8693, as OAuth servers
 * issue it) or an array of strings (as some identity providers do).
 */
export function hasScope(claim: unknown, scope: string): boolean {
  if (typeof claim === 'string') return claim.split(' ').includes(scope);
  return Array.isArray(claim) && claim.includes(scope);
}

export interface TokenVerifier {
  verify(token: string): Promise<Identity>;
}

/** `sub` becomes a NATS subject token, so no '.', '*', '>', whitespace or other surprises. */
const SUBJECT_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

export function createTokenVerifier(config: AuthConfig): TokenVerifier {
  if (!config.secret && !config.jwksUrl) throw new Error('auth: configure either secret or jwksUrl');
  if (config.algorithms.length === 0) throw new Error('auth: algorithms must not be empty');
  if (config.algorithms.some((alg) => alg.toLowerCase() === 'none')) {
    throw new Error("auth: 'none' must never be an allowed algorithm");
  }
  if (!Number.isFinite(config.clockToleranceSec) || config.clockToleranceSec < 0) {
    throw new Error('auth: clockToleranceSec must be a non-negative number');
  }

  // Imported into WebCrypto once per HMAC alg: given raw bytes (or a secret KeyObject), jose
  // imports them again on every verify, which was ~40 % of a verify's CPU.
  const secretBytes = config.secret ? (new TextEncoder().encode(config.secret) as Uint8Array<ArrayBuffer>) : undefined;
  const hmacKeys = new Map<string, Promise<CryptoKey>>();
  const hmacKey = (alg: string, secret: Uint8Array<ArrayBuffer>): Promise<CryptoKey> => {
    let key = hmacKeys.get(alg);
    if (!key) {
      const hash = { HS256: 'SHA-256', HS384: 'SHA-384', HS512: 'SHA-512' }[alg];
      if (!hash) throw new ParleyError('unauthorized', `unsupported algorithm ${alg}`);
      key = crypto.subtle.importKey('raw', secret, { name: 'HMAC', hash }, false, ['verify']);
      hmacKeys.set(alg, key);
    }
    return key;
  };
  const jwks = config.jwksUrl ? createRemoteJWKSet(new URL(config.jwksUrl)) : undefined;

  // Pick the key by the token's (already allow-listed) alg. HMAC algorithms only ever use the
  // configured secret; everything else only ever uses the JWKS, so a key set can never be used as
  // an HMAC secret and the secret never verifies an asymmetric signature.
  const getKey: JWTVerifyGetKey = async (header, token) => {
    if (header.alg.startsWith('HS')) {
      if (!secretBytes) throw new ParleyError('unauthorized', `no key configured for ${header.alg}`);
      return hmacKey(header.alg, secretBytes);
    }
    if (!jwks) throw new ParleyError('unauthorized', `no key configured for ${header.alg}`);
    try {
      return await jwks(header, token);
    } catch (err) {
      if (err instanceof errors.JOSEError) throw err; // no matching key, bad JWKS, timeout: mapped below
      throw new ParleyError('unauthorized', 'key set unavailable', { cause: err }); // e.g. fetch failed
    }
  };

  return {
    async verify(token: string): Promise<Identity> {
      if (typeof token !== 'string' || token === '') throw new ParleyError('unauthorized', 'missing token');
      let payload;
      try {
        ({ payload } = await jwtVerify(token, getKey, {
          // The header's alg is chosen by whoever made the token. Pinning the list is what stops
          // 'none' and algorithm-confusion tricks; jose rejects anything else before touching a key.
          algorithms: config.algorithms,
          requiredClaims: ['exp', 'sub'],
          clockTolerance: config.clockToleranceSec,
          ...(config.issuer !== undefined ? { issuer: config.issuer } : {}),
          ...(config.audience !== undefined ? { audience: config.audience } : {}),
        }));
      } catch (err) {
        throw toParleyError(err);
      }

      const { sub, exp, iat, name, picture, scope } = payload;
      if (typeof sub !== 'string' || !SUBJECT_PATTERN.test(sub)) {
        throw new ParleyError('unauthorized', 'sub claim must match ^[A-Za-z0-9_-]{1,128}$');
      }
      return {
        userId: sub,
        ...(typeof name === 'string' ? { name: claimText(name, 256) } : {}),
        ...(typeof picture === 'string' ? { avatar: claimText(picture, 2048) } : {}),
        expiresAt: (exp as number) * 1000, // required and checked to be a number by jose
        ...(typeof iat === 'number' ? { issuedAt: iat * 1000 } : {}), // a number when present (jose checks)
        ...(hasScope(scope, ADMIN_SCOPE) ? { admin: true as const } : {}),
      };
    },
  };
}

function toParleyError(err: unknown): ParleyError {
  if (err instanceof ParleyError) return err;
  // Only exp yields JWTExpired here (no maxTokenAge), and only after the signature checked out.
  if (err instanceof errors.JWTExpired) return new ParleyError('token_expired', 'token expired', { cause: err });
  let reason = 'invalid token';
  if (err instanceof errors.JOSEError) {
    switch (err.code) {
      case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
        reason = 'bad signature';
        break;
      case 'ERR_JOSE_ALG_NOT_ALLOWED':
        reason = 'algorithm not allowed';
        break;
      case 'ERR_JWS_INVALID':
      case 'ERR_JWT_INVALID':
        reason = 'malformed token';
        break;
      case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
        reason = err.message; // e.g. 'unexpected "aud" claim value', 'missing required "exp" claim'
        break;
      case 'ERR_JWKS_NO_MATCHING_KEY':
      case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
        reason = 'no matching key';
        break;
      case 'ERR_JWKS_INVALID':
      case 'ERR_JWKS_TIMEOUT':
        reason = 'key set unavailable';
        break;
    }
  }
  return new ParleyError('unauthorized', reason, { cause: err });
}

/**
 * Pull a token out of an upgrade request: `Authorization: Bearer x`, `?token=x` (query string without
 * the '?'), or a `bearer.<jwt>` entry in the comma-separated Sec-WebSocket-Protocol header. Checked in
 * that order; the first source that holds a non-empty token wins. (Browsers cannot set headers on a
 * WebSocket, hence the other two. If the subprotocol route is used, the server must not echo the
 * `bearer.` entry back as the selected protocol.)
 */
export function tokenFromRequest(input: { authorization?: string; query?: string; protocols?: string }): string | undefined {
  const fromHeader = input.authorization?.match(/^\s*Bearer\s+(\S+)\s*$/i)?.[1];
  if (fromHeader) return fromHeader;

  if (input.query) {
    const fromQuery = new URLSearchParams(input.query.replace(/^\?/, '')).get('token');
    if (fromQuery) return fromQuery;
  }

  if (input.protocols) {
    for (const entry of input.protocols.split(',')) {
      const p = entry.trim();
      if (p.startsWith('bearer.') && p.length > 'bearer.'.length) return p.slice('bearer.'.length);
    }
  }
  return undefined;
}
