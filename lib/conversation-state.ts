import { DEFAULT_JOIN_POLICY, type ConversationEvent, type ConversationKind, type JoinPolicy, type Role } from '../schemas/index.js';

/**
 * What the engine knows of one conversation: enough to decide its next command, nothing more (the
 * delivery projector folds the same state to know who receives what, hence lib/). Built by folding the conversation's events with `evolve`; `version` is the stream sequence of the
 * last event folded in, which is what the next append expects as the subject's last sequence.
 */
export type ConversationState = {
  id: string;
  exists: boolean;
  kind: ConversationKind;
  title?: string;
  /** Groups only: the picture's URL, once set by ConversationUpdated. */
  avatar?: string;
  /**
   * Groups only: who may join (ConversationCreated, later ConversationUpdated). Absent, as in a
   * snapshot from before the policy existed, is read as invite (`isOpen`).
   */
  joinPolicy?: JoinPolicy;
  createdBy: string;
  createdAt: string;
  /** Stream sequence of ConversationCreated: the original answer to a repeated direct create. */
  firstEventSeq?: number;
  members: Map<string, Role>;
  /** The last message's per-conversation seq (0 before the first). */
  lastMessageSeq: number;
  /** Receipt watermarks per member: received (any device) and read up to this message seq. */
  delivered: Map<string, number>;
  read: Map<string, number>;
  /** Per member: messages from others after their read watermark. Folded from the log, so exact. */
  unread: Map<string, number>;
  /**
   * Who sent what, run-length encoded: [first seq of the run, sender]. Receipts and unread counts
   * need "messages from others in (a, b]" without keeping the messages. Bounded: the oldest runs
   * are dropped past SENDER_RUNS_KEPT, and a dropped range counts as "from others".
   */
  senderRuns: [number, string][];
  /**
   * The most recent messages, by id: what edit and delete decide on (who sent it, whether it is
   * deleted) without a read of the log. Bounded: past MESSAGES_KEPT the oldest are forgotten, and
   * an edit or delete of a forgotten message is answered message_not_found.
   */
  messages: Map<string, KeptMessage>;
  /**
   * The reactions on kept messages, by message id: [emoji, userId] pairs, in the order they were
   * added. What the bounds on reactions are decided on (distinct emoji per message, emoji per user)
   * and what makes a repeated add or remove a no-op. Bounded with the kept messages: a message
   * forgotten or deleted takes its reactions with it; at most 3 per member on one message.
   */
  reactions: Map<string, [emoji: string, userId: string][]>;
  /** Stream sequence of the last event folded in (0: none). */
  version: number;
  /**
   * Command id → stream sequence of the event it produced, for the most recent commands. JetStream's
   * duplicate window catches quick retries; this catches a retry that comes after the window.
   */
  recentCommands: Map<string, number>;
};

/**
 * One kept message: [its seq, its sender, the stream sequence of its MessageDeleted (0: not
 * deleted)]. A tuple, because snapshots carry thousands of them.
 */
export type KeptMessage = [seq: number, sender: string, deletedAt: number];

/**
 * How many messages a conversation remembers for edits and deletes. About 60 bytes each in a
 * snapshot (60 KB at the cap, well below a NATS message) and ~150 in memory, for every cached
 * conversation that long (the engine's and the delivery projector's caches count conversations,
 * not bytes); a message further back than this can no longer be edited or deleted
 * (message_not_found), a documented limit.
 */
export const MESSAGES_KEPT = 1_000;

/** How many command ids a conversation remembers beyond JetStream's duplicate window. */
export const RECENT_COMMANDS_KEPT = 1_000;
export const SENDER_RUNS_KEPT = 10_000;

/** Remember which stream sequence a command produced (its first event), forgetting the oldest past the limit. */
export function rememberCommand(recentCommands: Map<string, number>, commandId: string, streamSeq: number): void {
  if (recentCommands.has(commandId)) return;
  recentCommands.set(commandId, streamSeq);
  if (recentCommands.size > RECENT_COMMANDS_KEPT) recentCommands.delete(recentCommands.keys().next().value!);
}

export function initialState(id: string): ConversationState {
  return {
    id,
    exists: false,
    kind: 'group',
    createdBy: '',
    createdAt: '',
    members: new Map(),
    lastMessageSeq: 0,
    delivered: new Map(),
    read: new Map(),
    unread: new Map(),
    senderRuns: [],
    messages: new Map(),
    reactions: new Map(),
    version: 0,
    recentCommands: new Map(),
  };
}

/** A JSON-safe copy, for snapshots. */
export type ConversationSnapshot = Omit<ConversationState, 'members' | 'recentCommands' | 'delivered' | 'read' | 'unread' | 'messages' | 'reactions'> & {
  /** Absent in a snapshot from before edits and deletes: no message is remembered then. */
  messages?: [string, KeptMessage][];
  /** Absent in a snapshot from before reactions: there were none then. */
  reactions?: [string, [string, string][]][];
  members: [string, Role][];
  recentCommands: [string, number][];
  delivered: [string, number][];
  read: [string, number][];
  unread: [string, number][];
};

export function toSnapshot(state: ConversationState): ConversationSnapshot {
  return {
    ...state,
    members: [...state.members],
    recentCommands: [...state.recentCommands],
    delivered: [...state.delivered],
    read: [...state.read],
    unread: [...state.unread],
    messages: [...state.messages],
    reactions: [...state.reactions].map(([id, pairs]) => [id, pairs.map(([e, u]) => [e, u] as [string, string])]),
    senderRuns: state.senderRuns.map(([seq, sender]) => [seq, sender]),
  };
}

export function fromSnapshot(snapshot: ConversationSnapshot): ConversationState {
  return {
    ...snapshot,
    members: new Map(snapshot.members),
    recentCommands: new Map(snapshot.recentCommands),
    delivered: new Map(snapshot.delivered),
    read: new Map(snapshot.read),
    unread: new Map(snapshot.unread),
    messages: new Map(snapshot.messages ?? []),
    reactions: new Map((snapshot.reactions ?? []).map(([id, pairs]) => [id, pairs.map(([e, u]) => [e, u] as [string, string])])),
    senderRuns: snapshot.senderRuns.map(([seq, sender]) => [seq, sender]),
  };
}

/** Whether anyone who knows the id may join: only a group whose policy says open. */
export function isOpen(state: ConversationState): boolean {
  return state.kind === 'group' && state.joinPolicy === 'open';
}

/** Record that message `seq` came from `sender`. */
export function recordSender(state: ConversationState, seq: number, sender: string): void {
  const last = state.senderRuns.at(-1);
  if (last && last[1] === sender) return;
  state.senderRuns.push([seq, sender]);
  // Trim a tenth at once: shifting the array by one per message made every send O(runs) at the cap.
  if (state.senderRuns.length > SENDER_RUNS_KEPT) state.senderRuns.splice(0, state.senderRuns.length - Math.floor(SENDER_RUNS_KEPT * 0.9));
}

/**
 * For messages with seq in (afterSeq, upToSeq]: how many each sender other than `userId` sent.
 * A range older than the kept runs is attributed to "" (unknown, but not `userId`).
 */
export function sendersBetween(state: ConversationState, afterSeq: number, upToSeq: number, userId: string): Map<string, number> {
  const counts = new Map<string, number>();
  const add = (sender: string, from: number, to: number) => {
    const lo = Math.max(from, afterSeq + 1);
    const hi = Math.min(to, upToSeq);
    if (hi >= lo && sender !== userId) counts.set(sender, (counts.get(sender) ?? 0) + hi - lo + 1);
  };
  const runs = state.senderRuns;
  if (runs.length === 0) return counts;
  add('', 1, runs[0]![0] - 1);
  for (let i = runs.length - 1; i >= 0; i--) {
    const [from, sender] = runs[i]!;
    const to = i + 1 < runs.length ? runs[i + 1]![0] - 1 : state.lastMessageSeq;
    if (to <= afterSeq) break;
    add(sender, from, to);
  }
  return counts;
}

/**
 * Messages from others after the member's read watermark, counted from the sender runs, less the
 * deleted ones among them (a deleted message is not unread). Only kept messages are known to be
 * deleted: one deleted and then forgotten (MESSAGES_KEPT further back) would count again, which
 * needs an unread range of thousands of messages.
 */
export function countUnread(state: ConversationState, userId: string): number {
  const read = state.read.get(userId) ?? 0;
  let n = 0;
  for (const count of sendersBetween(state, read, state.lastMessageSeq, userId).values()) n += count;
  if (n > 0) {
    for (const [seq, sender, deleted] of state.messages.values()) if (deleted > 0 && seq > read && sender !== userId) n--;
  }
  return Math.max(0, n);
}

/** Remember a new message, forgetting the oldest past MESSAGES_KEPT (a Map iterates in insertion order). */
function keepMessage(state: ConversationState, messageId: string, seq: number, sender: string): void {
  state.messages.set(messageId, [seq, sender, 0]);
  if (state.messages.size > MESSAGES_KEPT) {
    const oldest = state.messages.keys().next().value!;
    state.messages.delete(oldest);
    state.reactions.delete(oldest);
  }
}

/** Whether this user has reacted with this emoji on this message. */
export function hasReaction(state: ConversationState, messageId: string, userId: string, emoji: string): boolean {
  return (state.reactions.get(messageId) ?? []).some(([e, u]) => e === emoji && u === userId);
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
    case 'MemberRemoved':
      state.members.delete(event.data.userId);
      state.delivered.delete(event.data.userId);
      state.read.delete(event.data.userId);
      state.unread.delete(event.data.userId);
      break;
    // Groups only, and never the owner's role: what the decider writes, and what the read models
    // apply (conversation-statements.ts), whatever a log holds.
    case 'ConversationUpdated': {
      if (state.kind !== 'group') break;
      const d = event.data;
      if (d.title !== undefined) state.title = d.title;
      if (d.avatar === null) delete state.avatar;
      else if (d.avatar !== undefined) state.avatar = d.avatar;
      if (d.joinPolicy !== undefined) state.joinPolicy = d.joinPolicy;
      break;
    }
    case 'MemberRoleChanged': {
      // Only a member's role changes (one removed since is not brought back), and an owner's only
      // by handing the group over to a member, who takes their place.
      const { userId, role, previousOwner } = event.data;
      const current = state.members.get(userId);
      if (current === undefined || current === 'owner') break;
      if (role === 'owner') {
        if (previousOwner === undefined || state.members.get(previousOwner) !== 'owner') break;
        state.members.set(previousOwner, 'admin');
      }
      state.members.set(userId, role);
      break;
    }
    case 'MessageSent':
      state.lastMessageSeq = event.data.seq;
      recordSender(state, event.data.seq, event.data.sender.id);
      keepMessage(state, event.data.messageId, event.data.seq, event.data.sender.id);
      for (const member of state.members.keys()) {
        if (member !== event.data.sender.id) state.unread.set(member, (state.unread.get(member) ?? 0) + 1);
      }
      break;
    case 'MessageEdited':
      // Nothing the decider needs changes: the content lives in the log and the read models.
      break;
    case 'MessageDeleted': {
      const kept = state.messages.get(event.data.messageId);
      if (kept) kept[2] = streamSeq;
      state.reactions.delete(event.data.messageId);
      // No longer unread for the members who had not read it.
      for (const member of state.members.keys()) {
        if (member === event.data.sender || (state.read.get(member) ?? 0) >= event.data.seq) continue;
        state.unread.set(member, Math.max(0, (state.unread.get(member) ?? 0) - 1));
      }
      break;
    }
    case 'ReactionAdded': {
      const d = event.data;
      if (!state.messages.has(d.messageId) || hasReaction(state, d.messageId, event.actor.id, d.emoji)) break;
      const pairs = state.reactions.get(d.messageId) ?? [];
      pairs.push([d.emoji, event.actor.id]);
      state.reactions.set(d.messageId, pairs);
      break;
    }
    case 'ReactionRemoved': {
      const d = event.data;
      const pairs = (state.reactions.get(d.messageId) ?? []).filter(([e, u]) => !(e === d.emoji && u === event.actor.id));
      if (pairs.length > 0) state.reactions.set(d.messageId, pairs);
      else state.reactions.delete(d.messageId);
      break;
    }
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
  rememberCommand(state.recentCommands, event.commandId, streamSeq);
  return state;
}
