/** JSON bytes on NATS: every stored event, command and inbox entry is readable by any client. */
export function encodeJson(value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value));
}

export function decodeJson<T = unknown>(bytes: Uint8Array): T {
  return JSON.parse(utf8Of(bytes)) as T;
}

/** The bytes as UTF-8 text, without copying them first. */
export function utf8Of(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}
