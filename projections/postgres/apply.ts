import type { ConversationCreated, MessageSent } from '../../schemas/index.js';
import { blockedStatements, unblockedStatements } from './block-statements.js';
import {
  conversationUpdatedStatements,
  createdStatements,
  creationStatements,
  memberLeftStatements,
  memberRoleChangedStatements,
  membersAddedStatements,
} from './conversation-statements.js';
import { messageDeletedStatements, messageEditedStatements } from './message-change-statements.js';
import { reactionAddedStatements, reactionRemovedStatements } from './reaction-statements.js';
import { messageRunStatements, messageSentStatements } from './message-statements.js';
import { deliveredStatements, readStatements, receiptStatements } from './receipt-statements.js';
import type { LoggedEvent, ProjectedEvent, Statement } from './statement.js';

/**
 * The read models' evolve: event → SQL. Pure functions, no I/O; the projector runs what they return
 * inside one transaction per batch, after it has filtered out every event at or below the stored
 * checkpoint. That filter is what makes the effect exactly-once; the statements are also written
 * to be harmless if that ever failed (inserts do nothing on conflict, watermarks only go up, rows
 * of a missing conversation are not inserted), so a bad event cannot wedge the projector on a
 * constraint error.
 *
 * It mirrors `evolve` (lib/conversation-state.ts):
 * - unread = messages from others, not deleted, after the member's read watermark: a message adds 1 for every
 *   member but its sender; a read receipt recounts it exactly from `messages`;
 * - read implies delivered; watermarks never go backwards;
 * - a joiner's watermarks start at the conversation's last message seq (their history starts when
 *   they join), unread 0; a re-added member keeps their row, with the same reset;
 * - a joiner's `joined_after_seq` is that same last message seq: REST shows them only the messages
 *   after it. It is read from `conversations.last_message_seq` inside the statement, which the
 *   batch plan makes current first (a membership change ends the run of messages before it). A
 *   re-added current member keeps theirs: they never stopped seeing the conversation;
 * - a leaver's member row is deleted, and so is a removed member's (so a rejoin is a new row,
 *   history from the rejoin);
 * - an update sets only the group settings its event holds (title, avatar — null clears it —,
 *   join_policy); a role change sets the member's role, and the owner's only in a handover (the
 *   new owner and the previous one, admin from then, together);
 * - a group's `join_policy` is its event's, absent meaning invite; a direct conversation has none;
 * - an edit replaces a message's content (`edited_at`); a delete leaves a tombstone (`deleted_at`,
 *   no content or media) and takes it out of unread, as evolve does (message-change-statements.ts);
 * - a reaction is a row per (message, user, emoji), kept only on a message not deleted; a delete
 *   drops its message's reactions (reaction-statements.ts).
 *
 * `conversations.log_seq` is the stream sequence of the last event of that conversation applied;
 * `last_activity_at` moves on creation, joins and messages (not receipts, not leaves).
 */

/** The statements of one event; `bump: false` leaves out the conversation's log_seq (batched later). */
function eventStatements(logged: LoggedEvent, bump: boolean): Statement[] {
  const { seq, event: e } = logged;
  switch (e.type) {
    case 'ConversationCreated':
      return createdStatements({ seq, event: e }, bump);
    case 'MembersAdded':
      return membersAddedStatements({ seq, event: e }, bump);
    case 'MemberLeft':
    case 'MemberRemoved':
      return memberLeftStatements({ seq, event: e }, bump);
    case 'ConversationUpdated':
      return conversationUpdatedStatements({ seq, event: e }, bump);
    case 'MemberRoleChanged':
      return memberRoleChangedStatements({ seq, event: e }, bump);
    case 'MessageSent':
      return messageSentStatements({ seq, event: e }); // its conversation UPDATE moves log_seq itself
    case 'MessageEdited':
      return messageEditedStatements({ seq, event: e }, bump);
    case 'MessageDeleted':
      return messageDeletedStatements({ seq, event: e }, bump);
    case 'ReactionAdded':
      return reactionAddedStatements({ seq, event: e }, bump);
    case 'ReactionRemoved':
      return reactionRemovedStatements({ seq, event: e }, bump);
    case 'MessageDelivered':
      return deliveredStatements({ seq, event: e }, bump);
    case 'MessageRead':
      return readStatements({ seq, event: e }, bump);
    case 'UserBlocked':
      return blockedStatements({ seq, event: e });
    case 'UserUnblocked':
      return unblockedStatements({ seq, event: e });
    default: {
      const exhaustive: never = e;
      throw new Error(`apply: unknown event ${(exhaustive as { type: string }).type}`);
    }
  }
}

/** One event → the statements that fold it into the read models (the reference form). */
export function apply(logged: LoggedEvent): Statement[] {
  return eventStatements(logged, true);
}

const conversationOf = (e: ProjectedEvent): string | undefined => ('conversationId' in e ? e.conversationId : undefined);

/**
 * A batch of events (in log order) → statements with the same effect as `apply` on each in turn,
 * with far fewer round trips. Messages and receipts are gathered into a run and written set-based
 * when the run ends:
 * - the run's messages as three statements (see messageRunStatements);
 * - delivered receipts: per member the highest watermark (GREATEST commutes with everything in the
 *   run);
 * - read receipts: per member the highest watermark, and unread recounted after the run's messages
 *   are in. A recount is always right: unread = messages from others above the read watermark holds
 *   after every event (a joiner's watermark is the last message, each message from another adds one
 *   above it), so recounting after later messages gives what recount-then-increment gives.
 * - conversations created: all in two statements, before the run's other statements (a creation
 *   joins the run only if its conversation has no earlier event in it).
 * An event that changes membership (or a second creation) of a conversation in the run ends the run
 * first; events of other conversations and user events touch other rows and need not wait. The
 * conversations' log_seq moves once, at the end.
 */
export function planBatch(events: LoggedEvent[]): Statement[] {
  const out: Statement[] = [];
  let created: LoggedEvent<ConversationCreated>[] = [];
  let messages: LoggedEvent<MessageSent>[] = [];
  const delivered = new Map<string, number>();
  const read = new Map<string, number>();
  const inRun = new Set<string>();
  const bumps = new Map<string, number>();
  /** Per conversation, the highest MessageSent of the batch: its conversation UPDATE moves log_seq that far already. */
  const messageLogSeq = new Map<string, number>();
  const flush = () => {
    out.push(...creationStatements(created));
    if (messages.length === 1) out.push(...messageSentStatements(messages[0]!));
    else if (messages.length > 1) out.push(...messageRunStatements(messages));
    out.push(...receiptStatements(delivered, 'delivered'), ...receiptStatements(read, 'read'));
    created = [];
    messages = [];
    delivered.clear();
    read.clear();
    inRun.clear();
  };
  const mark = (marks: Map<string, number>, conversationId: string, userId: string, upToSeq: number) => {
    const key = `${conversationId}\u0000${userId}`;
    marks.set(key, Math.max(marks.get(key) ?? 0, upToSeq));
  };
  for (const logged of events) {
    const e = logged.event;
    const conversationId = conversationOf(e);
    if (conversationId !== undefined) bumps.set(conversationId, Math.max(bumps.get(conversationId) ?? 0, logged.seq));
    switch (e.type) {
      case 'MessageSent':
        messages.push(logged as LoggedEvent<MessageSent>);
        messageLogSeq.set(e.conversationId, logged.seq);
        inRun.add(e.conversationId);
        continue;
      case 'MessageDelivered':
        mark(delivered, e.conversationId, e.data.userId, e.data.upToSeq);
        inRun.add(e.conversationId);
        continue;
      case 'MessageRead':
        mark(read, e.conversationId, e.data.userId, e.data.upToSeq);
        inRun.add(e.conversationId);
        continue;
      case 'ConversationCreated':
        if (inRun.has(e.conversationId)) flush();
        created.push(logged as LoggedEvent<ConversationCreated>);
        inRun.add(e.conversationId);
        continue;
      default:
        if (conversationId !== undefined && inRun.has(conversationId)) flush();
        out.push(...eventStatements(logged, false));
    }
  }
  flush();
  // A conversation whose last event in the batch is a message has its log_seq moved already (by
  // the message's UPDATE, which runs whenever the row exists, as this one would): left out.
  for (const [conversationId, seq] of messageLogSeq) if (bumps.get(conversationId) === seq) bumps.delete(conversationId);
  if (bumps.size > 0) {
    out.push({
      text: `UPDATE conversations c SET log_seq = GREATEST(c.log_seq, x.log_seq)
               FROM unnest($1::text[], $2::bigint[]) AS x (id, log_seq) WHERE c.id = x.id`,
      values: [[...bumps.keys()], [...bumps.values()]],
    });
  }
  return out;
}
