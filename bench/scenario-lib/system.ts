/**
 * The system under test as the connections, storm and flood scenarios start it (the launcher is
 * bench/lib/system.ts, shared with load): a prefix naming the scenario, and settings from the
 * environment, as these scenarios have no flags for them. PARLEY_BENCH_DATABASE_URL chooses the
 * read models (a URL, or `embedded` for PGlite; see `chooseDatabase`), PARLEY_BENCH_NODE_ARGS adds
 * node flags to the roles (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"), PARLEY_BENCH_KEEP_LOGS
 * keeps their log, and PARLEY_UWS_BUILDS (e.g. `emulation`) reaches the gateway. Ctrl-C or a kill of the bench still
 * stops the roles and deletes the streams.
 */
import { randomBytes } from 'node:crypto';
import { SystemUnderTest, type SystemOptions } from '../lib/system.js';

export async function startScenarioSystem(kind: string, env: Record<string, string> = {}, more: Pick<SystemOptions, 'raiseFrameLimits'> = {}): Promise<SystemUnderTest> {
  const system = await SystemUnderTest.create({
    prefix: `b${kind}_${randomBytes(4).toString('hex')}`,
    ...(process.env.PARLEY_BENCH_DATABASE_URL ? { databaseUrl: process.env.PARLEY_BENCH_DATABASE_URL } : {}),
    env,
    nodeArgs: (process.env.PARLEY_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean),
    keepDir: Boolean(process.env.PARLEY_BENCH_KEEP_LOGS),
    ...more,
  });
  process.stdout.write(`read models: ${system.databaseDescription}\n`);
  return system.exitOnSignal();
}

/** Stop the system; what did not go as planned goes to stderr. */
export async function tearDown(system: SystemUnderTest): Promise<void> {
  for (const note of await system.stop()) process.stderr.write(`${note}\n`);
}
