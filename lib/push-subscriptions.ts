import { createHash } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import { ParleyError } from './errors.js';
import { decodeJson, encodeJson } from './json.js';
import { changeKey } from './kv-cas.js';
import type { StoredPushSubscription } from '../schemas/index.js';

/** What a user's key in the <PREFIX>_PUSH_SUBS bucket holds. */
export type UserPushSubscriptions = { subscriptions: StoredPushSubscription[] };

/**
 * A subscription's id names its endpoint (a hash: listing ids tells nothing of the URL), so a
 * browser that subscribes again on every page load (as pushManager code usually does) gets the same
 * id back instead of piling up copies.
 */
export function subscriptionIdOf(endpoint: string): string {
  return `ps_${createHash('sha256').update(endpoint).digest('base64url').slice(0, 22)}`;
}

export function readUserSubscriptions(value: Uint8Array | undefined): UserPushSubscriptions {
  if (!value || value.length === 0) return { subscriptions: [] };
  const parsed = decodeJson<UserPushSubscriptions>(value);
  return Array.isArray(parsed?.subscriptions) ? parsed : { subscriptions: [] };
}

/**
 * Each user's Web Push subscriptions, one key per user in a KV bucket (durable, replicated like the
 * rest; the push projector watches the bucket). Every change is a compare-and-set on the key's
 * revision, so two devices subscribing at once both end up in it.
 */
export class PushSubscriptionStore {
  readonly #kv: KV;
  readonly #maxPerUser: number;

  constructor(kv: KV, maxPerUser: number) {
    this.#kv = kv;
    this.#maxPerUser = maxPerUser;
  }

  async list(userId: string): Promise<StoredPushSubscription[]> {
    const entry = await this.#kv.get(userId);
    return entry && entry.operation === 'PUT' ? readUserSubscriptions(entry.value).subscriptions : [];
  }

  /** Add (or refresh the keys of) a subscription; `created` is false when its endpoint was there already. */
  async add(userId: string, sub: Omit<StoredPushSubscription, 'id' | 'createdAt'>, now: number): Promise<{ id: string; created: boolean }> {
    const id = subscriptionIdOf(sub.endpoint);
    let created = false;
    await this.#change(userId, (subs) => {
      const others = subs.filter((s) => s.id !== id);
      const existing = subs.find((s) => s.id === id);
      created = existing === undefined;
      if (created && others.length >= this.#maxPerUser) {
        throw new ParleyError('limit_reached', `at most ${this.#maxPerUser} push subscriptions per user: delete one first`);
      }
      const stored: StoredPushSubscription = {
        id,
        endpoint: sub.endpoint,
        keys: { p256dh: sub.keys.p256dh, auth: sub.keys.auth },
        ...(sub.deviceId !== undefined ? { deviceId: sub.deviceId } : {}),
        ...(sub.preview === false ? { preview: false } : {}),
        createdAt: existing?.createdAt ?? new Date(now).toISOString(),
      };
      return [...others, stored];
    });
    return { id, created };
  }

  /** Remove one subscription; false when the user has none with that id. */
  async remove(userId: string, id: string): Promise<boolean> {
    let removed = false;
    await this.#change(userId, (subs) => {
      const rest = subs.filter((s) => s.id !== id);
      removed = rest.length !== subs.length;
      return removed ? rest : null;
    });
    return removed;
  }

  /** `change` returns the new list, or null for no write. */
  #change(userId: string, change: (subs: StoredPushSubscription[]) => StoredPushSubscription[] | null): Promise<void> {
    return changeKey(this.#kv, userId, (current) => {
      const next = change(readUserSubscriptions(current).subscriptions);
      return next === null ? null : encodeJson({ subscriptions: next } satisfies UserPushSubscriptions);
    });
  }
}
