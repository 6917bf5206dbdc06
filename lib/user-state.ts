import type { UserEvent } from '../schemas/index.js';
import { rememberCommand } from './conversation-state.js';

/**
 * What the engine knows of one user's own relations (blocks), folded from the events on
 * `<prefix>.ev.user.<userId>` with `evolveUser`; engine/user-decider.ts decides on it.
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
  rememberCommand(state.recentCommands, event.commandId, streamSeq);
  return state;
}
