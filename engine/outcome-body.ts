import { isUserCommand } from '../lib/partition.js';
import { toWireConversation, toWireDeleted, toWireEdited, toWireJoined, toWireLeft, toWireMessage, toWireReaction, toWireUpdated } from '../lib/wire.js';
import type { AnyCommand, CommandOutcome, ConversationEvent, Origin, UserEvent } from '../schemas/index.js';

/**
 * What a command's answer carries besides its outcome, by command type: pure, so the handler only
 * says what happened and this says how a gateway (and its client) sees it.
 */
export type OutcomeOf = Pick<CommandOutcome, 'outcome'> & Partial<CommandOutcome>;

/** The answer to `command` for the connection in `origin`. */
export function outcomeBody(command: AnyCommand, origin: Origin, outcome: OutcomeOf): CommandOutcome {
  return {
    commandId: command.id,
    connectionId: origin.connectionId,
    ...(origin.ref !== undefined ? { ref: origin.ref } : {}),
    commandType: command.type,
    ...(isUserCommand(command) ? { userId: command.userId } : { conversationId: command.conversationId }),
    ...(command.type === 'message.send' ? { tempId: command.data.tempId } : {}),
    ...(command.type === 'block.add' || command.type === 'block.remove' ? { result: { userId: command.data.blockedUserId } } : {}),
    ...outcome,
  };
}

/** The result an accepted (or duplicate) command reports: the message sent, the conversation created, the change made. */
export function resultOf(event: unknown): Partial<CommandOutcome> {
  const e = event as ConversationEvent | UserEvent | undefined;
  if (e?.type === 'MessageSent') return { result: toWireMessage(e) };
  if (e?.type === 'ConversationCreated') return { result: toWireConversation(e) };
  if (e?.type === 'MessageEdited') return { result: toWireEdited(e) };
  if (e?.type === 'MessageDeleted') return { result: toWireDeleted(e) };
  if (e?.type === 'ReactionAdded' || e?.type === 'ReactionRemoved') return { result: toWireReaction(e) };
  if (e?.type === 'ConversationUpdated' || e?.type === 'MemberRoleChanged') return { result: toWireUpdated(e) };
  if (e?.type === 'MembersAdded') return { result: toWireJoined(e) };
  if (e?.type === 'MemberLeft' || e?.type === 'MemberRemoved') return { result: toWireLeft(e) };
  return {};
}
