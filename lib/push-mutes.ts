import type { KV } from '@nats-io/kv';
import { ParleyError } from './errors.js';
import { decodeJson, encodeJson } from './json.js';
import { changeKey } from './kv-cas.js';

/** A user's muted conversations: conversation id → muted until (ms since the epoch; 0: until unmuted). */
export type Mutes = Map<string, number>;

/** The most conversations one user may have muted at once. */
export const MAX_MUTES_PER_USER = 1_000;

export function readMutes(value: Uint8Array): Mutes | undefined {
  if (value.length === 0) return undefined;
  const raw = decodeJson<Record<string, unknown>>(value);
  const mutes: Mutes = new Map();
  if (raw && typeof raw === 'object') for (const [id, until] of Object.entries(raw)) if (typeof until === 'number' && until >= 0) mutes.set(id, until);
  return mutes.size > 0 ? mutes : undefined;
}

/** Until when a conversation is muted (ms), 0 when it is not, Infinity when until unmuted. */
export function mutedUntilOf(mutes: Mutes | undefined, conversationId: string): number {
  const until = mutes?.get(conversationId);
  return until === undefined ? 0 : until === 0 ? Number.POSITIVE_INFINITY : until;
}

/**
 * Mutes live in the KV bucket <PREFIX>_PUSH_MUTES, one key per user (the push projector watches
 * it). A mute whose time has passed is dropped at the user's next change.
 */
export class PushMuteStore {
  readonly #kv: KV;

  constructor(kv: KV) {
    this.#kv = kv;
  }

  /** Mute until `until` (ms), or until unmuted when it is undefined. */
  async mute(userId: string, conversationId: string, until: number | undefined, now: number): Promise<void> {
    await changeKey(this.#kv, userId, (current) => {
      const mutes = live(current, now);
      if (!mutes.has(conversationId) && mutes.size >= MAX_MUTES_PER_USER) {
        throw new ParleyError('limit_reached', `at most ${MAX_MUTES_PER_USER} muted conversations: unmute one first`);
      }
      mutes.set(conversationId, until ?? 0);
      return encodeJson(Object.fromEntries(mutes));
    });
  }

  /** Unmute; false when it was not muted. */
  async unmute(userId: string, conversationId: string, now: number): Promise<boolean> {
    let was = false;
    await changeKey(this.#kv, userId, (current) => {
      const mutes = live(current, now);
      was = mutes.delete(conversationId);
      return was ? encodeJson(Object.fromEntries(mutes)) : null;
    });
    return was;
  }
}

function live(current: Uint8Array | undefined, now: number): Mutes {
  const mutes = (current && readMutes(current)) || new Map<string, number>();
  for (const [id, until] of mutes) if (until !== 0 && until <= now) mutes.delete(id);
  return mutes;
}
