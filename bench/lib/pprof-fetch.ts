/** A CPU profile from a Go process's net/http/pprof endpoint (nats-server --profile <port>), saved as served. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export class PprofFetchError extends Error {
  override name = 'PprofFetchError';
}

/** The profile URL; Go reads `seconds` as a whole number (anything else means its default, 30 s). */
export function cpuProfileUrl(baseUrl: string, seconds: number): string {
  return `${baseUrl.replace(/\/$/, '')}/debug/pprof/profile?seconds=${Math.max(1, Math.round(seconds))}`;
}

/**
 * GET a CPU profile of `seconds` (the request returns when they have passed) and write it to
 * `file` (gzip-compressed protobuf, `go tool pprof` reads it). Gives up `slackMs` after the
 * profile should have come, or when `signal` aborts.
 */
export async function fetchCpuProfile(baseUrl: string, seconds: number, file: string, signal?: AbortSignal, slackMs = 15_000): Promise<void> {
  const url = cpuProfileUrl(baseUrl, seconds);
  const timeout = AbortSignal.timeout(Math.max(1, Math.round(seconds)) * 1000 + slackMs);
  const res = await fetch(url, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
  const body = new Uint8Array(await res.arrayBuffer());
  // Go answers errors (another profile already running, a write timeout) as plain text
  if (!res.ok) throw new PprofFetchError(`${url} answered ${res.status}: ${new TextDecoder().decode(body.subarray(0, 200)).trim()}`);
  if (body[0] !== 0x1f || body[1] !== 0x8b) throw new PprofFetchError(`${url} answered ${body.length} bytes that are not gzip (not a profile)`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, body);
}
