import http from 'node:http';
import https from 'node:https';
import type { NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { Webhook } from 'standardwebhooks';
import type { Component } from '../../lib/component.js';
import type { Config } from '../../lib/config.js';
import { durableConsumer } from '../../lib/durable-consumer.js';
import type { Logger } from '../../lib/log.js';
import type { Names } from '../../lib/names.js';
import { backoffMs } from './push-retry.js';

export type WebhookDispatcherStats = { delivered: number; retried: number };
export type WebhookDispatcher = Component<WebhookDispatcherStats>;

/** A receiver may take this long to answer. */
const TIMEOUT_MS = 10_000;
/** Back-off between tries of one webhook tops out here: a receiver back after an outage hears within a minute. */
const MAX_BACKOFF_MS = 60_000;

/**
 * POSTs the outbox (webhook-outbox.ts) to PARLEY_WEBHOOK_URL, signed per Standard Webhooks
 * (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`, made by the
 * `standardwebhooks` library with PARLEY_WEBHOOK_SECRET), one at a time and in order: a webhook is
 * acked only when the receiver answered 2xx, and the next waits for it (max_ack_pending 1), so a
 * receiver that was down gets the backlog afterwards in the order it was queued, nothing lost.
 */
export async function startWebhookDispatcher(opts: { nc: NatsConnection; config: Config; names: Names; log: Logger }): Promise<WebhookDispatcher> {
  const { nc, config, names } = opts;
  const target = config.push.webhook!;
  const log = opts.log.child({ component: 'webhooks' });
  const signer = new Webhook(target.secret);
  const stats: WebhookDispatcherStats = { delivered: 0, retried: 0 };
  const consumer = await durableConsumer(await jetstreamManager(nc), jetstream(nc), {
    stream: names.streams.webhooks,
    durable: names.consumers.webhooks,
    ackWaitMs: TIMEOUT_MS + 5_000,
    maxAckPending: 1,
  });

  const deliver = async (m: JsMsg): Promise<void> => {
    const id = m.headers?.get('Nats-Msg-Id') || `wh_${m.seq}`;
    const body = m.data;
    const at = new Date();
    const headers = {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': signer.sign(id, at, body),
    };
    const status = await post(target.url, headers, body);
    if (status >= 200 && status < 300) {
      stats.delivered++;
      return void m.ack();
    }
    stats.retried++;
    const delay = Math.min(MAX_BACKOFF_MS, backoffMs(m.info.deliveryCount));
    if (m.info.deliveryCount === 1 || m.info.deliveryCount % 10 === 0) log.warn({ id, status, attempt: m.info.deliveryCount, retryInMs: delay }, 'webhook not accepted; the outbox waits and tries again');
    m.nak(delay);
  };

  let messages: ConsumerMessages | undefined;
  let current: Promise<void> = Promise.resolve();
  const loop = (async () => {
    messages = await consumer.consume({ max_messages: 1 });
    for await (const m of messages) {
      current = deliver(m).catch((err: unknown) => {
        log.warn({ err }, 'webhook delivery failed; tried again');
        m.nak(1_000);
      });
      await current;
    }
  })().catch((err: unknown) => log.error({ err }, 'webhook dispatcher failed'));
  log.info({ url: target.url }, 'webhook dispatcher started');

  return {
    stats: () => ({ ...stats }),
    async stop() {
      messages?.stop();
      await current;
      await loop;
      log.info(stats, 'webhook dispatcher stopped');
    },
  };
}

/** The receiver's status, or 0 when it did not answer (down, refused, timed out). */
function post(url: string, headers: Record<string, string>, body: Uint8Array): Promise<number> {
  return new Promise((resolve) => {
    const transport = url.startsWith('http:') ? http : https;
    const req = transport.request(url, { method: 'POST', headers: { ...headers, 'content-length': String(body.byteLength) }, agent: false });
    const timer = setTimeout(() => req.destroy(new Error('timeout')), TIMEOUT_MS);
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => {
        clearTimeout(timer);
        resolve(res.statusCode ?? 0);
      });
      res.on('error', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => {
      clearTimeout(timer);
      resolve(0);
    });
    req.end(body);
  });
}
