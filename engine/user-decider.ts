import type { BlockUser, UnblockUser, UserCommand, UserEvent } from '../schemas/index.js';
import type { UserState } from '../lib/user-state.js';
import { eventId, reject, type Decision } from './decider.js';

// The user Decider's evolve and initial state live with the state in lib/ (see decider.ts).
export { evolveUser, initialUserState, type UserState } from '../lib/user-state.js';

/**
 * The user decider: what one user has done to their own relations (blocks). Its events live on
 * `<prefix>.ev.user.<userId>`; the conversation decider is told of blocks through its context.
 */
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
