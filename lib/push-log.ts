import { jetstream, type ConsumerMessages } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { decodeJson, encodeJson } from './json.js';
import type { JetStreamPublisher } from './js-publisher.js';
import type { Names } from './names.js';

/**
 * Every push decision, on record (GET /v1/push/log; issue 17): what was decided for which message
 * and subscription, and why. One subject per user in <PREFIX>_PUSH_LOG, which keeps the last
 * PARLEY_PUSH_LOG_PER_USER records of each user for PARLEY_PUSH_LOG_MAX_AGE_S.
 */
export const pushDecisions = [
  'pushed',
  'skipped_online',
  'skipped_muted',
  'skipped_blocked',
  'skipped_no_subscription',
  'retried',
  'failed',
  'subscription_removed',
] as const;
export type PushDecision = (typeof pushDecisions)[number];

export type PushRecord = {
  at: string;
  decision: PushDecision;
  conversationId: string;
  messageId: string;
  seq: number;
  /** Which subscription (none for a decision about the user: online, muted, blocked). */
  subscriptionId?: string;
  /** The push service's HTTP status, when it answered. */
  status?: number;
  /** 1 for the first try; a record with a higher one is a retry of the same push. */
  attempt?: number;
  /** Why, in words (an error, the Retry-After honoured, …). */
  reason?: string;
  /** Pushes to this user for this conversation that were folded into this one (coalescing). */
  coalesced?: number;
};

/** Records are written with an id (the duplicate window drops the second of a decision made twice: an event redelivered). */
export function recordPush(publisher: JetStreamPublisher, names: Names, userId: string, record: PushRecord, id: string): Promise<unknown> {
  return publisher.publish(names.subjects.pushLog(userId), encodeJson(record), { msgId: `log:${id}` });
}

/** How long a read of one user's log may take before it answers with what it has. */
const READ_TIMEOUT_MS = 5_000;

/** A user's records, newest first, at most `limit`: one ordered consumer over their subject. */
export async function readPushLog(nc: NatsConnection, names: Names, userId: string, limit: number): Promise<PushRecord[]> {
  const records: PushRecord[] = [];
  // A string, not a list: nats-server 2.9 takes one filter subject only.
  const consumer = await jetstream(nc).consumers.get(names.streams.pushLog, { filter_subjects: names.subjects.pushLog(userId) });
  const info = await consumer.info(true);
  if (info.num_pending === 0) return records;
  let messages: ConsumerMessages | undefined;
  const timer = setTimeout(() => messages?.stop(), READ_TIMEOUT_MS);
  try {
    messages = await consumer.consume({ max_messages: 256 });
    for await (const m of messages) {
      try {
        records.push(decodeJson<PushRecord>(m.data));
      } catch {
        // A record that is not JSON was not written by Parley: left out.
      }
      if (m.info.pending === 0) break;
    }
  } finally {
    clearTimeout(timer);
    messages?.stop();
  }
  return records.reverse().slice(0, limit);
}
