import { createPublicKey } from 'node:crypto';

/**
 * A subscription's keys must be usable before they are stored: a p256dh that is not a point on
 * P-256 would make every later encryption for it fail (RFC 8291 needs ECDH with it), and nothing
 * would tell the user why their pushes never come.
 */
export function p256dhProblem(p256dh: string): string | undefined {
  const bytes = Buffer.from(p256dh, 'base64url');
  if (bytes.length !== 65 || bytes[0] !== 0x04) return 'keys.p256dh must be an uncompressed P-256 public key (65 bytes, base64url)';
  try {
    createPublicKey({
      key: { kty: 'EC', crv: 'P-256', x: bytes.subarray(1, 33).toString('base64url'), y: bytes.subarray(33).toString('base64url') },
      format: 'jwk',
    });
  } catch {
    return 'keys.p256dh is not a point on P-256';
  }
  return undefined;
}

export function authSecretProblem(auth: string): string | undefined {
  return Buffer.from(auth, 'base64url').length === 16 ? undefined : 'keys.auth must be 16 bytes, base64url';
}
