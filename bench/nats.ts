/**
 * `npm run bench -- nats`: what each kind of JetStream operation Parley uses costs nats-server, in
 * CPU microseconds per message (read from /proc of the server listening on the NATS port), with
 * the client's own throughput beside it. The figures behind the pipeline's choices: ack policy
 * "all" with one ack per batch instead of an ack per event, coalesced KV writes, one socket write
 * per event-loop turn.
 */
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { AckPolicy, jetstream, jetstreamManager, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { JetStreamPublisher, type PublishOptions } from '../lib/js-publisher.js';
import { cpuTicks, findListener } from './lib/procstats.js';
import { fmtInt, intFlag, machineLine, median, UsageError, withUsage } from './scenario-lib/common.js';

export const help = `Usage: npm run bench -- nats [options]

nats-server CPU per JetStream operation, on a private stream per case (deleted at the end):

  write/plain            publish to a stream, await the ack (pipelined, ≤1000 in flight)
  write/msg-id           + Nats-Msg-Id (deduplication), as commands and inbox entries are written
  write/expected-seq     + Nats-Msg-Id + expected last subject sequence, one in flight per
                         subject over 1000 subjects, as the engine appends events
  write/kv-history-1     to a stream keeping one message per subject, as KV buckets (unread
                         counts, snapshots) do: each write also removes the previous revision
  consume/ack-explicit   pull consumer, one ack per message (the engine's command consumers)
  consume/ack-all-50     ack policy all, one ack per 50 messages (the projectors)
  consume/no-ack         ack policy none (the floor)
  writes/per-microtask   core publishes one await apart: nats.js writes to the socket each time
  writes/per-turn        the same with the socket corked until the next turn (lib/write-coalescing.ts)

CPU is read from /proc/<pid>/stat of the nats-server listening on the port of --nats (this machine
only); other work on the machine does not count, but competes: compare ratios, run --rounds > 1.

Options:
  --nats <url>        NATS server (default $PARLEY_NATS_URL or nats://127.0.0.1:4222)
  --messages <n>      messages per case (default 60000)
  --rounds <n>        rounds of all cases; the median per case is reported (default 3)
  --filter <text>     only the cases whose name contains this
  -h, --help          this help
`;

type Case = { name: string; run: (ctx: Ctx) => Promise<void> };
type Ctx = { nc: NatsConnection; jsm: JetStreamManager; publisher: JetStreamPublisher; stream: string; subject: string; n: number };

const body = Buffer.from(JSON.stringify({ type: 'message.new', payload: { text: 'x'.repeat(300) } }));

async function pipelined(ctx: Ctx, subjectOf: (i: number) => string, options: (i: number) => PublishOptions = () => ({})): Promise<void> {
  const inFlight: Promise<unknown>[] = [];
  for (let i = 0; i < ctx.n; i++) {
    inFlight.push(ctx.publisher.publish(subjectOf(i), body, options(i)));
    if (inFlight.length >= 1000) await Promise.all(inFlight.splice(0));
  }
  await Promise.all(inFlight);
}

async function fill(ctx: Ctx): Promise<void> {
  await pipelined(ctx, (i) => `${ctx.subject}.${i % 1000}`);
}

async function consume(ctx: Ctx, policy: AckPolicy, ackEvery: number): Promise<void> {
  await ctx.jsm.consumers.add(ctx.stream, { durable_name: 'bench', ack_policy: policy, max_ack_pending: 10_000 });
  const consumer = await jetstream(ctx.nc).consumers.get(ctx.stream, 'bench');
  const messages = await consumer.consume({ max_messages: 1024 });
  let n = 0;
  for await (const m of messages) {
    n++;
    if (policy !== AckPolicy.None && n % ackEvery === 0) m.ack();
    if (n >= ctx.n) break;
  }
}

async function coreWrites(ctx: Ctx, corked: boolean): Promise<void> {
  const { writeCoalescer } = await import('../lib/write-coalescing.js');
  const cork = writeCoalescer(ctx.nc);
  for (let i = 0; i < ctx.n; i++) {
    if (corked) cork();
    ctx.nc.publish(`${ctx.subject}.core`, body);
    await Promise.resolve();
    if (i % 500 === 499) await new Promise((r) => setImmediate(r));
  }
  await ctx.nc.flush();
}

/** `prepare` runs before the CPU is read (e.g. filling the stream a consumer will read). */
const cases: (Case & { prepare?: (ctx: Ctx) => Promise<void>; historyOne?: boolean })[] = [
  { name: 'write/plain', run: (ctx) => pipelined(ctx, (i) => `${ctx.subject}.${i % 1000}`) },
  { name: 'write/msg-id', run: (ctx) => pipelined(ctx, (i) => `${ctx.subject}.${i % 1000}`, (i) => ({ msgId: `m${i}` })) },
  {
    name: 'write/expected-seq',
    run: async (ctx) => {
      const last = new Map<number, number>();
      const perSubject = Math.ceil(ctx.n / 1000);
      await Promise.all(
        Array.from({ length: 1000 }, async (_, s) => {
          for (let k = 0; k < perSubject; k++) {
            const ack = await ctx.publisher.publish(`${ctx.subject}.${s}`, body, { msgId: `${s}/${k}`, expectedLastSubjectSequence: last.get(s) ?? 0 });
            last.set(s, ack.seq);
          }
        }),
      );
    },
  },
  { name: 'write/kv-history-1', historyOne: true, run: (ctx) => pipelined(ctx, (i) => `${ctx.subject}.${i % 2000}`) },
  { name: 'consume/ack-explicit', prepare: fill, run: (ctx) => consume(ctx, AckPolicy.Explicit, 1) },
  { name: 'consume/ack-all-50', prepare: fill, run: (ctx) => consume(ctx, AckPolicy.All, 50) },
  { name: 'consume/no-ack', prepare: fill, run: (ctx) => consume(ctx, AckPolicy.None, 1) },
  { name: 'writes/per-microtask', run: (ctx) => coreWrites(ctx, false) },
  { name: 'writes/per-turn', run: (ctx) => coreWrites(ctx, true) },
];

export async function run(argv: string[]): Promise<number> {
  return withUsage(help, async () => {
    const { values } = parseArgs({
      args: argv,
      options: { nats: { type: 'string' }, messages: { type: 'string' }, rounds: { type: 'string' }, filter: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
    if (values.help) {
      process.stdout.write(help);
      return 0;
    }
    const natsUrl = values.nats ?? process.env.PARLEY_NATS_URL ?? 'nats://127.0.0.1:4222';
    const n = intFlag(values, 'messages', 60_000, 1000);
    const rounds = intFlag(values, 'rounds', 3);
    const port = Number(new URL(natsUrl.replace(/^nats:/, 'http:')).port || 4222);
    const serverPid = findListener(port);
    if (serverPid === undefined) throw new UsageError(`no nats-server listening on port ${port} on this machine: its CPU cannot be read`);
    const selected = cases.filter((c) => !values.filter || c.name.includes(values.filter));
    const nc = await connect({ servers: natsUrl, noAsyncTraces: true });
    const jsm = await jetstreamManager(nc);
    const publisher = new JetStreamPublisher(nc);
    const tag = `BENCHNATS_${randomBytes(4).toString('hex').toUpperCase()}`;
    process.stdout.write(`${machineLine()}\nnats-server pid ${serverPid} on port ${port}; ${fmtInt(n)} messages per case, ${rounds} round(s)\n`);
    const results = new Map<string, { us: number[]; rate: number[] }>();
    try {
      for (let r = 0; r < rounds; r++) {
        for (const c of selected) {
          const stream = `${tag}_${c.name.replace(/\W/g, '_').toUpperCase()}`;
          const subject = `${tag.toLowerCase()}.${r}.${c.name.replace(/\W/g, '_')}`;
          await jsm.streams.add({ name: stream, subjects: [`${subject}.>`], storage: StorageType.File, ...(c.historyOne ? { max_msgs_per_subject: 1 } : {}) });
          const ctx: Ctx = { nc, jsm, publisher, stream, subject, n };
          try {
            await c.prepare?.(ctx);
            const ticks0 = cpuTicks(serverPid) ?? 0;
            const t0 = performance.now();
            await c.run(ctx);
            const seconds = (performance.now() - t0) / 1000;
            const us = (((cpuTicks(serverPid) ?? 0) - ticks0) / 100 / n) * 1e6;
            const entry = results.get(c.name) ?? { us: [], rate: [] };
            entry.us.push(us);
            entry.rate.push(n / seconds);
            results.set(c.name, entry);
          } finally {
            await jsm.streams.delete(stream).catch(() => undefined);
          }
        }
      }
    } finally {
      await publisher.close();
      await nc.close();
    }
    process.stdout.write(`\n${'case'.padEnd(24)}${'nats-server CPU'.padStart(18)}${'client rate'.padStart(16)}\n`);
    for (const [name, { us, rate }] of results) {
      process.stdout.write(`${name.padEnd(24)}${`${median(us).toFixed(1)} µs/msg`.padStart(18)}${`${fmtInt(median(rate))}/s`.padStart(16)}\n`);
    }
    return 0;
  });
}
