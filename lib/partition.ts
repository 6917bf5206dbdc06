import type { AnyCommand } from '../schemas/index.js';
import type { Names } from './names.js';

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
 * The aggregate a command is decided against: the engine's queue lane for it, and the key its
 * partition is chosen by. One key for both, so a user id that equals some conversation id can share
 * neither a lane nor an ordering with that conversation by accident.
 */
export function aggregateKey(command: AnyCommand): string {
  return isUserCommand(command) ? `user:${command.userId}` : command.conversationId;
}

/** The command partition a command is published to (gateway) and decided in (engine). */
export function commandPartition(command: AnyCommand, partitions: number): number {
  return partitionOf(aggregateKey(command), partitions);
}

/**
 * The delivery partition of an event, by its subject in the log (`<prefix>.ev.conv.<id>` or
 * `<prefix>.ev.user.<id>`): keyed as its command was (aggregateKey), so one conversation's events,
 * and one user's, are projected by one partition in log order.
 */
export function eventPartition(names: Names, subject: string, partitions: number): number {
  if (partitions === 1) return 0;
  const conversationId = names.subjects.conversationOfSubject(subject);
  if (conversationId !== undefined) return partitionOf(conversationId, partitions);
  const userId = names.subjects.userOfSubject(subject);
  return userId !== undefined ? partitionOf(`user:${userId}`, partitions) : 0;
}
