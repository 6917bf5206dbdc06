import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from '../../lib/log.js';
import { headers, type Names } from '../../lib/names.js';

/**
 * The inbox entries a stopped delivery projector had already stored for events it had not acked,
 * by Nats-Msg-Id (`<eventSeq>:<userId>[:n]`), so that projecting those events again writes only
 * what is missing.
 *
 * Why: the inbox's duplicate window drops those second writes only while it still holds their
 * ids, and a window long enough for any outage (it was 10 minutes) holds millions of ids at a few
 * thousand writes a second, in nats-server's memory, scanned by its garbage collector. The window
 * now covers what happens while the projector runs (redeliveries after a nak or an ack wait:
 * seconds); a start after a longer stop reads, instead, the entries stored since the first unacked
 * event was appended — every entry of an unacked event is at least that recent — headers only.
 *
 * Returns null when the duplicate window still covers them all (nothing to read).
 */
export async function entriesStoredBefore(opts: {
  jsm: JetStreamManager;
  js: JetStreamClient;
  names: Names;
  /** Events at or below it are acked: their entries are all stored. */
  ackFloor: number;
  /** The highest event the previous consumer delivered: above it, nothing was projected. */
  deliveredBefore: number;
  duplicateWindowMs: number;
  log: Logger;
  now?: number;
}): Promise<Set<string> | null> {
  const { jsm, js, names, ackFloor, deliveredBefore, log } = opts;
  if (deliveredBefore <= ackFloor) return null;
  const firstUnacked = await jsm.streams.getMessage(names.streams.events, { seq: ackFloor + 1 }).catch(() => null);
  // Gone from the log (it is never trimmed by Parley): nothing to date the entries by, so read them all.
  const since = firstUnacked ? firstUnacked.time.getTime() : 0;
  // Re-projecting takes a while too: the ids must still be held when the last write is made.
  const margin = Math.min(30_000, opts.duplicateWindowMs / 2);
  if ((opts.now ?? Date.now()) - since < opts.duplicateWindowMs - margin) return null;

  const inbox = await jsm.streams.info(names.streams.inbox);
  const stored = new Set<string>();
  if (inbox.state.messages === 0 || new Date(inbox.state.last_ts).getTime() < since) return stored;
  const consumer = await js.consumers.get(names.streams.inbox, {
    headers_only: true,
    ...(since > 0 ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(since).toISOString() } : { deliver_policy: DeliverPolicy.All }),
  });
  const lastSeq = inbox.state.last_seq;
  let read = 0;
  const messages = await consumer.consume({ max_messages: 1_000 });
  for await (const m of messages) {
    read++;
    const msgId = m.headers?.get(headers.msgId) ?? '';
    const eventSeq = Number(msgId.slice(0, msgId.indexOf(':')));
    if (eventSeq > ackFloor && eventSeq <= deliveredBefore) stored.add(msgId);
    if (m.seq >= lastSeq || m.info.pending === 0) break;
  }
  await messages.close().catch(() => undefined);
  log.info({ ackFloor, deliveredBefore, read, alreadyStored: stored.size }, 'read the inbox entries stored for unacked events (past the duplicate window)');
  return stored;
}
