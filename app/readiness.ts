import { jetstreamManager } from '../lib/nats.js';
import type { Config } from '../lib/config.js';
import { cachedProbe } from '../lib/cached-probe.js';
import { durableLags } from '../lib/durable-lag.js';
import { decideReadiness, StallClock, type ProjectorPosition, type Readiness, type ReadinessInputs } from '../lib/readiness.js';
import type { Running } from './roles.js';

export type { Readiness, ReadinessCheck } from '../lib/readiness.js';

/** A probe's answer is kept this long: a scrape storm costs Postgres and JetStream one probe a second. */
const PROBE_TTL_MS = 1_000;
/** A probe slower than this answers "timed out" (it goes on; no second one starts meanwhile). */
const PROBE_TIMEOUT_MS = 1_000;

/**
 * Readiness of a process, over what its role runs (app/roles.ts): not stopping (nor the gateway
 * draining); its NATS connections up (and the gateway's command connection); its read-model
 * database answering `SELECT 1` where it has one; its projectors not stuck (lib/readiness.ts:
 * far behind the log and not moving). Leased singletons standing by are ready: healthy spares.
 * For GET /ready on the gateway port, and on the ops port of the other roles (app/ops-server.ts).
 */
export function readinessOf(running: Running, config: Config, opts: { now?: () => number } = {}): () => Promise<Readiness> {
  const now = opts.now ?? Date.now;
  const { db, names } = running;
  const postgres = db
    ? cachedProbe<{ ok: boolean; detail?: string }>(async () => (await db.pool.query('SELECT 1'), { ok: true }), {
        ttlMs: PROBE_TTL_MS,
        timeoutMs: PROBE_TIMEOUT_MS,
        timedOut: () => ({ ok: false, detail: `no answer to SELECT 1 within ${PROBE_TIMEOUT_MS} ms` }),
        failed: (err) => ({ ok: false, detail: `SELECT 1 failed: ${messageOf(err)}` }),
        now,
      })
    : undefined;

  const stalls = new StallClock();
  /** The projectors working here and their durables on the event log; the leased ones standing by. */
  const projectors = (): { working: Working[]; standby: string[] } => {
    const of = config.delivery.partitions;
    const working: Working[] = [
      ...(running.delivery?.stats().partitions ?? []).map((p) => ({ projector: 'delivery', partition: p, durable: names.consumers.deliveryPartition(p, of) })),
      ...(running.push?.stats().partitions ?? []).map((p) => ({ projector: 'push', partition: p, durable: names.consumers.pushPartition(p, of) })),
    ];
    const standby: string[] = [];
    const pg = running.postgres?.stats().state;
    if (pg === 'active') working.push({ projector: 'postgres-projector', durable: names.consumers.postgres });
    else if (pg !== undefined) standby.push('postgres-projector');
    return { working, standby };
  };
  const positions = cachedProbe<{ positions: ProjectorPosition[] } | { error: string }>(
    async () => {
      const { working } = projectors();
      if (working.length === 0) return { positions: [] };
      const { lags } = await durableLags(await jetstreamManager(running.nc), names.streams.events, working.map((w) => w.durable));
      const stalled = stalls.observe(
        lags.map((l) => ({ key: l.durable, ackFloor: l.ackFloor, lag: l.lag })),
        now(),
      );
      return {
        positions: working.map((w, i) => ({
          projector: w.projector,
          ...(w.partition !== undefined ? { partition: w.partition } : {}),
          lag: lags[i]!.lag,
          stalledMs: stalled[i]!,
        })),
      };
    },
    {
      ttlMs: PROBE_TTL_MS,
      timeoutMs: PROBE_TIMEOUT_MS,
      timedOut: () => ({ error: `no answer from JetStream within ${PROBE_TIMEOUT_MS} ms` }),
      failed: (err) => ({ error: messageOf(err) }),
      now,
    },
  );
  const runsProjectors = Boolean(running.delivery || running.push || running.postgres);

  return async () => {
    const gateway = running.gateway?.stats();
    const [pg, read] = await Promise.all([postgres?.(), runsProjectors ? positions() : undefined]);
    const inputs: ReadinessInputs = {
      stopping: running.stopping || gateway?.status === 'draining',
      nats: gateway
        ? [
            { name: 'nats', up: gateway.nats.connected },
            { name: 'nats-commands', up: gateway.nats.commands.connected },
          ]
        : [{ name: 'nats', up: running.natsUp?.up ?? false }],
      ...(pg ? { postgres: pg } : {}),
      ...(read ? { projectors: { standby: projectors().standby, ...('error' in read ? { positions: [], error: read.error } : read) } } : {}),
    };
    return decideReadiness(inputs, config.ready);
  };
}

/** A projector working in this process (a partition of it, for the partitioned ones) and its durable on the event log. */
type Working = { projector: string; partition?: number; durable: string };

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
