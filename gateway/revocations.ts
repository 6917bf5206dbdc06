import type { KV, KvWatchEntry } from '@nats-io/kv';
import type { QueuedIterator } from '@nats-io/nats-core';
import { ParleyError } from '../lib/errors.js';
import { decodeJson, encodeJson } from '../lib/json.js';
import type { Logger } from '../lib/log.js';
import type { Identity, TokenVerifier } from './auth.js';

/** A revocation as stored under the user's key: tokens issued before `revokedAt` (ms) are refused. */
export type Revocation = { revokedAt: number; by?: string };

/** How long a gateway waits at start for the bucket's revocations before it gives up starting. */
const LOAD_TIMEOUT_MS = 10_000;

/**
 * Token revocations (POST /v1/admin/users/:id/revoke): per user, the time before which their
 * tokens are refused. They live in the KV bucket `<PREFIX>_REVOKED`, so they outlast restarts and
 * reach gateways started later; each gateway reads the whole bucket before it serves and then
 * watches it, so a check is a map lookup (no round trip per token, which a reconnect storm of
 * thousands could not afford). A token without `iat` counts as issued before any revocation.
 */
export class Revocations {
  readonly #kv: KV;
  readonly #log: Logger;
  readonly #at = new Map<string, number>();
  #watch?: QueuedIterator<KvWatchEntry>;
  /** The bucket has been read to its end: from now on a moved revocation is news (onRevoked). */
  #loaded = false;
  /** Called when a user's revocation moves after start (from the watch, or applied here first). */
  onRevoked: (userId: string, revokedAt: number) => void = () => undefined;

  private constructor(kv: KV, log: Logger) {
    this.#kv = kv;
    this.#log = log;
  }

  /** Load every revocation, then follow the bucket. Resolves once the view is complete. */
  static async open(kv: KV, log: Logger): Promise<Revocations> {
    const r = new Revocations(kv, log);
    await r.#follow();
    return r;
  }

  async #follow(): Promise<void> {
    // The watch hands the last value of every key, then each change. The bucket's last sequence,
    // read once the watch exists, is the last value of some key: seen it, the view is complete.
    this.#watch = await this.#kv.watch();
    const { streamInfo } = await this.#kv.status();
    const lastSeq = streamInfo.state.messages === 0 ? 0 : streamInfo.state.last_seq;
    let resolveLoaded!: () => void;
    const complete = new Promise<void>((resolve) => (resolveLoaded = resolve));
    const loaded = () => {
      this.#loaded = true;
      resolveLoaded();
    };
    if (lastSeq === 0) loaded();
    const watch = this.#watch;
    void (async () => {
      for await (const e of watch) {
        this.#take(e);
        if (e.revision >= lastSeq) loaded();
      }
    })().catch((err: unknown) => this.#log.error({ err }, 'the revocation watch stopped'));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`revocations: bucket not read within ${LOAD_TIMEOUT_MS} ms`)), LOAD_TIMEOUT_MS);
    });
    try {
      await Promise.race([complete, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  #take(e: KvWatchEntry): void {
    if (e.operation !== 'PUT') {
      this.#at.delete(e.key);
      return;
    }
    let value: Revocation | undefined;
    try {
      value = decodeJson<Revocation>(e.value);
    } catch {
      value = undefined;
    }
    if (typeof value?.revokedAt !== 'number' || !Number.isFinite(value.revokedAt)) {
      this.#log.warn({ key: e.key }, 'ignoring a malformed revocation');
      return;
    }
    this.apply(e.key, value.revokedAt);
  }

  /** Refuse the user's tokens issued before `revokedAt` here (it only moves forward). */
  apply(userId: string, revokedAt: number): void {
    const current = this.#at.get(userId);
    if (current !== undefined && current >= revokedAt) return;
    this.#at.set(userId, revokedAt);
    if (this.#loaded) this.onRevoked(userId, revokedAt);
  }

  /** Store a revocation of the user's tokens issued before `revokedAt`: every gateway's watch applies it. */
  async store(userId: string, revokedAt: number, by: string): Promise<void> {
    await this.#kv.put(userId, encodeJson({ revokedAt, by } satisfies Revocation));
  }

  isRevoked(identity: Identity): boolean {
    const at = this.#at.get(identity.userId);
    return at !== undefined && (identity.issuedAt === undefined || identity.issuedAt < at);
  }

  stop(): void {
    this.#watch?.stop();
  }
}

/** A verifier that also refuses revoked tokens: every socket and REST check goes through it. */
export function refusingRevoked(verifier: TokenVerifier, revocations: Revocations): TokenVerifier {
  return {
    async verify(token: string): Promise<Identity> {
      const identity = await verifier.verify(token);
      if (revocations.isRevoked(identity)) throw new ParleyError('unauthorized', 'token revoked');
      return identity;
    },
  };
}
