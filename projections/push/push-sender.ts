import { createHash } from 'node:crypto';
import type { NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import webpush from 'web-push';
import type { Component } from '../../lib/component.js';
import type { Config } from '../../lib/config.js';
import { durableConsumer } from '../../lib/durable-consumer.js';
import { decodeJson } from '../../lib/json.js';
import { JetStreamPublisher } from '../../lib/js-publisher.js';
import { KvView } from '../../lib/kv-view.js';
import type { Logger } from '../../lib/log.js';
import type { Names } from '../../lib/names.js';
import { endpointProblem } from '../../lib/push-endpoint.js';
import { recordPush, type PushRecord } from '../../lib/push-log.js';
import { PushSubscriptionStore, readUserSubscriptions } from '../../lib/push-subscriptions.js';
import type { StoredPushSubscription } from '../../schemas/index.js';
import { postPush, type PushResponse } from './push-http.js';
import type { PushJob } from './push-job.js';
import { nextStep, type PushOutcome } from './push-retry.js';
import { VapidHeaders } from './vapid-headers.js';
import { WebhookOutbox } from './webhook-outbox.js';
import { InFlightShares } from './in-flight-shares.js';
import { LruMap } from '../../lib/lru.js';
import { pushResults } from '../metrics.js';

export type PushSenderStats = { pushed: number; retried: number; failed: number; removed: number; dropped: number; deferred: number };
export type PushSender = Component<PushSenderStats>;

/** Pushes in flight at once, in all; one user, and one push service, may hold only a part of them. */
const CONCURRENCY = 256;
const PER_USER = 8;
const PER_ORIGIN = 64;
/** How long a job over its share waits before it comes back. */
const DEFER_MS = 250;

/**
 * Takes push jobs off <PREFIX>_PUSH_JOBS and sends each: encrypted and signed by web-push (RFC
 * 8291 aes128gcm, RFC 8292 VAPID), POSTed by push-http.ts. What became of it is recorded in the
 * user's push log and decided by push-retry.ts: sent; retried later (5xx, timeouts, 429 after
 * its Retry-After) up to PARLEY_PUSH_MAX_ATTEMPTS; the subscription removed (404, 410); or failed.
 * A job is acked only once that is recorded, so a sender killed mid-push sends it again, and the
 * record of that send says it was attempt 2.
 */
export async function startPushSender(opts: { nc: NatsConnection; config: Config; names: Names; log: Logger }): Promise<PushSender> {
  const { nc, config, names } = opts;
  const log = opts.log.child({ component: 'push-sender' });
  const vapid = config.push.vapid;
  if (!vapid) throw new Error('the push sender needs VAPID keys (PARLEY_VAPID_PUBLIC_KEY / PARLEY_VAPID_PRIVATE_KEY)');
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const kvm = new Kvm(nc);
  const publisher = new JetStreamPublisher(nc);
  const subsKv = await kvm.open(names.buckets.pushSubscriptions);
  const store = new PushSubscriptionStore(subsKv, config.push.maxSubscriptionsPerUser);
  const subscriptions = await KvView.open(subsKv, (v) => readUserSubscriptions(v).subscriptions, log);
  const stats: PushSenderStats = { pushed: 0, retried: 0, failed: 0, removed: 0, dropped: 0, deferred: 0 };
  const fairShare = new InFlightShares(PER_USER, PER_ORIGIN);
  /** Times a job was put back for its share, so they are not counted as attempts. */
  const deferrals = new LruMap<string, number>(CONCURRENCY * 64);
  const vapidHeaders = new VapidHeaders(vapid);
  const outbox = config.push.webhook ? new WebhookOutbox(publisher, names, log) : undefined;
  const inFlight = new Set<Promise<void>>();

  const consumer = await durableConsumer(jsm, js, {
    stream: names.streams.pushJobs,
    durable: names.consumers.pushSender,
    // Longer than one push may take, so a job is redelivered only when its sender is gone.
    ackWaitMs: config.push.timeoutMs + 5_000,
    maxAckPending: CONCURRENCY,
  });

  const send = async (job: PushJob, sub: StoredPushSubscription, withPreview: boolean): Promise<PushResponse> => {
    const { preview: _preview, ...withoutPreview } = job.payload;
    const payload = withPreview ? job.payload : withoutPreview;
    let details: { endpoint: string; headers: Record<string, string | number>; body: Buffer | null };
    try {
      details = webpush.generateRequestDetails({ endpoint: sub.endpoint, keys: sub.keys }, JSON.stringify(payload), {
        // Signed once per push service, not per push (vapid-headers.ts); web-push then adds none of its own.
        vapidDetails: null as never,
        headers: { Authorization: vapidHeaders.for(sub.endpoint) },
        TTL: config.push.ttlSec,
        urgency: 'normal',
        // A newer push for the conversation replaces one the service still holds (RFC 8030 5.4).
        topic: createHash('sha256').update(job.payload.conversationId).digest('base64url').slice(0, 32),
      }) as typeof details;
    } catch (err) {
      return { error: `could not encrypt or sign: ${(err as Error).message}` };
    }
    const problem = endpointProblem(sub.endpoint, config.push.allowInsecure);
    if (problem !== undefined) return { error: problem, code: 'EPUSHADDRESS' };
    return postPush(details, { timeoutMs: config.push.timeoutMs, allowLoopback: config.push.allowInsecure });
  };

  /**
   * On record and, with webhooks on, to the app's backend too. `delivery`: the job's delivery
   * count, in the record's id: each send is its own record, even when two deliveries compute the
   * same attempt (the deferrals a killed process counted are gone).
   */
  const record = async (job: PushJob, r: Omit<PushRecord, 'at' | 'conversationId' | 'messageId' | 'seq' | 'subscriptionId'>, delivery: number) => {
    const full: PushRecord = {
      at: new Date().toISOString(),
      conversationId: job.payload.conversationId,
      messageId: job.payload.messageId,
      seq: job.payload.seq,
      subscriptionId: job.subscriptionId,
      ...r,
      ...(job.coalesced ? { coalesced: job.coalesced } : {}),
    };
    const id = `${job.eventSeq}:${job.subscriptionId}:${delivery}:${r.decision}`;
    await Promise.all([recordPush(publisher, names, job.userId, full, id), outbox?.queue(`pd_${id}`, 'push.decision', { userId: job.userId, ...full })]);
  };

  const handle = async (m: JsMsg): Promise<void> => {
    let job: PushJob;
    try {
      job = decodeJson<PushJob>(m.data);
    } catch {
      log.warn({ seq: m.seq }, 'dropping a push job that is not JSON');
      return void m.term();
    }
    // The view may trail the projector's by a moment (a subscription made just now): ask the bucket then.
    const sub =
      subscriptions.get(job.userId)?.find((s) => s.id === job.subscriptionId) ?? (await store.list(job.userId)).find((s) => s.id === job.subscriptionId);
    // Unsubscribed since the decision, or too old to be news: nothing to send, nothing to record.
    if (!sub || Date.now() - job.decidedAt > config.push.ttlSec * 1000 + config.push.timeoutMs) {
      stats.dropped++;
      pushResults.inc('dropped');
      return void m.ack();
    }
    const jobKey = `${job.eventSeq}:${job.subscriptionId}`;
    const origin = new URL(sub.endpoint).origin;
    // One user's (or one push service's) slow pushes must not take every slot: past its share the
    // job waits a moment and comes back, and that wait is not one of its attempts.
    if (!fairShare.take(job.userId, origin)) {
      deferrals.set(jobKey, (deferrals.get(jobKey) ?? 0) + 1);
      stats.deferred++;
      pushResults.inc('deferred');
      return void m.nak(DEFER_MS);
    }
    try {
      const attempt = m.info.deliveryCount - (deferrals.get(jobKey) ?? 0);
      const withPreview = sub.preview !== false;
      let answer = await send(job, sub, withPreview);
      // 413: the payload is too large for this service; without the preview it is a few dozen bytes.
      if (withPreview && 'status' in answer && answer.status === 413 && job.payload.preview !== undefined) answer = await send(job, sub, false);
      const step = nextStep(answer, attempt, config.push.maxAttempts);
      if (step.kind !== 'retry') deferrals.delete(jobKey);
      await applyOutcome(m, job, step, attempt);
    } finally {
      fairShare.release(job.userId, origin);
    }
  };

  const applyOutcome = async (m: JsMsg, job: PushJob, step: PushOutcome, attempt: number): Promise<void> => {
    const common = { attempt, ...(step.status !== undefined ? { status: step.status } : {}), ...(step.reason ? { reason: step.reason } : {}) };
    switch (step.kind) {
      case 'pushed':
        stats.pushed++;
        pushResults.inc('pushed');
        await record(job, { decision: 'pushed', ...common }, m.info.deliveryCount);
        return void m.ack();
      case 'gone':
        stats.removed++;
        pushResults.inc('removed');
        await store.remove(job.userId, job.subscriptionId);
        await record(job, { decision: 'subscription_removed', ...common }, m.info.deliveryCount);
        return void m.ack();
      case 'retry':
        stats.retried++;
        pushResults.inc('retried');
        await record(job, { decision: 'retried', ...common }, m.info.deliveryCount);
        return void m.nak(step.delayMs);
      case 'failed':
        stats.failed++;
        pushResults.inc('failed');
        await record(job, { decision: 'failed', ...common }, m.info.deliveryCount);
        return void m.term();
    }
  };

  let messages: ConsumerMessages | undefined;
  const loop = (async () => {
    messages = await consumer.consume({ max_messages: CONCURRENCY });
    for await (const m of messages) {
      const p = handle(m).catch((err: unknown) => {
        // The record or the removal could not be stored: the job comes back.
        log.warn({ err, seq: m.seq }, 'push outcome not stored, the job will be tried again');
        m.nak(1_000);
      });
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }
  })().catch((err: unknown) => log.error({ err }, 'push sender consumer failed'));
  log.info({ concurrency: CONCURRENCY }, 'push sender consuming jobs');

  return {
    stats: () => ({ ...stats }),
    async stop() {
      messages?.stop();
      await loop;
      await Promise.allSettled([...inFlight]);
      subscriptions.stop();
      await publisher.close();
      log.info(stats, 'push sender stopped');
    },
  };
}
