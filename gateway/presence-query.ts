import type { NatsConnection } from '@nats-io/nats-core';
import { ParleyError } from '../lib/errors.js';
import { decodeJson, encodeJson } from '../lib/json.js';
import type { Names } from '../lib/names.js';
import type { PresenceStatus } from '../schemas/index.js';

/** How long presence.subscribe and GET /v1/presence wait for the presence service. */
export const PRESENCE_QUERY_TIMEOUT_MS = 2_000;

/** The presence of `users` as `asker` may see them; throws `unavailable` when the service does not answer. */
export type AskPresence = (asker: string, users: string[]) => Promise<PresenceStatus[]>;

/**
 * Asks the presence service (projections/presence/, queue group `presence`) on
 * <prefix>.presence.query. It applies the blocks (either way: a user never seen), so the gateway
 * passes its answer on as it is, after checking that it answers for exactly the users asked.
 */
export function presenceAsker(nc: NatsConnection, names: Names, timeoutMs = PRESENCE_QUERY_TIMEOUT_MS): AskPresence {
  return async (asker, users) => {
    let body: { users?: unknown };
    try {
      const reply = await nc.request(names.subjects.presenceQuery, encodeJson({ userId: asker, users }), { timeout: timeoutMs });
      body = decodeJson<{ users?: unknown }>(reply.data);
    } catch (err) {
      throw new ParleyError('unavailable', 'presence is not available right now; retry', { cause: err });
    }
    const answered = body.users;
    if (!Array.isArray(answered) || answered.length !== users.length || answered.some((u, i) => (u as PresenceStatus | null)?.userId !== users[i])) {
      throw new ParleyError('unavailable', 'presence is not available right now; retry');
    }
    return answered as PresenceStatus[];
  };
}
