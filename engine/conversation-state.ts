import type { ConversationKind, Role } from '../schemas/index.js';

/**
 * What the engine knows of one conversation: enough to decide its next command, nothing more.
 * Built by folding the conversation's events with `evolve`; `version` is the stream sequence of the
 * last event folded in, which is what the next append expects as the subject's last sequence.
 */
export type ConversationState = {
  id: string;
  exists: boolean;
  kind: ConversationKind;
  title?: string;
  createdBy: string;
  createdAt: string;
  /** Stream sequence of ConversationCreated: the original answer to a repeated direct create. */
  firstEventSeq?: number;
  members: Map<string, Role>;
  /** The last message's per-conversation seq (0 before the first). */
  lastMessageSeq: number;
  /** Stream sequence of the last event folded in (0: none). */
  version: number;
  /**
   * Command id → stream sequence of the event it produced, for the most recent commands. JetStream's
   * duplicate window catches quick retries; this catches a retry that comes after the window.
   */
  recentCommands: Map<string, number>;
};

/** How many command ids a conversation remembers beyond JetStream's duplicate window. */
export const RECENT_COMMANDS_KEPT = 1_000;

export function initialState(id: string): ConversationState {
  return {
    id,
    exists: false,
    kind: 'group',
    createdBy: '',
    createdAt: '',
    members: new Map(),
    lastMessageSeq: 0,
    version: 0,
    recentCommands: new Map(),
  };
}

/** A JSON-safe copy, for snapshots. */
export type ConversationSnapshot = Omit<ConversationState, 'members' | 'recentCommands'> & {
  members: [string, Role][];
  recentCommands: [string, number][];
};

export function toSnapshot(state: ConversationState): ConversationSnapshot {
  return { ...state, members: [...state.members], recentCommands: [...state.recentCommands] };
}

export function fromSnapshot(snapshot: ConversationSnapshot): ConversationState {
  return { ...snapshot, members: new Map(snapshot.members), recentCommands: new Map(snapshot.recentCommands) };
}
