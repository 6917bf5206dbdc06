/**
 * A user's unread counts, `{ conversationId: unread }` with conversations at 0 left out: what the delivery projector keeps in the unread
 * bucket (one key per user) and what a gateway reads from it to greet a connecting client.
 */
export type UnreadMap = Record<string, number>;

export function totalOf(map: UnreadMap): number {
  let total = 0;
  for (const n of Object.values(map)) total += n;
  return total;
}
