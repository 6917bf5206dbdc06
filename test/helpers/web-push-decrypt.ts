import { createDecipheriv, createECDH, hkdfSync } from 'node:crypto';

/**
 * The user agent's side of Web Push message encryption (RFC 8291 over RFC 8188 "aes128gcm"),
 * written from the RFCs rather than taken from the `web-push` package: a test that decrypted with
 * the sender's own code would pass even if both sides shared the same mistake.
 */

export class PushDecryptError extends Error {
  override name = 'PushDecryptError';
}

const HEADER_FIXED = 16 + 4 + 1; // salt, record size, key id length
const TAG = 16;
const P256_POINT = 65; // uncompressed: 0x04 | x | y

const hkdf = (salt: Buffer, ikm: Buffer, info: Buffer, length: number): Buffer =>
  Buffer.from(hkdfSync('sha256', ikm, salt, info, length));

/** The plaintext of an aes128gcm Web Push body, for the subscriber holding `uaPrivateKey` and `authSecret`. */
export function decryptPushBody(body: Buffer, uaPrivateKey: Buffer, authSecret: Buffer): Buffer {
  if (body.length < HEADER_FIXED) throw new PushDecryptError('body shorter than the aes128gcm header');
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idlen = body[20]!;
  // RFC 8291 §4: the key id carries the sender's ephemeral public key, nothing else.
  if (idlen !== P256_POINT) throw new PushDecryptError(`keyid length ${idlen}, expected ${P256_POINT}`);
  const asPublic = body.subarray(HEADER_FIXED, HEADER_FIXED + idlen);
  if (asPublic.length !== P256_POINT || asPublic[0] !== 0x04) throw new PushDecryptError('keyid is not an uncompressed P-256 point');
  // RFC 8188 §2: a record must hold the tag and at least the padding delimiter.
  if (rs < TAG + 2) throw new PushDecryptError(`record size ${rs} is too small`);

  const ua = createECDH('prime256v1');
  ua.setPrivateKey(uaPrivateKey);
  let ecdhSecret: Buffer;
  try {
    ecdhSecret = ua.computeSecret(asPublic);
  } catch (err) {
    throw new PushDecryptError(`sender key is not on the curve: ${(err as Error).message}`);
  }

  // RFC 8291 §3.4: the auth secret salts the ECDH secret; both public keys bind it to this pair.
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), ua.getPublicKey(), asPublic]);
  const ikm = hkdf(authSecret, ecdhSecret, keyInfo, 32);
  // RFC 8188 §2.2 and §2.3.
  const cek = hkdf(salt, ikm, Buffer.from('Content-Encoding: aes128gcm\0'), 16);
  const nonce = hkdf(salt, ikm, Buffer.from('Content-Encoding: nonce\0'), 12);

  const records = body.subarray(HEADER_FIXED + idlen);
  if (records.length === 0) throw new PushDecryptError('no records');
  const parts: Buffer[] = [];
  for (let offset = 0, seq = 0; offset < records.length; offset += rs, seq++) {
    const record = records.subarray(offset, offset + rs);
    const last = offset + rs >= records.length;
    parts.push(unpad(openRecord(record, cek, recordNonce(nonce, seq)), last));
  }
  return Buffer.concat(parts);
}

function openRecord(record: Buffer, cek: Buffer, nonce: Buffer): Buffer {
  if (record.length < TAG + 1) throw new PushDecryptError('record shorter than its tag and delimiter');
  const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(record.subarray(record.length - TAG));
  try {
    return Buffer.concat([decipher.update(record.subarray(0, record.length - TAG)), decipher.final()]);
  } catch {
    throw new PushDecryptError('authentication tag does not match (wrong keys or altered body)');
  }
}

/**
 * RFC 8188 §2.3: the record sequence number is XORed into the low end of the nonce (the last 32
 * bits are enough: a push message is far below 2^32 records, and `^` works on 32-bit integers).
 */
function recordNonce(nonce: Buffer, seq: number): Buffer {
  const out = Buffer.from(nonce);
  out.writeUInt32BE((out.readUInt32BE(8) ^ seq) >>> 0, 8);
  return out;
}

/** RFC 8188 §2: data, then delimiter 0x02 (last record) or 0x01 (others), then any number of zeros. */
function unpad(plain: Buffer, last: boolean): Buffer {
  let i = plain.length - 1;
  while (i >= 0 && plain[i] === 0) i--;
  const expected = last ? 0x02 : 0x01;
  if (i < 0 || plain[i] !== expected) throw new PushDecryptError(`padding delimiter is not 0x0${expected}`);
  return plain.subarray(0, i);
}
