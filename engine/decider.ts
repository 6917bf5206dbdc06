import { createHash } from 'node:crypto';
import { directConversationId } from '../lib/ids.js';
import type { ErrorCode } from '../lib/errors.js';
import type {
  ConversationCommand,
  ConversationEvent,
  CreateConversation,
  JoinConversation,
  LeaveConversation,
  Member,
  SendMessage,
} from '../schemas/index.js';
import { RECENT_COMMANDS_KEPT, type ConversationState } from './conversation-state.js';

export { initialState } from './conversation-state.js';

/**
 * The conversation decider: `decide(command, state)` says what happens, `evolve(state, event)`
 * folds what happened. Pure: clock, ids and actor arrive in the command, so both run in unit tests
 * without NATS and give the same answer on every engine.
 */

export type Rejection = { code: ErrorCode; message: string };

export type Decision =
  | { kind: 'append'; events: ConversationEvent[] }
  /** The command was decided before: answer with the outcome of the event at this stream sequence. */
  | { kind: 'duplicate'; eventSeq: number }
  | { kind: 'reject'; rejection: Rejection };

const reject = (code: ErrorCode, message: string): Decision => ({ kind: 'reject', rejection: { code, message } });

/** Event ids derive from the command id, so a redelivered command decides byte-identical events. */
function eventId(commandId: string): string {
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

export function decide(command: ConversationCommand, state: ConversationState): Decision {
  const seen = state.recentCommands.get(command.id);
  if (seen !== undefined) return { kind: 'duplicate', eventSeq: seen };
  switch (command.type) {
    case 'conversation.create':
      return decideCreate(command, state);
    case 'conversation.join':
      return decideJoin(command, state);
    case 'conversation.leave':
      return decideLeave(command, state);
    case 'message.send':
      return decideSend(command, state);
    default: {
      const exhaustive: never = command;
      return reject('validation_error', `unknown command ${(exhaustive as { type: string }).type}`);
    }
  }
}

function decideCreate(command: CreateConversation, state: ConversationState): Decision {
  const actor = command.actor.id;
  const members = [...new Set(command.data.members)];
  if (!members.includes(actor)) return reject('validation_error', 'the creator must be a member');
  if (command.data.kind === 'direct') {
    if (members.length !== 2) return reject('validation_error', 'a direct conversation has exactly two different users');
    const other = members.find((m) => m !== actor)!;
    if (command.conversationId !== directConversationId(actor, other)) {
      return reject('validation_error', 'conversationId is not the direct conversation of these users');
    }
    // Creating a direct conversation that exists is asking for it again: answer with the original.
    if (state.exists) return { kind: 'duplicate', eventSeq: firstEventSeq(state) };
  } else {
    if (!command.data.title?.trim()) return reject('validation_error', 'a group needs a title');
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
        },
      },
    ],
  };
}

/** The ConversationCreated of a conversation is always the first event on its subject. */
function firstEventSeq(state: ConversationState): number {
  return state.firstEventSeq ?? 0;
}

function decideJoin(command: JoinConversation, state: ConversationState): Decision {
  if (!state.exists) return reject('conversation_not_found', `conversation ${command.conversationId} not found`);
  if (state.kind === 'direct') return reject('forbidden', 'a direct conversation cannot be joined');
  if (state.members.has(command.actor.id)) return reject('already_a_member', 'already a member of this conversation');
  return {
    kind: 'append',
    events: [{ ...envelope(command, 'MembersAdded', command.id), data: { members: [{ userId: command.actor.id, role: 'member' }] } }],
  };
}

function decideLeave(command: LeaveConversation, state: ConversationState): Decision {
  if (!state.exists) return reject('conversation_not_found', `conversation ${command.conversationId} not found`);
  if (!state.members.has(command.actor.id)) return reject('not_a_member', 'not a member of this conversation');
  if (state.kind === 'direct') return reject('forbidden', 'a direct conversation cannot be left');
  return { kind: 'append', events: [{ ...envelope(command, 'MemberLeft', command.id), data: { userId: command.actor.id } }] };
}

function decideSend(command: SendMessage, state: ConversationState): Decision {
  const { data, actor } = command;
  const hasContent = typeof data.content === 'string' && data.content.trim().length > 0;
  const hasMedia = (data.media?.length ?? 0) > 0;
  if (!hasContent && !hasMedia) return reject('validation_error', 'a message needs content or media');
  if (data.type === 'text' && !hasContent) return reject('validation_error', 'a text message needs content');

  const events: ConversationEvent[] = [];
  if (!state.exists) {
    if (data.directWith === undefined) return reject('conversation_not_found', `conversation ${command.conversationId} not found`);
    if (data.directWith === actor.id) return reject('validation_error', 'cannot send a direct message to yourself');
    if (command.conversationId !== directConversationId(actor.id, data.directWith)) {
      return reject('validation_error', 'conversationId is not the direct conversation of these users');
    }
    // The implicit create has a command id of its own, so a crash between the two appends is
    // repaired by the redelivered send: the conversation then exists and only the message is new.
    events.push({
      ...envelope(command, 'ConversationCreated', `${command.id}/create`),
      data: { kind: 'direct', members: [{ userId: actor.id, role: 'member' }, { userId: data.directWith, role: 'member' }] },
    });
  } else if (!state.members.has(actor.id)) {
    return reject('not_a_member', 'not a member of this conversation');
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
      state.createdBy = event.actor.id;
      state.createdAt = event.at;
      state.firstEventSeq = streamSeq;
      for (const m of event.data.members) state.members.set(m.userId, m.role);
      break;
    case 'MembersAdded':
      for (const m of event.data.members) state.members.set(m.userId, m.role);
      break;
    case 'MemberLeft':
      state.members.delete(event.data.userId);
      break;
    case 'MessageSent':
      state.lastMessageSeq = event.data.seq;
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
