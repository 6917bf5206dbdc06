import type { KV } from '@nats-io/kv';

/** Attempts at a read-modify-write before giving up: only two devices of one user racing would need a second. */
const CAS_ATTEMPTS = 5;

/**
 * Change one key by compare-and-set on its revision, again from a fresh read when somebody wrote
 * it meanwhile. `change` gets the current value (undefined: none, or deleted) and returns the new
 * bytes, or null to write nothing.
 */
export async function changeKey(kv: KV, key: string, change: (current: Uint8Array | undefined) => Uint8Array | null): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const entry = await kv.get(key);
    const next = change(entry && entry.operation === 'PUT' ? entry.value : undefined);
    if (next === null) return;
    try {
      // A deleted or purged key has a revision too: update from it; create only where none ever was.
      if (entry) await kv.update(key, next, entry.revision);
      else await kv.create(key, next);
      return;
    } catch (err) {
      if (attempt >= CAS_ATTEMPTS || !isWrongRevision(err)) throw err;
    }
  }
}

/** A compare-and-set that lost: somebody wrote the key since we read it. */
function isWrongRevision(err: unknown): boolean {
  return (err as { code?: unknown })?.code === 10071 || /wrong last sequence|key exists/i.test(String((err as Error)?.message ?? ''));
}
