import { ParleyError } from '../../lib/errors.js';
import { isId, limits } from '../../schemas/index.js';

/**
 * GET /v1/presence's `users`: comma-separated user ids (several `users` parameters are one list),
 * in the order given without repeats, 1 to limits.presenceQueryMax of them. Anything else is a
 * validation_error saying what is wrong (and never echoing more than a short piece of the input).
 */
export function presenceUsersParam(query: URLSearchParams): string[] {
  const raw = query.getAll('users');
  if (raw.length === 0 || raw.every((v) => v === '')) throw new ParleyError('validation_error', 'users is required: ?users=a,b,… (comma-separated user ids)');
  const users: string[] = [];
  const seen = new Set<string>();
  for (const part of raw.join(',').split(',')) {
    if (!isId(part)) throw new ParleyError('validation_error', `users: each user id must be 1–128 letters, digits, _ or - (got ${JSON.stringify(part.slice(0, 40))}${part.length > 40 ? '…' : ''})`);
    if (seen.has(part)) continue;
    seen.add(part);
    users.push(part);
    if (users.length > limits.presenceQueryMax) throw new ParleyError('validation_error', `users: at most ${limits.presenceQueryMax} user ids`);
  }
  return users;
}
