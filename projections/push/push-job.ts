import type { PushPayload } from './push-decider.js';

/**
 * One push to one subscription, as the push projector stores it on <PREFIX>_PUSH_JOBS and the
 * sender takes it: what to send, and enough to record what became of it.
 */
export type PushJob = {
  userId: string;
  subscriptionId: string;
  payload: PushPayload;
  /** The MessageSent's position in the log: with the subscription, the job's identity. */
  eventSeq: number;
  /** When the message was sent (ms): a job older than the TTL is not worth sending. */
  decidedAt: number;
  /** Messages of the conversation folded into this push since the previous one. */
  coalesced?: number;
};
