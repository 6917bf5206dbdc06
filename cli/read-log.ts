import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { loadConfig, type Config } from '../lib/config.js';
import { makeNames, type Names } from '../lib/names.js';
import { connectNats, isNotFound, type NatsConnection } from '../lib/nats.js';
import { cliLogger, type CliIo } from './io.js';

/**
 * Reading the event log from the command line (`parley export`, `parley replay`): connecting to it
 * with the server's configuration, and an ordered consumer over the events stream (optionally
 * filtered to one subject) between two log sequences.
 */

export type OpenLog = { config: Config; names: Names; nc: NatsConnection; jsm: JetStreamManager; close(): Promise<void> };

/**
 * Connect with the server's configuration (PARLEY_NATS_URL, PARLEY_PREFIX) and check the events
 * stream exists. On failure, print why and return the exit code (1) instead.
 */
export async function openLog(io: CliIo, command: string): Promise<OpenLog | number> {
  let config: Config;
  let names: Names;
  try {
    config = loadConfig(io.env);
    names = makeNames(config.prefix);
  } catch (err) {
    io.stderr.write(`parley ${command}: ${(err as Error).message}\n`);
    return 1;
  }
  let nc: NatsConnection;
  try {
    nc = await connectNats(config, `parley-${command}`, cliLogger(io));
  } catch (err) {
    io.stderr.write(`parley ${command}: cannot connect to NATS at ${config.natsUrl.join(',')}: ${(err as Error).message}\n`);
    return 1;
  }
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.info(names.streams.events);
  } catch (err) {
    await nc.close();
    const missing = isNotFound(err);
    io.stderr.write(
      missing
        ? `parley ${command}: no event log: stream ${names.streams.events} does not exist (PARLEY_PREFIX=${config.prefix}, NATS ${config.natsUrl.join(',')})\n`
        : `parley ${command}: cannot read stream ${names.streams.events}: ${(err as Error).message}\n`,
    );
    return 1;
  }
  return { config, names, nc, jsm, close: () => nc.close() };
}

/** One stored event as read from the log. `pending`: how many more match the filter right now. */
export type LogEntry = { seq: number; subject: string; timeNs: bigint; data: Uint8Array; pending: number };

/**
 * The messages on `filter` with startSeq ≤ seq ≤ endSeq, in log order, through an ordered
 * (ephemeral, flow-controlled) consumer. Stops at endSeq or when nothing more is stored, so it
 * never waits for events that have not been written yet.
 */
export async function* readLog(
  nc: NatsConnection,
  opts: { stream: string; filter: string; startSeq: number; endSeq: number; batch?: number },
): AsyncGenerator<LogEntry> {
  if (opts.startSeq > opts.endSeq) return;
  const jsm = await jetstreamManager(nc);
  // Only start a consumer when the range holds something: an empty one would wait for new events.
  const first = await jsm.direct.getMessage(opts.stream, { seq: Math.max(1, opts.startSeq), next_by_subj: opts.filter });
  if (!first || first.seq > opts.endSeq) return;
  const consumer = await jetstream(nc).consumers.get(opts.stream, { filter_subjects: opts.filter, opt_start_seq: first.seq });
  // Bounded by bytes as well as count: events can be up to the max payload each.
  const messages = await consumer.consume(opts.batch ? { max_messages: opts.batch } : { max_bytes: 8 * 1024 * 1024 });
  try {
    for await (const m of messages) {
      if (m.seq > opts.endSeq) break;
      yield { seq: m.seq, subject: m.subject, timeNs: m.timestampNanos, data: m.data, pending: m.info.pending };
      if (m.seq >= opts.endSeq || m.info.pending === 0) break;
    }
  } finally {
    messages.stop();
  }
}
