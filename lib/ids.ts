import { createHash, randomFillSync } from 'node:crypto';

/**
 * Ids. All are subject-token safe ([A-Za-z0-9_-]). Random ids are time-ordered (48-bit ms time +
 * 80 random bits, base32 Crockford), so they sort by creation like ULIDs.
 */
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * Random bytes drawn 4 KiB at a time: one randomFillSync per 256 ids instead of one per id (it was
 * 6 % of the gateway's CPU under load, one command id per frame). Every id still gets fresh bytes.
 */
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

function randomSlice(n: number): Buffer {
  if (poolOffset + n > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const slice = pool.subarray(poolOffset, poolOffset + n);
  poolOffset += n;
  return slice;
}

export function newId(prefix: string, now = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const bytes = randomSlice(16);
  let rand = '';
  for (let i = 0; i < 16; i++) rand += CROCKFORD[bytes[i]! % 32];
  return `${prefix}_${time}${rand}`;
}

/** The creation time (ms) of an id made by `newId`; NaN for anything else. */
export function timeOfId(id: string): number {
  const time = id.slice(id.lastIndexOf('_') + 1, id.lastIndexOf('_') + 11);
  if (time.length !== 10) return Number.NaN;
  let t = 0;
  for (const ch of time) {
    const digit = CROCKFORD.indexOf(ch);
    if (digit < 0) return Number.NaN;
    t = t * 32 + digit;
  }
  return t;
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

/**
 * An edit's command id, from the client's editId: scoped to the user like a send's. The spaces
 * cannot occur in a user id or an editId (visible ASCII), so it never equals a send's id.
 */
export function editCommandId(userId: string, editId: string): string {
  return `${userId} edit ${editId}`;
}
