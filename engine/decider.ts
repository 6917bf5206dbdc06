import { createHash } from 'node:crypto';
import { directConversationId } from '../lib/ids.js';
import { conversationNotFound, type ErrorCode } from '../lib/errors.js';
import { DEFAULT_JOIN_POLICY } from '../schemas/index.js';
import type {
  ConversationCommand,
  ConversationEvent,
  CreateConversation,
  JoinConversation,
  LeaveConversation,
  MarkDelivered,
  MarkRead,
  Member,
  SendMessage,
} from '../schemas/index.js';
import { countUnread, isOpen, RECENT_COMMANDS_KEPT, recordSender, sendersBetween, type ConversationState } from './conversation-state.js';

export { initialState } from './conversation-state.js';

/**
 * The conversation decider: `decide(command, state)` says what happens, `evolve(state, event)`
 * folds what happened. Pure: clock, ids and actor arrive in the command, so both run in unit tests
 * without NATS and give the same answer on every engine.
 */

export type Rejection = { code: ErrorCode; message: string };

export type Decision<E = ConversationEvent> =
  | { kind: 'append'; events: E[] }
  /** The command was decided before: answer with the outcome of the event at this stream sequence. */
  | { kind: 'duplicate'; eventSeq: number }
  /** Valid, but it changes nothing (a stale receipt): nothing to append, nothing to reject. */
  | { kind: 'noop' }
  | { kind: 'reject'; rejection: Rejection };

export const reject = (code: ErrorCode, message: string): { kind: 'reject'; rejection: Rejection } => ({
  kind: 'reject',
  rejection: { code, message },
});

/**
 * What anyone who is not a member hears of a conversation, whether it exists or not: one code, one
 * message. "Exists, but not yours" would let anyone test ids, and a direct conversation's id is a
 * hash of its two users, so it would tell who ever talked to whom. Members learn more (forbidden,
 * already_a_member, blocked) because they know the conversation already.
 */
const notFound = (conversationId: string): Decision => ({ kind: 'reject', rejection: conversationNotFound(conversationId) });

/**
 * What a decision may need beyond the conversation itself, looked up by the handler beforehand:
 * whether the two users of a direct conversation block each other (blocks live on user subjects).
 */
export type DecideContext = { blockedPair?: boolean };

/** Event ids derive from the command id, so a redelivered command decides byte-identical events. */
export function eventId(commandId: string): string {
  return `e_${createHash('sha256').update(commandId).digest('base64url').slice(0, 26)}`;
}

function envelope<T extends ConversationEvent['type']>(command: ConversationCommand, type: T, commandId: string) {
  return {
    type,
    v: 1 as const,
    id: eventId(commandId),
    conversationId: command.conversationId,
    actor: command.actor,
    at: new Date(command.at).toISOString(),
    commandId,
    ...(command.origin ? { origin: command.origin } : {}),
  };
}

export function decide(command: ConversationCommand, state: ConversationState, context: DecideContext = {}): Decision {
  const seen = state.recentCommands.get(command.id);
  if (seen !== undefined) return { kind: 'duplicate', eventSeq: seen };
  switch (command.type) {
    case 'conversation.create':
      return decideCreate(command, state, context);
    case 'conversation.join':
      return decideJoin(command, state);
    case 'conversation.leave':
      return decideLeave(command, state);
    case 'message.send':
      return decideSend(command, state, context);
    case 'receipt.delivered':
    case 'receipt.read':
      return decideReceipt(command, state);
    default: {
      const exhaustive: never = command;
      return reject('validation_error', `unknown command ${(exhaustive as { type: string }).type}`);
    }
  }
}

function decideCreate(command: CreateConversation, state: ConversationState, context: DecideContext): Decision {
  const actor = command.actor.id;
  const members = [...new Set(command.data.members)];
  if (!members.includes(actor)) return reject('validation_error', 'the creator must be a member');
  if (command.data.kind === 'direct') {
    if (members.length !== 2) return reject('validation_error', 'a direct conversation has exactly two different users');
    const other = members.find((m) => m !== actor)!;
    if (command.conversationId !== directConversationId(actor, other)) {
      return reject('validation_error', 'conversationId is not the direct conversation of these users');
    }
    if (context.blockedPair) return reject('blocked', 'you cannot start a conversation with this user');
    // Creating a direct conversation that exists is asking for it again: answer with the original.
    if (state.exists) return { kind: 'duplicate', eventSeq: firstEventSeq(state) };
  } else {
    if (!command.data.title?.trim()) return reject('validation_error', 'a group needs a title');
    // Group ids are made by the gateway, never chosen by a client, so this tells no one anything.
    if (state.exists) return reject('conversation_exists', `conversation ${command.conversationId} exists`);
  }
  const roles: Member[] = members.map((userId) => ({
    userId,
    role: command.data.kind === 'group' && userId === actor ? 'owner' : 'member',
  }));
  return {
    kind: 'append',
    events: [
      {
        ...envelope(command, 'ConversationCreated', command.id),
        data: {
          kind: command.data.kind,
          ...(command.data.kind === 'group' ? { title: command.data.title!.trim() } : {}),
          members: roles,
          // Written out even when it is the default, so that the event says what the group is.
          ...(command.data.kind === 'group' ? { joinPolicy: command.data.joinPolicy ?? DEFAULT_JOIN_POLICY } : {}),
        },
      },
    ],
  };
}

/** The ConversationCreated of a conversation is always the first event on its subject. */
function firstEventSeq(state: ConversationState): number {
  return state.firstEventSeq ?? 0;
}

/**
 * Only an open group can be joined by someone who is not in it. Any other id (an invite-only group,
 * a direct conversation of others, nothing at all) is not found to them: see `notFound`.
 */
function decideJoin(command: JoinConversation, state: ConversationState): Decision {
  if (state.members.has(command.actor.id)) {
    if (state.kind === 'direct') return reject('forbidden', 'a direct conversation cannot be joined');
    return reject('already_a_member', 'already a member of this conversation');
  }
  if (!state.exists || !isOpen(state)) return notFound(command.conversationId);
  return {
    kind: 'append',
    events: [{ ...envelope(command, 'MembersAdded', command.id), data: { members: [{ userId: command.actor.id, role: 'member' }] } }],
  };
}

function decideLeave(command: LeaveConversation, state: ConversationState): Decision {
  if (!state.members.has(command.actor.id)) return notFound(command.conversationId);
  if (state.kind === 'direct') return reject('forbidden', 'a direct conversation cannot be left');
  return { kind: 'append', events: [{ ...envelope(command, 'MemberLeft', command.id), data: { userId: command.actor.id } }] };
}

function decideSend(command: SendMessage, state: ConversationState, context: DecideContext): Decision {
  const { data, actor } = command;
  const hasContent = typeof data.content === 'string' && data.content.trim().length > 0;
  const hasMedia = (data.media?.length ?? 0) > 0;
  if (!hasContent && !hasMedia) return reject('validation_error', 'a message needs content or media');
  if (data.type === 'text' && !hasContent) return reject('validation_error', 'a text message needs content');

  // Checked whether the conversation exists or not, so that the answer to a stranger cannot depend
  // on it; a valid directWith names a conversation of the actor's own.
  if (data.directWith !== undefined) {
    if (data.directWith === actor.id) return reject('validation_error', 'cannot send a direct message to yourself');
    if (command.conversationId !== directConversationId(actor.id, data.directWith)) {
      return reject('validation_error', 'conversationId is not the direct conversation of these users');
    }
  }

  const events: ConversationEvent[] = [];
  if (!state.exists) {
    if (data.directWith === undefined) return notFound(command.conversationId);
    // The implicit create has a command id of its own, so a crash between the two appends is
    // repaired by the redelivered send: the conversation then exists and only the message is new.
    // The space cannot occur in a tempId (visible ASCII only), so no send can ever share this id.
    events.push({
      ...envelope(command, 'ConversationCreated', `${command.id} create`),
      data: { kind: 'direct', members: [{ userId: actor.id, role: 'member' }, { userId: data.directWith, role: 'member' }] },
    });
  } else if (!state.members.has(actor.id)) {
    return notFound(command.conversationId);
  }
  // Only after membership: a stranger must not learn that two others block each other.
  if (context.blockedPair && (state.kind === 'direct' || !state.exists)) {
    return reject('blocked', 'you cannot send messages to this user');
  }

  events.push({
    ...envelope(command, 'MessageSent', command.id),
    data: {
      messageId: data.messageId,
      seq: state.lastMessageSeq + 1,
      sender: actor,
      type: data.type,
      ...(data.content !== undefined ? { content: data.content } : {}),
      ...(data.media ? { media: data.media } : {}),
      ...(data.replyToId ? { replyToId: data.replyToId } : {}),
      ...(data.mentions ? { mentions: data.mentions } : {}),
      tempId: data.tempId,
    },
  });
  return { kind: 'append', events };
}

/**
 * Receipts move a member's watermark forward over messages from others. A receipt that would not
 * move it (stale, repeated, or covering only the member's own messages) is a no-op, not an error.
 * Read implies delivered; a watermark past the last message stops at the last message.
 */
function decideReceipt(command: MarkDelivered | MarkRead, state: ConversationState): Decision {
  const userId = command.actor.id;
  if (!state.members.has(userId)) return notFound(command.conversationId);
  const upToSeq = Math.min(command.data.upToSeq ?? state.lastMessageSeq, state.lastMessageSeq);
  const marks = command.type === 'receipt.read' ? state.read : state.delivered;
  const from = marks.get(userId) ?? 0;
  if (upToSeq <= from || sendersBetween(state, from, upToSeq, userId).size === 0) return { kind: 'noop' };
  const type = command.type === 'receipt.read' ? 'MessageRead' : 'MessageDelivered';
  return { kind: 'append', events: [{ ...envelope(command, type, command.id), data: { userId, upToSeq } }] };
}

/**
 * Fold one event into the state. It mutates and returns `state`: the engine's cache owns the
 * object, and copying a thousand remembered command ids for every message would dominate the hot
 * path. `streamSeq` is the event's position in the log.
 */
export function evolve(state: ConversationState, event: ConversationEvent, streamSeq: number): ConversationState {
  switch (event.type) {
    case 'ConversationCreated':
      state.exists = true;
      state.kind = event.data.kind;
      if (event.data.title !== undefined) state.title = event.data.title;
      if (event.data.kind === 'group') state.joinPolicy = event.data.joinPolicy ?? DEFAULT_JOIN_POLICY;
      state.createdBy = event.actor.id;
      state.createdAt = event.at;
      state.firstEventSeq = streamSeq;
      for (const m of event.data.members) state.members.set(m.userId, m.role);
      break;
    case 'MembersAdded':
      for (const m of event.data.members) state.unread.set(m.userId, 0);
      for (const m of event.data.members) {
        state.members.set(m.userId, m.role);
        // A member's history starts when they join: what came before is neither unread nor owed receipts.
        if (state.lastMessageSeq > 0) {
          state.read.set(m.userId, state.lastMessageSeq);
          state.delivered.set(m.userId, state.lastMessageSeq);
        }
      }
      break;
    case 'MemberLeft':
      state.members.delete(event.data.userId);
      state.delivered.delete(event.data.userId);
      state.read.delete(event.data.userId);
      state.unread.delete(event.data.userId);
      break;
    case 'MessageSent':
      state.lastMessageSeq = event.data.seq;
      recordSender(state, event.data.seq, event.data.sender.id);
      for (const member of state.members.keys()) {
        if (member !== event.data.sender.id) state.unread.set(member, (state.unread.get(member) ?? 0) + 1);
      }
      break;
    case 'MessageDelivered':
      state.delivered.set(event.data.userId, Math.max(state.delivered.get(event.data.userId) ?? 0, event.data.upToSeq));
      break;
    case 'MessageRead':
      state.read.set(event.data.userId, Math.max(state.read.get(event.data.userId) ?? 0, event.data.upToSeq));
      state.delivered.set(event.data.userId, Math.max(state.delivered.get(event.data.userId) ?? 0, event.data.upToSeq));
      state.unread.set(event.data.userId, countUnread(state, event.data.userId));
      break;
    default: {
      const exhaustive: never = event;
      throw new Error(`evolve: unknown event ${(exhaustive as { type: string }).type}`);
    }
  }
  state.version = streamSeq;
  if (!state.recentCommands.has(event.commandId)) {
    state.recentCommands.set(event.commandId, streamSeq);
    if (state.recentCommands.size > RECENT_COMMANDS_KEPT) {
      state.recentCommands.delete(state.recentCommands.keys().next().value!);
    }
  }
  return state;
}
