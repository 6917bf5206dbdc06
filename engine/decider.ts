import { createHash } from 'node:crypto';
import { directConversationId } from '../lib/ids.js';
import { conversationNotFound, type ErrorCode } from '../lib/errors.js';
import { DEFAULT_JOIN_POLICY, limits } from '../schemas/index.js';
import type {
  AddMembers,
  ConversationCommand,
  ConversationEvent,
  CreateConversation,
  AddReaction,
  DeleteMessage,
  EditMessage,
  JoinConversation,
  LeaveConversation,
  MarkDelivered,
  MarkRead,
  RemoveMember,
  RemoveReaction,
  Member,
  SendMessage,
  SetRole,
  UpdateConversation,
} from '../schemas/index.js';
import { hasReaction, isOpen, sendersBetween, type ConversationState } from '../lib/conversation-state.js';

// The Decider is decide + evolve + initialState; the last two live with the state in lib/, because
// the delivery projector folds the same events and must not import the engine.
export { evolve, initialState } from '../lib/conversation-state.js';

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

/**
 * The two users whose blocks `decide` needs for this command, or undefined when it needs none: a
 * direct conversation's send and its creation (blocks live on the user subjects, so the handler
 * looks them up before deciding). Part of the decider because which commands a block stops is a
 * rule of the conversation, not of the handler that fetches the data. A direct conversation's edit
 * needs them too; a delete does not (taking a message back is allowed across a block).
 */
export function blockCheckPair(command: ConversationCommand, state: ConversationState): [string, string] | undefined {
  // An edit puts new text in front of the other user as a send does, and so does a reaction: a
  // block stops them too. Taking a reaction back is allowed across a block, as a delete is.
  if (command.type === 'message.edit' || command.type === 'reaction.add') {
    return state.exists && state.kind === 'direct' && state.members.has(command.actor.id) ? ([...state.members.keys()] as [string, string]) : undefined;
  }
  if (command.type !== 'message.send' && command.type !== 'conversation.create') return undefined;
  // A stranger is answered not-found whatever the blocks say: looking them up would only make
  // that answer slower for a conversation that exists than for one that does not.
  if (state.exists && !state.members.has(command.actor.id)) return undefined;
  if (state.exists && state.kind === 'direct') return [...state.members.keys()] as [string, string];
  if (command.type === 'message.send' && command.data.directWith) return [command.actor.id, command.data.directWith];
  if (command.type === 'conversation.create' && command.data.kind === 'direct') return command.data.members as [string, string];
  return undefined;
}

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
    case 'conversation.update':
      return decideUpdate(command, state);
    case 'conversation.add_members':
      return decideAddMembers(command, state);
    case 'conversation.remove_member':
      return decideRemoveMember(command, state);
    case 'conversation.set_role':
      return decideSetRole(command, state);
    case 'message.send':
      return decideSend(command, state, context);
    case 'message.edit':
      return decideEdit(command, state, context);
    case 'message.delete':
      return decideDelete(command, state);
    case 'reaction.add':
      return decideAddReaction(command, state, context);
    case 'reaction.remove':
      return decideRemoveReaction(command, state);
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
    if (members.length === 1) return reject('validation_error', 'a direct conversation needs another user');
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
  if (state.members.size >= limits.groupMaxMembers) return reject('validation_error', `this group is full (${limits.groupMaxMembers} members)`);
  return {
    kind: 'append',
    events: [{ ...envelope(command, 'MembersAdded', command.id), data: { members: [{ userId: command.actor.id, role: 'member' }] } }],
  };
}

function decideLeave(command: LeaveConversation, state: ConversationState): Decision {
  if (!state.members.has(command.actor.id)) return notFound(command.conversationId);
  if (state.kind === 'direct') return reject('forbidden', 'a direct conversation cannot be left');
  // Else the group would have nobody to give roles or remove admins, for good.
  if (state.members.get(command.actor.id) === 'owner' && state.members.size > 1) {
    return reject('forbidden', 'the owner cannot leave a group that has other members; hand it over first (conversation.set_role with role owner)');
  }
  return { kind: 'append', events: [{ ...envelope(command, 'MemberLeft', command.id), data: { userId: command.actor.id } }] };
}

/** Whether this member runs the group: its owner or an admin (never in a direct conversation). */
function runsGroup(state: ConversationState, userId: string): boolean {
  const role = state.members.get(userId);
  return state.kind === 'group' && (role === 'owner' || role === 'admin');
}

/**
 * What is refused before any group administration: a stranger hears not-found (see `notFound`), a
 * member of a direct conversation that it has no administration, a member who does not run the
 * group (or, with `ownerOnly`, is not its owner) forbidden. Undefined: the actor may go on.
 */
function adminRefusal(command: ConversationCommand, state: ConversationState, ownerOnly = false): Decision | undefined {
  const actor = command.actor.id;
  if (!state.members.has(actor)) return notFound(command.conversationId);
  if (state.kind === 'direct') return reject('forbidden', 'a direct conversation has no administration');
  if (ownerOnly ? state.members.get(actor) !== 'owner' : !runsGroup(state, actor)) {
    return reject('forbidden', ownerOnly ? 'only the group owner can do this' : 'only the group owner or an admin can do this');
  }
  return undefined;
}

/**
 * The owner or an admin changes the title, avatar or join policy. Only what differs from now is
 * appended; an update that changes nothing is a no-op. The title follows a create's rule: trimmed,
 * not blank.
 */
function decideUpdate(command: UpdateConversation, state: ConversationState): Decision {
  const refused = adminRefusal(command, state);
  if (refused) return refused;
  const { title, avatar, joinPolicy } = command.data;
  if (title === undefined && avatar === undefined && joinPolicy === undefined) {
    return reject('validation_error', 'give at least one of title, avatar and joinPolicy');
  }
  const trimmed = title?.trim();
  if (trimmed !== undefined && trimmed.length === 0) return reject('validation_error', 'a group needs a title');
  const data: UpdateConversation['data'] = {};
  if (trimmed !== undefined && trimmed !== state.title) data.title = trimmed;
  if (avatar !== undefined && avatar !== (state.avatar ?? null)) data.avatar = avatar;
  if (joinPolicy !== undefined && joinPolicy !== (state.joinPolicy ?? DEFAULT_JOIN_POLICY)) data.joinPolicy = joinPolicy;
  if (Object.keys(data).length === 0) return { kind: 'noop' };
  return { kind: 'append', events: [{ ...envelope(command, 'ConversationUpdated', command.id), data }] };
}

/**
 * The owner or an admin adds users as members: how an invite-only group grows. Users already in it
 * are left out (all of them: a no-op); the group may not pass limits.groupMaxMembers. Blocks do not
 * apply to groups, as at creation.
 */
function decideAddMembers(command: AddMembers, state: ConversationState): Decision {
  const refused = adminRefusal(command, state);
  if (refused) return refused;
  const added = [...new Set(command.data.userIds)].filter((u) => !state.members.has(u));
  if (added.length === 0) return { kind: 'noop' };
  if (state.members.size + added.length > limits.groupMaxMembers) {
    return reject('validation_error', `a group holds at most ${limits.groupMaxMembers} members (${state.members.size} now)`);
  }
  return {
    kind: 'append',
    events: [{ ...envelope(command, 'MembersAdded', command.id), data: { members: added.map((userId) => ({ userId, role: 'member' as const })) } }],
  };
}

/**
 * The owner removes anyone but themselves; an admin removes members, not admins. Leaving is
 * conversation.leave's. The removed member is told (member_left with removedBy) and from then on
 * gets nothing from the group and is refused as a stranger.
 */
function decideRemoveMember(command: RemoveMember, state: ConversationState): Decision {
  const refused = adminRefusal(command, state);
  if (refused) return refused;
  const target = command.data.userId;
  if (target === command.actor.id) return reject('validation_error', 'to leave a group, use conversation.leave');
  const role = state.members.get(target);
  if (role === undefined) return reject('not_a_member', `${target} is not a member of this conversation`);
  if (role === 'owner') return reject('forbidden', 'the group owner cannot be removed');
  if (role === 'admin' && state.members.get(command.actor.id) !== 'owner') return reject('forbidden', 'only the group owner can remove an admin');
  return { kind: 'append', events: [{ ...envelope(command, 'MemberRemoved', command.id), data: { userId: target } }] };
}

/**
 * The owner makes a member an admin or an admin a member; giving the role they have is a no-op.
 * `owner` hands the group over: the member becomes its owner and the owner an admin, in one event
 * (the only way the owner's role changes, so a group never has two owners or, while its owner is
 * in it, none).
 */
function decideSetRole(command: SetRole, state: ConversationState): Decision {
  const refused = adminRefusal(command, state, true);
  if (refused) return refused;
  const { userId, role } = command.data;
  const current = state.members.get(userId);
  if (current === undefined) return reject('not_a_member', `${userId} is not a member of this conversation`);
  if (current === 'owner') return reject('forbidden', "the group owner's own role cannot be set; hand the group over with role owner");
  if (current === role) return { kind: 'noop' };
  const data = role === 'owner' ? { userId, role, previousOwner: command.actor.id } : { userId, role };
  return { kind: 'append', events: [{ ...envelope(command, 'MemberRoleChanged', command.id), data }] };
}

function decideSend(command: SendMessage, state: ConversationState, context: DecideContext): Decision {
  const { data, actor } = command;
  // Whom it is for comes before what it holds: a send wrong both ways is answered about the recipient.
  if (data.directWith === actor.id) return reject('validation_error', 'cannot send a direct message to yourself');
  const hasContent = typeof data.content === 'string' && data.content.trim().length > 0;
  const hasMedia = (data.media?.length ?? 0) > 0;
  if (!hasContent && !hasMedia) return reject('validation_error', 'a message needs content or media');
  if (data.type === 'text' && !hasContent) return reject('validation_error', 'a text message needs content');

  // Checked whether the conversation exists or not, so that the answer to a stranger cannot depend
  // on it; a valid directWith names a conversation of the actor's own.
  if (data.directWith !== undefined) {
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

const messageNotFound = (messageId: string): Decision => reject('message_not_found', `message ${messageId} not found`);

/**
 * Only the sender edits, only a message that is not deleted, and the new content follows the rule
 * of a text message's: not empty (the limit on its length is the schema's, as for a send). A
 * deleted message is not found: there is nothing left to edit. Retries of the same edit (same
 * editId) are answered by `decide`'s recent commands before this runs.
 */
function decideEdit(command: EditMessage, state: ConversationState, context: DecideContext): Decision {
  if (!state.members.has(command.actor.id)) return notFound(command.conversationId);
  const kept = state.messages.get(command.data.messageId);
  if (!kept || kept[2] > 0) return messageNotFound(command.data.messageId);
  const [seq, sender] = kept;
  if (sender !== command.actor.id) return reject('forbidden', 'only its sender can edit a message');
  if (command.data.content.trim().length === 0) return reject('validation_error', 'an edit needs content');
  if (context.blockedPair && state.kind === 'direct') return reject('blocked', 'you cannot send messages to this user');
  return {
    kind: 'append',
    events: [{ ...envelope(command, 'MessageEdited', command.id), data: { messageId: command.data.messageId, seq, content: command.data.content } }],
  };
}

/**
 * The sender deletes their message; in a group, its owner or an admin deletes anyone's. Deleting a deleted
 * message again is a duplicate of the first delete: its answer is that delete's `message.deleted`.
 */
function decideDelete(command: DeleteMessage, state: ConversationState): Decision {
  const actor = command.actor.id;
  if (!state.members.has(actor)) return notFound(command.conversationId);
  const kept = state.messages.get(command.data.messageId);
  if (!kept) return messageNotFound(command.data.messageId);
  const [seq, sender, deletedAt] = kept;
  if (sender !== actor && !runsGroup(state, actor)) return reject('forbidden', 'only its sender or the group owner or an admin can delete a message');
  if (deletedAt > 0) return { kind: 'duplicate', eventSeq: deletedAt };
  return {
    kind: 'append',
    events: [{ ...envelope(command, 'MessageDeleted', command.id), data: { messageId: command.data.messageId, seq, sender } }],
  };
}

/**
 * A member reacts to a kept, not deleted message. Idempotent per (user, message, emoji): adding a
 * reaction already there is a no-op (nothing appended, nothing sent), like a stale receipt.
 * Bounded: at most limits.reactionsPerMessageMax distinct emoji on one message (a new emoji past
 * them is refused; one already there can still be added by more members) and at most
 * limits.reactionsPerUserMax emoji from one user on one message, and at most
 * limits.reactionsPerConversationMax on the kept messages of the conversation together (what bounds
 * its state and snapshot) — all validation_error.
 */
function decideAddReaction(command: AddReaction, state: ConversationState, context: DecideContext): Decision {
  const actor = command.actor.id;
  if (!state.members.has(actor)) return notFound(command.conversationId);
  const { messageId, emoji } = command.data;
  const kept = state.messages.get(messageId);
  if (!kept || kept[2] > 0) return messageNotFound(messageId);
  if (context.blockedPair && state.kind === 'direct') return reject('blocked', 'you cannot send messages to this user');
  const pairs = state.reactions.get(messageId) ?? [];
  if (pairs.some(([e, u]) => e === emoji && u === actor)) return { kind: 'noop' };
  if (pairs.filter(([, u]) => u === actor).length >= limits.reactionsPerUserMax) {
    return reject('validation_error', `at most ${limits.reactionsPerUserMax} reactions per user on one message`);
  }
  if (!pairs.some(([e]) => e === emoji) && new Set(pairs.map(([e]) => e)).size >= limits.reactionsPerMessageMax) {
    return reject('validation_error', `at most ${limits.reactionsPerMessageMax} distinct reactions on one message`);
  }
  let total = 0;
  for (const list of state.reactions.values()) total += list.length;
  if (total >= limits.reactionsPerConversationMax) {
    return reject('validation_error', `this conversation holds ${limits.reactionsPerConversationMax} reactions on its recent messages; take some back first`);
  }
  return { kind: 'append', events: [{ ...envelope(command, 'ReactionAdded', command.id), data: { messageId, seq: kept[0], emoji } }] };
}

/** Taking back one's own reaction; one that is not there (or already taken back) is a no-op. */
function decideRemoveReaction(command: RemoveReaction, state: ConversationState): Decision {
  const actor = command.actor.id;
  if (!state.members.has(actor)) return notFound(command.conversationId);
  const { messageId, emoji } = command.data;
  const kept = state.messages.get(messageId);
  if (!kept || kept[2] > 0) return messageNotFound(messageId);
  if (!hasReaction(state, messageId, actor, emoji)) return { kind: 'noop' };
  return { kind: 'append', events: [{ ...envelope(command, 'ReactionRemoved', command.id), data: { messageId, seq: kept[0], emoji } }] };
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
