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
