/** `parley projections status|rebuild`: where each projector is in the log; rebuild the read models. */
import { parseArgs } from 'node:util';
import { loadConfig } from '../lib/config.js';
import { createLogger } from '../lib/log.js';
import { makeNames } from '../lib/names.js';
import { connectNats, type NatsConnection } from '../lib/nats.js';
import { openDatabase, type Database } from '../lib/pg.js';
import { projectorStatus, rebuildReadModels } from '../projections/postgres/rebuild.js';
import type { Cli } from './main.js';

export const usage = `Usage: parley projections status [--json]
       parley projections rebuild [--name postgres]

status   Each projector's position in the event log: ack floor, pending, lag in events, and the
         checkpoint stored with the Postgres read models.
rebuild  Replays the whole log into a fresh schema (<PARLEY_PG_SCHEMA>_rebuild), then swaps it in
         atomically: a running gateway keeps serving the old tables until the swap, and the live
         projector continues after it without applying anything twice. Prints progress and events/s.
         With the embedded database (no DATABASE_URL) stop Parley first: PGlite is one process.

Uses PARLEY_NATS_URL, PARLEY_PREFIX, DATABASE_URL and PARLEY_PG_SCHEMA like the server.
`;

export async function run(args: string[], cli: Cli): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { name: { type: 'string', default: 'postgres' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  const action = positionals[0];
  if (action !== 'status' && action !== 'rebuild') cli.usageError('say status or rebuild');
  if (values.name !== 'postgres') cli.usageError(`only the postgres read models are rebuilt (the inboxes are not a read model): --name ${values.name}`);

  const config = loadConfig(process.env);
  // Logs to stderr: stdout is the command's output.
  const log = createLogger({ level: process.env.PARLEY_LOG_LEVEL ?? 'warn', fd: 2 });
  const names = makeNames(config.prefix);
  let nc: NatsConnection | undefined;
  let db: Database | undefined;
  try {
    nc = await connectNats(config, 'parley-projections', log);
    db = await openDatabase(config, log).catch((err: unknown) => {
      if (action === 'rebuild') throw err;
      process.stderr.write(`read models unavailable (${(err as Error).message}); showing the log side only\n`);
      return undefined;
    });
    if (action === 'status') {
      const status = await projectorStatus({ nc, names, config, ...(db ? { db } : {}) });
      if (values.json) {
        process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
        return 0;
      }
      process.stdout.write(`log ${status.stream}: last seq ${status.lastSeq}, ${status.messages} events\n`);
      for (const p of status.projectors) {
        const checkpoint = p.checkpoint === undefined ? '' : `  checkpoint ${p.checkpoint ?? 'none'}`;
        process.stdout.write(
          `${p.name.padEnd(9)} ${p.exists ? '' : '(no consumer yet) '}ack floor ${p.ackFloor}  pending ${p.pending}  in flight ${p.ackPending}  lag ${p.lag}${checkpoint}\n`,
        );
      }
      return 0;
    }
    const started = Date.now();
    const tty = process.stderr.isTTY;
    const result = await rebuildReadModels({
      nc,
      config,
      names,
      log,
      db: db!,
      onProgress: (done, total, rate) => {
        const line = `rebuild: ${done}/${total} events, ${Math.round(rate)} events/s`;
        process.stderr.write(tty ? `\r${line}` : `${line}\n`);
      },
    });
    if (tty) process.stderr.write('\n');
    process.stdout.write(
      `rebuilt ${config.postgres.schema} from ${result.events} events in ${result.seconds.toFixed(2)} s (${Math.round(result.eventsPerSec)} events/s; ${((Date.now() - started) / 1000).toFixed(2)} s in all)\n`,
    );
    return 0;
  } finally {
    await db?.close();
    await nc?.close();
  }
}
