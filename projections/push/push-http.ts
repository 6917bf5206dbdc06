import http from 'node:http';
import https from 'node:https';
import { publicOnlyLookup } from '../../lib/push-endpoint.js';

export type PushRequest = { endpoint: string; headers: Record<string, string | number>; body: Buffer | null };
/** What the push service answered (status and Retry-After in ms, if any), or how the request failed. */
export type PushResponse = { status: number; retryAfterMs?: number } | { error: string; code?: string };

/**
 * Connections kept open per push service: a new TCP (and TLS) connection per push was the largest
 * cost after the encryption. Bounded per origin, so one slow service holds at most that many.
 */
const AGENT_OPTIONS = { keepAlive: true, maxSockets: 64, maxFreeSockets: 16, timeout: 60_000 };
const plainAgent = new http.Agent(AGENT_OPTIONS);
const tlsAgent = new https.Agent(AGENT_OPTIONS);

/** A push service answers with a short body at most; more is not read. */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * POST one encrypted push. Our own request, not web-push's `sendNotification`: the connection
 * resolves names through publicOnlyLookup (a subscription's host cannot be pointed at the private
 * network after it was checked), plain http is possible for loopback endpoints in development
 * (web-push speaks https only), and the whole exchange has one deadline.
 */
export function postPush(req: PushRequest, opts: { timeoutMs: number; allowLoopback: boolean }): Promise<PushResponse> {
  return new Promise((resolve) => {
    let url: URL;
    try {
      url = new URL(req.endpoint);
    } catch {
      return resolve({ error: 'endpoint is not a URL' });
    }
    const transport = url.protocol === 'http:' ? http : https;
    const request = transport.request(url, {
      method: 'POST',
      headers: req.headers,
      // Resolved on every new connection: a checked name cannot be pointed elsewhere later.
      lookup: publicOnlyLookup(opts.allowLoopback) as never,
      agent: url.protocol === 'http:' ? plainAgent : tlsAgent,
    });
    const timer = setTimeout(() => request.destroy(new Error(`no answer within ${opts.timeoutMs} ms`)), opts.timeoutMs);
    request.on('response', (res) => {
      let read = 0;
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > MAX_ANSWER_BYTES) res.destroy();
      });
      const done = () => {
        clearTimeout(timer);
        const retryAfterMs = retryAfterOf(res.headers['retry-after']);
        resolve({ status: res.statusCode ?? 0, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
      };
      res.on('end', done);
      res.on('close', done);
      res.on('error', done);
    });
    request.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ error: err.message, ...(err.code ? { code: err.code } : {}) });
    });
    request.end(req.body ?? undefined);
  });
}

/** Retry-After as seconds or an HTTP date (RFC 9110), in ms from now; undefined when absent or unreadable. */
export function retryAfterOf(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text.trim() === '') return undefined;
  if (/^\d{1,9}$/.test(text.trim())) return Number(text.trim()) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
