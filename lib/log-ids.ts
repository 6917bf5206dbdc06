import type { AnyCommand } from '../schemas/commands.js';

/** What a log line says of a command: the ids that find it (command, conversation, acting user). */
export type CommandLogIds = { commandId: string; commandType: string; userId: string; conversationId?: string };

/**
 * The ids of a command for a log line, never its data: a message's text, a title or a push
 * endpoint stays out of the logs, and the ids find the rest in the log (`parley replay`).
 */
export function commandLogIds(command: AnyCommand): CommandLogIds {
  return {
    commandId: command.id,
    commandType: command.type,
    userId: command.actor.id,
    ...('conversationId' in command ? { conversationId: command.conversationId } : {}),
  };
}
