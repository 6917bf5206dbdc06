import { Webhook, WebhookVerificationError } from 'standardwebhooks';

/** What Parley POSTs to PARLEY_WEBHOOK_URL (projections/push/webhook-outbox.ts). */
export type ParleyWebhook = { id: string; type: string; timestamp: string; data: unknown };

export class WebhookRefused extends Error {
  readonly code = 'webhook_refused';
  constructor(message: string) {
    super(message);
    this.name = 'WebhookRefused';
  }
}

/**
 * The receiving side of Parley's webhooks, for an app's backend: checks `webhook-signature`
 * against the secret (PARLEY_WEBHOOK_SECRET, `whsec_…`) over the raw body as it arrived, and the
 * timestamp (within 5 minutes), then returns the message with its id (deduplicate on it: a retry
 * keeps its id). Throws WebhookRefused otherwise. Headers may be given in any case.
 */
export function verifyWebhook(secret: string, rawBody: string | Uint8Array, headers: Record<string, string | string[] | undefined>): ParleyWebhook {
  const header = (name: string) => {
    const found = Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
    return Array.isArray(found) ? found[0] : found;
  };
  const id = header('webhook-id');
  const timestamp = header('webhook-timestamp');
  const signature = header('webhook-signature');
  if (!id || !timestamp || !signature) throw new WebhookRefused('missing webhook-id, webhook-timestamp or webhook-signature');
  let message: unknown;
  try {
    message = new Webhook(secret).verify(rawBody, { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature });
  } catch (err) {
    throw new WebhookRefused(err instanceof WebhookVerificationError ? err.message : 'unreadable webhook');
  }
  const m = message as Partial<ParleyWebhook>;
  if (typeof m?.type !== 'string' || typeof m.timestamp !== 'string') throw new WebhookRefused('not a Parley webhook');
  return { id, type: m.type, timestamp: m.timestamp, data: m.data };
}
