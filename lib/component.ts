/**
 * What every started component (engine, projectors, mirror, gateway) gives back: its own account of
 * itself (counters for /health, logs and tests; cheap, no I/O) and a way to stop it that drains,
 * flushes, acks and closes before it resolves. app/lifecycle.ts starts and stops them all the same way.
 */
export type Component<Stats> = {
  stats(): Stats;
  stop(): Promise<void>;
};
