import { encodeJson } from '../../lib/json.js';
import type { JetStreamPublisher } from '../../lib/js-publisher.js';
import type { Logger } from '../../lib/log.js';
import type { Names } from '../../lib/names.js';

/** What the app's backend receives: Standard Webhooks' recommended shape, `{ type, timestamp, data }`. */
export type WebhookMessage = { type: string; timestamp: string; data: unknown };

/**
 * The outbox of webhooks to the app's backend (PARLEY_WEBHOOK_URL): the stream <PREFIX>_WEBHOOKS,
 * read in order by webhook-dispatcher.ts. Bounded (PARLEY_WEBHOOK_OUTBOX_MAX, discard new): when a
 * receiver has been down so long that it fills, new webhooks are dropped and counted, loudly,
 * rather than stalling pushes for everyone. Each message's id (`webhook-id`, and the stream's
 * duplicate id) is made of what it is about, so the same decision made twice is one webhook.
 */
export class WebhookOutbox {
  readonly #publisher: JetStreamPublisher;
  readonly #names: Names;
  readonly #log: Logger;
  dropped = 0;

  constructor(publisher: JetStreamPublisher, names: Names, log: Logger) {
    this.#publisher = publisher;
    this.#names = names;
    this.#log = log;
  }

  /** Resolves once stored (or dropped because the outbox is full); rejects when it could not be stored otherwise. */
  async queue(id: string, type: string, data: unknown, at: Date = new Date()): Promise<void> {
    const message: WebhookMessage = { type, timestamp: at.toISOString(), data };
    try {
      await this.#publisher.publish(this.#names.subjects.webhookOut, encodeJson(message), { msgId: id });
    } catch (err) {
      if (!/maximum (messages|bytes) exceeded/i.test(String((err as Error).message))) throw err;
      this.dropped++;
      if (this.dropped === 1 || this.dropped % 1000 === 0) this.#log.error({ dropped: this.dropped, id, type }, 'webhook outbox full (the receiver is down or slow): webhooks dropped');
    }
  }
}
