import type { KV } from '@nats-io/kv';
import type { Component } from './component.js';
import { PartitionLeases } from './leases.js';
import type { Logger } from './log.js';

/**
 * A component that must run in one process at a time (the postgres projector, the push sender, the
 * webhook dispatcher, the EventStoreDB mirror), run under one lease so that any number of processes
 * may carry it: the holder runs it, the others stand by and take over when the lease goes, within
 * the lease time (PARLEY_LEASE_MS) of a killed holder, at their next round (a third of it) after a
 * graceful stop. It is lib/leases.ts with one partition.
 *
 * What a holder that lost its lease without knowing (cut off from NATS) can still do in the lease
 * time is the inner component's business, as before when two processes ran it: the postgres
 * projector is fenced by its advisory lock and checkpoint, the consumers the others make afresh at
 * start delete the stale holder's.
 */
export type SingletonStats<S> =
  /** Another process holds the lease; this one takes over when it goes. */
  | { state: 'standby' }
  /** The lease is ours, the component is starting. */
  | { state: 'starting' }
  | { state: 'active'; inner: S };

export type LeasedSingleton<S> = Component<SingletonStats<S>> & {
  /** The component while it runs here (undefined while standing by or starting). */
  readonly active: Component<S> | undefined;
  /** This process's id in the lease bucket. */
  readonly id: string;
};

type Run<S> = { started: Promise<Component<S> | undefined>; component?: Component<S> };

/**
 * Join the lease bucket `kv` (TTL = leaseMs) and run `start` whenever this process holds the lease.
 * If the lease is taken at once (no other holder), this waits for the start, and a start that fails
 * fails this too (the lease is given back first): a lone process comes up ready, or does not come up,
 * as when it ran the component directly. A standby resolves at once.
 */
export async function startLeasedSingleton<S>(opts: {
  kv: KV;
  leaseMs: number;
  /** What runs, for the logs. */
  name: string;
  log: Logger;
  start: () => Promise<Component<S>>;
}): Promise<LeasedSingleton<S>> {
  const log = opts.log.child({ singleton: opts.name });
  let run: Run<S> | undefined;
  let firstRound = true;
  let firstFailed = false;
  let firstError: unknown;

  const acquired = (): void => {
    const r: Run<S> = { started: Promise.resolve(undefined) };
    r.started = opts.start().then(
      (component) => {
        r.component = component;
        log.info({ leaseId: leases.id }, `${opts.name}: active (this process holds the lease)`);
        return component;
      },
      (err: unknown) => {
        if (firstRound) {
          firstFailed = true;
          firstError = err;
          return undefined;
        }
        // Give the lease back rather than retry while holding it: a standby whose start may work
        // (its own Postgres pool, its own connection) takes over at its next round, and alone we take
        // it again at ours, so a retry comes every third of the lease time, no faster.
        log.error({ err }, `${opts.name}: could not start, giving the lease back`);
        if (run === r) void leases.giveBack(0);
        return undefined;
      },
    );
    run = r;
  };

  /** Lost (expired, taken, given back, or stopping): the start finishes first, then the component stops. */
  const lost = async (_p: number, reason: string): Promise<void> => {
    const r = run;
    run = undefined;
    if (!r) return;
    const component = await r.started;
    if (!component) return;
    log.info({ reason }, `${opts.name}: lease gone, stopping`);
    // A stop that fails must not keep the lease held: the next holder's start takes over what is left.
    await component.stop().catch((err: unknown) => log.error({ err }, `${opts.name}: stop failed`));
  };

  const leases = new PartitionLeases(opts.kv, { partitions: 1, leaseMs: opts.leaseMs }, { acquired, lost }, log);
  await leases.start();
  await run?.started;
  firstRound = false;
  if (firstFailed) {
    await leases.stop();
    throw firstError;
  }
  if (!run) log.info({ leaseId: leases.id }, `${opts.name}: standing by (another process holds the lease)`);

  return {
    id: leases.id,
    get active() {
      return run?.component;
    },
    stats(): SingletonStats<S> {
      if (!run) return { state: 'standby' };
      return run.component ? { state: 'active', inner: run.component.stats() } : { state: 'starting' };
    },
    // The leases stop the component first (lost), then delete the key: a standby takes over at its next round.
    stop: () => leases.stop(),
  };
}

/**
 * A component that needs no lease, in a singleton's clothes: the postgres projector on an embedded
 * PGlite, whose database belongs to this process alone (its lock file keeps any other out), so its
 * projector must run here whoever else runs one on their own database.
 */
export function withoutLease<S>(component: Component<S>): LeasedSingleton<S> {
  return {
    id: 'unleased',
    active: component,
    stats: () => ({ state: 'active', inner: component.stats() }),
    stop: () => component.stop(),
  };
}
