import type { PushResponse } from './push-http.js';

/** What to do with a job after one attempt. Pure (push-sender.ts does it). */
export type PushOutcome =
  | { kind: 'pushed'; status: number; reason?: string }
  | { kind: 'gone'; status: number; reason: string }
  | { kind: 'retry'; delayMs: number; status?: number; reason: string }
  | { kind: 'failed'; status?: number; reason: string };

/** Back-off for 5xx and timeouts: 1 s, 2 s, 4 s … at most 5 minutes. */
export function backoffMs(attempt: number): number {
  return Math.min(300_000, 1_000 * 2 ** Math.max(0, attempt - 1));
}

/** Retry-After is honoured within these bounds: a service cannot make us hold a push for a day, nor spin. */
const RETRY_AFTER_MIN_MS = 1_000;
const RETRY_AFTER_MAX_MS = 600_000;

/**
 * RFC 8030 §5 and the push services' documentation: 201 (or any 2xx) is accepted; 404 and 410
 * mean the subscription is gone for good; 413 is a payload too large (the sender already tried
 * without the preview); 429 asks to slow down (Retry-After); 5xx and no answer are worth another
 * try; any other 4xx (400 a bad request, 401/403 a VAPID key the service refuses) will not get
 * better by trying again.
 */
export function nextStep(answer: PushResponse, attempt: number, maxAttempts: number): PushOutcome {
  const retryOr = (delayMs: number, reason: string, status?: number): PushOutcome =>
    attempt < maxAttempts
      ? { kind: 'retry', delayMs, reason, ...(status !== undefined ? { status } : {}) }
      : { kind: 'failed', reason: `${reason}; gave up after ${attempt} attempts`, ...(status !== undefined ? { status } : {}) };
  if ('error' in answer) {
    // An endpoint that resolves to a private address is refused every time: no point retrying.
    if (answer.code === 'EPUSHADDRESS') return { kind: 'failed', reason: answer.error };
    return retryOr(backoffMs(attempt), answer.error);
  }
  const { status } = answer;
  if (status >= 200 && status < 300) return { kind: 'pushed', status };
  if (status === 404 || status === 410) return { kind: 'gone', status, reason: 'the push service says the subscription is gone' };
  if (status === 429) {
    const wait = Math.min(RETRY_AFTER_MAX_MS, Math.max(RETRY_AFTER_MIN_MS, answer.retryAfterMs ?? backoffMs(attempt)));
    return retryOr(wait, `rate limited by the push service; retry after ${Math.round(wait / 1000)} s`, status);
  }
  if (status === 413) return { kind: 'failed', status, reason: 'payload too large for the push service' };
  if (status >= 500) return retryOr(backoffMs(attempt), `push service error ${status}`, status);
  return { kind: 'failed', status, reason: `refused by the push service (${status})` };
}
