import type { AnyCommand } from '../schemas/index.js';

/**
 * Which command partition a conversation belongs to: FNV-1a over its id, mod the partition count.
 * Every gateway must agree, so this is the only place it is computed.
 */
export function partitionOf(conversationId: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < conversationId.length; i++) {
    hash ^= conversationId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % partitions;
}

export function isUserCommand(command: AnyCommand): command is Extract<AnyCommand, { userId: string }> {
  return 'userId' in command && !('conversationId' in command);
}

/**
 * The aggregate a command is decided against: the engine's queue lane and log subject for it. The
 * gateway routes by it too (a user command by its user id), so both sides take it from here.
 */
export function aggregateKey(command: AnyCommand): string {
  return isUserCommand(command) ? `user:${command.userId}` : command.conversationId;
}
