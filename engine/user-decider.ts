import type { BlockUser, UnblockUser, UserCommand, UserEvent } from '../schemas/index.js';
import { eventId, reject, type Decision } from './decider.js';
import { RECENT_COMMANDS_KEPT } from './conversation-state.js';

/**
 * The user decider: what one user has done to their own relations (blocks). Its events live on
 * `<prefix>.ev.user.<userId>`; the conversation decider is told of blocks through its context.
 */
export type UserState = {
  id: string;
  blocked: Set<string>;
  version: number;
  recentCommands: Map<string, number>;
};

export function initialUserState(id: string): UserState {
  return { id, blocked: new Set(), version: 0, recentCommands: new Map() };
}

export function decideUser(command: UserCommand, state: UserState): Decision<UserEvent> {
  const seen = state.recentCommands.get(command.id);
  if (seen !== undefined) return { kind: 'duplicate', eventSeq: seen };
  const target = command.data.blockedUserId;
  if (target === command.userId) return reject('validation_error', 'you cannot block yourself');
  if (command.actor.id !== command.userId) return reject('forbidden', 'only a user changes their own blocks');
  switch (command.type) {
    case 'block.add':
      return state.blocked.has(target) ? { kind: 'noop' } : { kind: 'append', events: [userEvent(command, 'UserBlocked')] };
    case 'block.remove':
      return state.blocked.has(target) ? { kind: 'append', events: [userEvent(command, 'UserUnblocked')] } : { kind: 'noop' };
    default: {
      const exhaustive: never = command;
      return reject('validation_error', `unknown command ${(exhaustive as { type: string }).type}`);
    }
  }
}

function userEvent<T extends UserEvent['type']>(command: BlockUser | UnblockUser, type: T) {
  return {
    type,
    v: 1 as const,
    id: eventId(command.id),
    userId: command.userId,
    actor: command.actor,
    at: new Date(command.at).toISOString(),
    commandId: command.id,
    ...(command.origin ? { origin: command.origin } : {}),
    data: { blockedUserId: command.data.blockedUserId },
  };
}

export function evolveUser(state: UserState, event: UserEvent, streamSeq: number): UserState {
  switch (event.type) {
    case 'UserBlocked':
      state.blocked.add(event.data.blockedUserId);
      break;
    case 'UserUnblocked':
      state.blocked.delete(event.data.blockedUserId);
      break;
    default: {
      const exhaustive: never = event;
      throw new Error(`evolveUser: unknown event ${(exhaustive as { type: string }).type}`);
    }
  }
  state.version = streamSeq;
  if (!state.recentCommands.has(event.commandId)) {
    state.recentCommands.set(event.commandId, streamSeq);
    if (state.recentCommands.size > RECENT_COMMANDS_KEPT) state.recentCommands.delete(state.recentCommands.keys().next().value!);
  }
  return state;
}
