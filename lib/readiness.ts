/**
 * Readiness (GET /ready): whether this process should be given work now. Liveness (/health) says
 * the process works; readiness says what it depends on works too. The decision is a pure function
 * of what was observed (decideReadiness), so that it is tested without a system; app/readiness.ts
 * observes.
 */

/** One thing readiness depends on; `detail` says why it is not ok (or what state it is in). */
export type ReadinessCheck = { name: string; ok: boolean; detail?: string };

export type Readiness = { ready: boolean; checks: ReadinessCheck[] };

/** See Config.ready (PARLEY_READY_MAX_LAG_EVENTS, PARLEY_READY_MAX_LAG_MS). */
export type ReadinessBounds = { maxLagEvents: number; maxLagMs: number };

/**
 * Where one projector partition (or a singleton projector) stands: events behind the log (null:
 * no durable yet), and how long it has been behind without its position moving.
 */
export type ProjectorPosition = { projector: string; partition?: number; lag: number | null; stalledMs: number };

export type ReadinessInputs = {
  /** The process is stopping (or the gateway draining): it takes no new work. */
  stopping: boolean;
  /** Each NATS connection the process depends on, and whether it is connected and reading. */
  nats: { name: string; up: boolean }[];
  /** The read-model database, where the role uses one: its last `SELECT 1`. */
  postgres?: { ok: boolean; detail?: string };
  /**
   * The projectors the process runs: positions of those working here, names of those standing by
   * (another process holds their lease: a healthy spare), or why positions could not be read.
   */
  projectors?: { positions: ProjectorPosition[]; standby: string[]; error?: string };
};

/**
 * Stuck: more than `maxLagEvents` behind AND unmoved for `maxLagMs`. Far behind but moving (a
 * catch-up after a restart) is ready; a small lag is the ordinary state of a busy projector.
 */
export function isStuck(p: ProjectorPosition, bounds: ReadinessBounds): boolean {
  return p.lag !== null && p.lag > bounds.maxLagEvents && p.stalledMs >= bounds.maxLagMs;
}

export function decideReadiness(inputs: ReadinessInputs, bounds: ReadinessBounds): Readiness {
  const checks: ReadinessCheck[] = [
    inputs.stopping ? { name: 'draining', ok: false, detail: 'stopping: takes no new work' } : { name: 'draining', ok: true },
    ...inputs.nats.map((n) => (n.up ? { name: n.name, ok: true } : { name: n.name, ok: false, detail: 'disconnected or not reading' })),
  ];
  if (inputs.postgres) checks.push({ name: 'postgres', ...inputs.postgres });
  if (inputs.projectors) checks.push(...projectorChecks(inputs.projectors, bounds));
  return { ready: checks.every((c) => c.ok), checks };
}

/** One check per projector: its stuck partitions named in the detail (bounded: partitions are a configured few). */
function projectorChecks(p: NonNullable<ReadinessInputs['projectors']>, bounds: ReadinessBounds): ReadinessCheck[] {
  const checks: ReadinessCheck[] = p.standby.map((name) => ({ name, ok: true, detail: 'standby' }));
  if (p.error !== undefined) return [...checks, { name: 'projectors', ok: false, detail: `cannot read their positions: ${p.error}` }];
  const byProjector = new Map<string, ProjectorPosition[]>();
  for (const pos of p.positions) byProjector.set(pos.projector, [...(byProjector.get(pos.projector) ?? []), pos]);
  for (const [name, positions] of byProjector) {
    const stuck = positions.filter((pos) => isStuck(pos, bounds));
    const where = (pos: ProjectorPosition) => (pos.partition === undefined ? '' : `partition ${pos.partition}: `);
    checks.push(
      stuck.length === 0
        ? { name, ok: true }
        : {
            name,
            ok: false,
            detail: stuck.map((pos) => `${where(pos)}${pos.lag} events behind, unmoved for ${Math.round(pos.stalledMs / 1000)} s`).join('; '),
          },
    );
  }
  return checks;
}

/**
 * How long each projector position has been behind without moving. A position that advanced, or
 * was caught up (lag 0), starts its stall afresh: an idle projector that gets a burst is not
 * stalled since it went idle. Positions no longer seen (a partition that moved away) are forgotten.
 */
export class StallClock {
  readonly #seen = new Map<string, { ackFloor: number; since: number }>();

  /** Records what was read at `now`; returns each position's stall in ms (0 for an unknown one). */
  observe(read: { key: string; ackFloor: number | null; lag: number | null }[], now: number): number[] {
    const keys = new Set(read.map((r) => r.key));
    for (const key of this.#seen.keys()) if (!keys.has(key)) this.#seen.delete(key);
    return read.map(({ key, ackFloor, lag }) => {
      if (ackFloor === null || lag === null) {
        this.#seen.delete(key);
        return 0;
      }
      const before = this.#seen.get(key);
      if (!before || before.ackFloor !== ackFloor || lag === 0) {
        this.#seen.set(key, { ackFloor, since: now });
        return 0;
      }
      return now - before.since;
    });
  }
}
