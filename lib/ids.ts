import { createHash, randomBytes } from 'node:crypto';

/**
 * Ids. All are subject-token safe ([A-Za-z0-9_-]). Random ids are time-ordered (48-bit ms time +
 * 80 random bits, base32 Crockford), so they sort by creation like ULIDs.
 */
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export function newId(prefix: string, now = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const bytes = randomBytes(16);
  let rand = '';
  for (let i = 0; i < 16; i++) rand += CROCKFORD[bytes[i]! % 32];
  return `${prefix}_${time}${rand}`;
}

/**
 * The direct conversation of two users has one id, derived from the pair, so that both users
 * sending "first" at once land on the same conversation subject and optimistic concurrency
 * lets exactly one ConversationCreated through.
 */
export function directConversationId(userA: string, userB: string): string {
  const [a, b] = userA < userB ? [userA, userB] : [userB, userA];
  const digest = createHash('sha256').update(`${a}\n${b}`).digest('base64url');
  return `d_${digest.slice(0, 27)}`;
}

/** The id of a send command: the client's tempId scoped to its user, used as Nats-Msg-Id. */
export function sendCommandId(userId: string, tempId: string): string {
  return `${userId}:${tempId}`;
}
