/**
 * `parley partitions [--json]`: which engine holds each command partition (lib/leases.ts) and
 * how many commands wait in it, undecided; which delivery (and push) projector holds each of their
 * partitions and how far behind the log it is.
 */
import { parseArgs } from 'node:util';
import type { ConsumerInfo, JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { loadConfig, type Config } from '../lib/config.js';
import { lagOf } from '../lib/durable-lag.js';
import { readLeaseHolders } from '../lib/leases.js';
import { createLogger } from '../lib/log.js';
import { makeNames, type Names } from '../lib/names.js';
import { connectNats, isNotFound, jetstreamManager } from '../lib/nats.js';
import type { Cli } from './main.js';

export const usage = `Usage: parley partitions [--json]

For each command partition (PARLEY_PARTITIONS): the engine holding its lease (none while it moves:
at most PARLEY_LEASE_MS after its engine died), how long ago the lease was renewed, and the commands
waiting in it that no engine has decided yet (pending + in flight). Engines share the partitions by
leases in the KV bucket <PREFIX>_LEASES_ENGINE; see README "Scale-out".

Then for each delivery partition (PARLEY_DELIVERY_PARTITIONS): the delivery projector holding it
(<PREFIX>_LEASES_DELIVERY) and its lag: the events of the log above its ack floor; the same for the
push projector's partitions (<PREFIX>_LEASES_PUSH) where push is on (PARLEY_PUSH).

Uses PARLEY_NATS_URL, PARLEY_PREFIX, PARLEY_PARTITIONS, PARLEY_DELIVERY_PARTITIONS and
PARLEY_LEASE_MS like the server.
`;

export type PartitionRow = { partition: number; owner: string | null; renewedMsAgo: number | null; undecided: number | null };
export type LogPartitionRow = { partition: number; owner: string | null; renewedMsAgo: number | null; ackFloor: number | null; lag: number | null };

export async function run(args: string[], _cli: Cli): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  const config = loadConfig(process.env);
  const log = createLogger({ level: process.env.PARLEY_LOG_LEVEL ?? 'warn', fd: 2 });
  const names = makeNames(config.prefix);
  const nc = await connectNats(config, 'parley-partitions', log);
  try {
    const jsm = await jetstreamManager(nc);
    const holders = await readLeaseHolders(await new Kvm(nc).open(names.buckets.engineLeases), config.partitions, config.engine.leaseMs);
    const rows: PartitionRow[] = await Promise.all(
      holders.map(async (h, p) => {
        const info = await jsm.consumers.info(names.commandStreams.partition(p), names.consumers.enginePartition(p)).catch((err: unknown) => {
          if (isNotFound(err)) return null;
          throw err;
        });
        return { partition: p, owner: h?.owner ?? null, renewedMsAgo: h?.renewedMsAgo ?? null, undecided: info ? info.num_pending + info.num_ack_pending : null };
      }),
    );
    const kvm = new Kvm(nc);
    const delivery = await logPartitionRows(jsm, names, config, await kvm.open(names.buckets.deliveryLeases), names.consumers.deliveryPartition);
    // The push projector's partitions, where push is on (PARLEY_PUSH): as many as delivery's.
    const push = config.push.enabled ? await logPartitionRows(jsm, names, config, await kvm.open(names.buckets.pushLeases), names.consumers.pushPartition) : undefined;
    if (values.json) process.stdout.write(`${JSON.stringify({ partitions: rows, delivery, ...(push ? { push } : {}) }, null, 2)}\n`);
    else {
      const ago = (ms: number | null) => (ms === null ? '-' : `${ms} ms ago`).padStart(14);
      const lines = rows.map((r) => `${String(r.partition).padStart(9)}  ${(r.owner ?? '(none)').padEnd(14)} ${ago(r.renewedMsAgo)}  ${r.undecided ?? '-'}`);
      const engines = new Set(rows.flatMap((r) => (r.owner ? [r.owner] : []))).size;
      process.stdout.write(`partition  engine         lease renewed  undecided\n${lines.join('\n')}\n${engines} engine(s) hold ${rows.filter((r) => r.owner).length} of ${rows.length} partitions\n\n`);
      for (const [kind, table] of [['delivery', delivery], ['push', push]] as const) {
        if (!table) continue;
        const tlines = table.map((r) => `${String(r.partition).padStart(9)}  ${(r.owner ?? '(none)').padEnd(14)} ${ago(r.renewedMsAgo)}  ${r.lag ?? '-'}`);
        const projectors = new Set(table.flatMap((r) => (r.owner ? [r.owner] : []))).size;
        process.stdout.write(
          `${kind.padEnd(9)}  projector      lease renewed  lag (events)\n${tlines.join('\n')}\n${projectors} ${kind} projector(s) hold ${table.filter((r) => r.owner).length} of ${table.length} partitions\n`,
        );
      }
    }
    return 0;
  } finally {
    await nc.close();
  }
}

/** A log projector's partitions (delivery, push): who holds each, and how far behind the log its durable is. */
async function logPartitionRows(jsm: JetStreamManager, names: Names, config: Config, kv: KV, durableOf: (p: number, of: number) => string): Promise<LogPartitionRow[]> {
  const of = config.delivery.partitions;
  const [holders, log] = await Promise.all([readLeaseHolders(kv, of, config.engine.leaseMs), jsm.streams.info(names.streams.events)]);
  const durables: ConsumerInfo[] = [];
  for await (const c of jsm.consumers.list(names.streams.events)) durables.push(c);
  return holders.map((h, p) => {
    const info = durables.find((c) => c.name === durableOf(p, of)) ?? null;
    return { partition: p, owner: h?.owner ?? null, renewedMsAgo: h?.renewedMsAgo ?? null, ...lagOf(info, log.state.last_seq) };
  });
}
