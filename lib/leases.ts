import { randomBytes } from 'node:crypto';
import type { KV, KvWatchEntry } from '@nats-io/kv';
import type { QueuedIterator } from '@nats-io/nats-core';
import { decodeJson, encodeJson } from './json.js';
import type { Logger } from './log.js';

/**
 * Partition ownership by leases in a KV bucket whose entries expire (the bucket's TTL is the lease
 * time). Any number of processes of one kind (engines, say) share `partitions`:
 *
 * - a partition's key `p<N>` holds its owner; it is taken with create (only when nobody holds it)
 *   and renewed with a compare-and-set on its revision, so two processes never both believe they
 *   hold it after a renewal: the loser's update fails and it lets the partition go at once;
 * - each process also renews `m.<id>` (its membership) and watches the bucket, so it knows how many
 *   share the partitions and aims for its fair share (ceil(partitions / members)): it takes free
 *   ones up to that, and gives back one a round above it, so ownership evens out as processes come
 *   and go without everyone grabbing at once (and with a random delay before taking);
 * - a process that stops renewing (killed, cut off from NATS) loses its keys when they expire, at
 *   most `leaseMs` after its last renewal, and the others take them; a graceful stop deletes its
 *   keys (compare-and-set) so the others take them at the next round.
 *
 * Each lease carries a fence: the revision it was taken at (a stream sequence, so it only grows).
 * What a stale owner could still do after losing a lease is bounded by the users of this class
 * (the engine: every append expects the conversation's last sequence, and a takeover recreates the
 * partition's consumer; see README "Scale-out").
 */
export type LeaseEvents = {
  /** The partition is ours from now (fence: the revision it was taken at). */
  acquired(partition: number, fence: number): void;
  /** The partition is no longer ours (renewal failed, or given back): stop work on it now. */
  lost(partition: number, reason: 'expired' | 'taken' | 'released' | 'stopped'): void | Promise<void>;
};

export type LeaseOptions = {
  partitions: number;
  /** How long a lease lives without renewal: the bucket's TTL. */
  leaseMs: number;
  /** This process's id in the bucket (default: random). */
  id?: string;
};

type Held = { revision: number; fence: number };
type Seen = { value: { owner?: string }; revision: number; created: number };

const partitionKey = (p: number) => `p${p}`;
const memberKey = (id: string) => `m.${id}`;

export class PartitionLeases {
  readonly id: string;
  readonly #kv: KV;
  readonly #opts: Required<LeaseOptions>;
  readonly #events: LeaseEvents;
  readonly #log: Logger;
  readonly #held = new Map<number, Held>();
  /** The bucket as the watch last saw it (expiry removes keys without telling the watch: see #alive). */
  readonly #seen = new Map<string, Seen>();
  #watch?: QueuedIterator<KvWatchEntry>;
  #timer?: NodeJS.Timeout;
  #round: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(kv: KV, opts: LeaseOptions, events: LeaseEvents, log: Logger) {
    this.#kv = kv;
    this.#opts = { id: opts.id ?? randomBytes(6).toString('hex'), ...opts };
    this.id = this.#opts.id;
    this.#events = events;
    this.#log = log.child({ leases: this.id });
  }

  /** The partitions held now, ascending. */
  get owned(): number[] {
    return [...this.#held.keys()].sort((a, b) => a - b);
  }

  fenceOf(partition: number): number | undefined {
    return this.#held.get(partition)?.fence;
  }

  /**
   * Whether the partition's key in the bucket is still the one we last wrote (read now, not as the
   * watch last saw it): what a holder checks before it makes the partition's consumer again, so
   * that one whose lease was taken without its knowing yet does not delete the new owner's.
   */
  async confirm(partition: number): Promise<boolean> {
    const held = this.#held.get(partition);
    if (!held) return false;
    const entry = await this.#kv.get(partitionKey(partition)).catch(() => null);
    return entry?.operation === 'PUT' && entry.revision === held.revision;
  }

  /** Join: announce this process, take a first share, then renew every third of the lease time. */
  async start(): Promise<void> {
    this.#watch = await this.#kv.watch();
    const watch = this.#watch;
    void (async () => {
      for await (const e of watch) {
        if (e.operation === 'PUT') {
          try {
            this.#seen.set(e.key, { value: decodeJson(e.value), revision: e.revision, created: e.created.getTime() });
          } catch {
            this.#seen.delete(e.key);
          }
        } else this.#seen.delete(e.key);
      }
    })().catch((err: unknown) => this.#log.warn({ err }, 'lease watch stopped'));
    await this.#kv.put(memberKey(this.id), encodeJson({ since: Date.now() }));
    await this.round();
    const every = Math.max(50, Math.floor(this.#opts.leaseMs / 3));
    this.#timer = setInterval(() => {
      this.#round = this.#round.then(() => this.round()).catch((err: unknown) => this.#log.warn({ err }, 'lease round failed'));
    }, every);
  }

  /** One round: renew membership and leases, then move toward the fair share. Exposed for tests. */
  async round(): Promise<void> {
    if (this.#stopped) return;
    await this.#kv.put(memberKey(this.id), encodeJson({ since: Date.now() })).catch(() => undefined);
    // All at once: one after another, a NATS that answers nothing (each request times out) made a
    // round last a timeout per partition, longer than the lease, and a stop wait for all of them.
    await Promise.all(
      [...this.#held].map(async ([p, held]) => {
        try {
          held.revision = await this.#kv.update(partitionKey(p), encodeJson({ owner: this.id }), held.revision);
        } catch (err) {
          this.#held.delete(p);
          const reason = this.#seen.get(partitionKey(p))?.value.owner === this.id || !this.#seen.has(partitionKey(p)) ? 'expired' : 'taken';
          this.#log.warn({ partition: p, reason, err: (err as Error).message }, 'lease lost');
          await this.#events.lost(p, reason);
        }
      }),
    );
    const members = this.members();
    const share = Math.ceil(this.#opts.partitions / Math.max(1, members.length));
    if (this.#held.size > share) {
      // One a round: the others take it at their next round, and nobody flaps.
      await this.#release(Math.max(...this.#held.keys()), 'released');
      return;
    }
    const free = this.#free();
    for (const p of shuffle(free).slice(0, share - this.#held.size)) await this.#take(p);
  }

  /** Live members (ours included): their key renewed within the lease time. */
  members(): string[] {
    const now = Date.now();
    const ids = new Set<string>([this.id]);
    for (const [key, s] of this.#seen) if (key.startsWith('m.') && now - s.created < this.#opts.leaseMs) ids.add(key.slice(2));
    return [...ids].sort();
  }

  /** Who holds each partition, as the watch saw it (undefined: nobody, or a lease that has expired). */
  owners(): (string | undefined)[] {
    const now = Date.now();
    return Array.from({ length: this.#opts.partitions }, (_, p) => {
      const s = this.#seen.get(partitionKey(p));
      return s && now - s.created < this.#opts.leaseMs ? s.value.owner : undefined;
    });
  }

  /**
   * Give one lease back now (its `lost` runs first, then the key goes), between rounds so it never
   * races a renewal; the partition is free to take again from the next round on, here or elsewhere.
   */
  giveBack(partition: number): Promise<void> {
    const done = this.#round.then(() => this.#release(partition, 'released'));
    this.#round = done.catch((err: unknown) => this.#log.warn({ err }, 'lease give-back failed'));
    return this.#round;
  }

  /** Give every lease back (each one's `lost` runs first, so its work stops before another takes it) and leave. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#round.catch(() => undefined);
    // Each partition's work stops (in parallel: they are independent), then its key goes.
    await Promise.all([...this.#held.keys()].map((p) => this.#release(p, 'stopped')));
    await atMost(this.#kv.delete(memberKey(this.id)), DELETE_AT_STOP_MS);
    this.#watch?.stop();
  }

  #free(): number[] {
    const owners = this.owners();
    return owners.flatMap((o, p) => (o === undefined && !this.#held.has(p) ? [p] : []));
  }

  async #take(p: number): Promise<void> {
    try {
      const revision = await this.#kv.create(partitionKey(p), encodeJson({ owner: this.id }));
      this.#held.set(p, { revision, fence: revision });
      this.#log.info({ partition: p, fence: revision }, 'lease acquired');
      this.#events.acquired(p, revision);
    } catch {
      // Somebody else was quicker, or the old lease has not expired on the server yet: next round.
    }
  }

  async #release(p: number, reason: 'released' | 'stopped'): Promise<void> {
    const held = this.#held.get(p);
    if (!held) return;
    this.#held.delete(p);
    // Work stops before the key goes, so the next owner never overlaps with us.
    await this.#events.lost(p, reason);
    const deleted = this.#kv.delete(partitionKey(p), { previousSeq: held.revision });
    // At a stop the key is a courtesy (it expires anyway): a NATS that does not answer must not hold the stop up.
    await (reason === 'stopped' ? atMost(deleted, DELETE_AT_STOP_MS) : deleted.catch(() => undefined));
    this.#log.info({ partition: p, reason }, 'lease given back');
  }
}

/** How long a stopping process waits for its lease keys to be deleted before leaving them to expire. */
const DELETE_AT_STOP_MS = 1_000;

/** Wait for `p` (whatever it settles to), but no longer than `ms`. */
async function atMost(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p.catch(() => undefined), new Promise((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

function shuffle<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** A partition's lease as stored: who holds it and how long ago it was last renewed. */
export type LeaseHolder = { owner: string; renewedMsAgo: number };

/**
 * Who holds each partition now, read straight from the bucket (for `parley partitions`, the bench
 * and tests); undefined where nobody does, or where the lease has lapsed but the server has not
 * yet removed it.
 */
export async function readLeaseHolders(kv: KV, partitions: number, leaseMs: number, now = Date.now()): Promise<(LeaseHolder | undefined)[]> {
  return Promise.all(
    Array.from({ length: partitions }, async (_, p) => {
      const e = await kv.get(partitionKey(p));
      if (!e || e.operation !== 'PUT') return undefined;
      const renewedMsAgo = now - e.created.getTime();
      if (renewedMsAgo >= leaseMs) return undefined;
      try {
        const owner = decodeJson<{ owner?: unknown }>(e.value).owner;
        return typeof owner === 'string' ? { owner, renewedMsAgo } : undefined;
      } catch {
        return undefined;
      }
    }),
  );
}
