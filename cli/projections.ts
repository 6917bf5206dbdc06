/**
 * `parley projections status|rebuild|retry-parked`: where each projector is in the log (and which
 * events the Postgres projector parked); rebuild the read models; apply parked events again.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../lib/config.js';
import { createLogger } from '../lib/log.js';
import { makeNames } from '../lib/names.js';
import { connectNats, jetstreamManager, type NatsConnection } from '../lib/nats.js';
import { openDatabase, type Database } from '../lib/pg.js';
import { StreamReader } from '../lib/stream-reader.js';
import type { ParkedEvent } from '../projections/postgres/park.js';
import { projectorStatus, rebuildReadModels } from '../projections/postgres/rebuild.js';
import { retryParked } from '../projections/postgres/retry-parked.js';
import type { Cli } from './main.js';

export const usage = `Usage: parley projections status [--json]
       parley projections rebuild [--name postgres]
       parley projections retry-parked [--seq N] [--json]

status        Each projector's position in the event log: ack floor, pending, lag in events (one row
              per delivery partition, with the projector holding it), the checkpoint stored with the
              Postgres read models, and the parked events.
rebuild       Replays the whole log into a fresh schema (<PARLEY_PG_SCHEMA>_rebuild), then swaps it in
              atomically: a running gateway keeps serving the old tables until the swap, and the live
              projector continues after it without applying anything twice. Prints progress and
              events/s. Parked events are replayed too; only those that still fail stay parked.
              With the embedded database (no DATABASE_URL) stop Parley first: PGlite is one process.
retry-parked  Applies parked events again (all, or the one at log seq N), in log order, on top of the
              read models as they are: one that applies leaves the list, one that fails again stays
              with the new error. Exit code 1 if any still fails. With the embedded database stop
              Parley first, as for rebuild.

Parked events: events Postgres refused to store (a value beyond a column's type or range, a broken
constraint). The projector sets such an event aside so that the ones after it are applied; its
effects (a message, a receipt, a join) are MISSING from the read models until it is retried or the
read models are rebuilt.

Uses PARLEY_NATS_URL, PARLEY_PREFIX, DATABASE_URL and PARLEY_PG_SCHEMA like the server.
`;

export async function run(args: string[], cli: Cli): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      name: { type: 'string', default: 'postgres' },
      json: { type: 'boolean', default: false },
      seq: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  const action = positionals[0];
  if (action !== 'status' && action !== 'rebuild' && action !== 'retry-parked') cli.usageError('say status, rebuild or retry-parked');
  if (values.name !== 'postgres') cli.usageError(`only the postgres read models are rebuilt (the inboxes are not a read model): --name ${values.name}`);
  if (values.seq !== undefined && action !== 'retry-parked') cli.usageError('--seq goes with retry-parked');
  const seq = values.seq === undefined ? undefined : Number(values.seq);
  if (seq !== undefined && !(Number.isSafeInteger(seq) && seq > 0)) cli.usageError(`--seq must be a log sequence (a positive integer), got ${values.seq}`);

  const config = loadConfig(process.env);
  // Logs to stderr: stdout is the command's output.
  const log = createLogger({ level: process.env.PARLEY_LOG_LEVEL ?? 'warn', fd: 2 });
  const names = makeNames(config.prefix);
  let nc: NatsConnection | undefined;
  let db: Database | undefined;
  try {
    nc = await connectNats(config, 'parley-projections', log);
    db = await openDatabase(config, log).catch((err: unknown) => {
      if (action !== 'status') throw err;
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
        const name = p.partition === undefined ? p.name : `${p.name} p${p.partition}`;
        const owner = p.owner === undefined ? '' : `  held by ${p.owner ?? '(nobody)'}`;
        process.stdout.write(
          `${name.padEnd(12)} ${p.exists ? '' : '(no consumer yet) '}ack floor ${p.ackFloor}  pending ${p.pending}  in flight ${p.ackPending}  lag ${p.lag}${checkpoint}${owner}\n`,
        );
        if (p.parked && p.parked.length > 0) {
          process.stdout.write(`${' '.repeat(13)}${p.parked.length} parked (refused by Postgres, effects missing from the read models; retry-parked applies them again):\n`);
          for (const e of p.parked) process.stdout.write(`${' '.repeat(15)}${describeParked(e)}\n`);
        }
      }
      return 0;
    }
    if (action === 'retry-parked') {
      const reader = new StreamReader(await jetstreamManager(nc), names.streams.events);
      const outcomes = await retryParked({ pool: db!.pool, schema: config.postgres.schema, names, reader, log, ...(seq !== undefined ? { seq } : {}) });
      if (values.json) process.stdout.write(`${JSON.stringify(outcomes, null, 2)}\n`);
      else if (outcomes.length === 0) process.stdout.write(seq === undefined ? 'no parked events\n' : `no parked event at log seq ${seq}\n`);
      else {
        for (const o of outcomes) {
          const why = o.outcome === 'applied' ? '' : `: ${o.errorCode ? `${o.errorCode} ` : ''}${o.error ?? ''}`;
          process.stdout.write(`seq ${o.seq} ${o.eventType}: ${o.outcome}${why}\n`);
        }
        const count = (outcome: string) => outcomes.filter((o) => o.outcome === outcome).length;
        process.stdout.write(`${count('applied')} applied, ${count('failed')} still parked, ${count('dropped')} dropped\n`);
      }
      if (seq !== undefined && outcomes.length === 0) return 1;
      return outcomes.some((o) => o.outcome === 'failed') ? 1 : 0;
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
    if (result.parked > 0) process.stdout.write(`${result.parked} events refused by Postgres are parked: see parley projections status\n`);
    return 0;
  } finally {
    await db?.close();
    await nc?.close();
  }
}

/** One line of a parked event: where it is in the log, what it is, what Postgres said, since when. */
function describeParked(e: ParkedEvent): string {
  const retried = e.retries > 0 ? `, retried ${e.retries}× (last ${e.retriedAt})` : '';
  return `seq ${e.seq}  ${e.eventType}  ${e.subject}  ${e.errorCode} ${e.error}  (parked ${e.parkedAt}${retried})`;
}
