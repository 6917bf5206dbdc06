/**
 * The pipeline as JetStream sees it, once per interval: how fast each stage appends (commands
 * stored, events appended, inbox entries written) and how much each consumer has not finished
 * (pending + unacknowledged): the engines on <PREFIX>_CMD_<partition>, the delivery and postgres projectors on
 * <PREFIX>_EVENTS. The stage whose backlog grows is the one that cannot keep up. Read-only.
 */
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { makeNames } from '../../lib/names.js';
import { commandStreamInfos } from '../../lib/nats.js';

export type BacklogSample = {
  t: number;
  /** Appends per second since the previous sample. */
  commandsPerSec: number;
  eventsPerSec: number;
  inboxPerSec: number;
  /** Not yet finished (pending + ack pending), per consumer group. */
  engine: number;
  delivery: number;
  postgres: number;
  /** Other consumers of the events stream, by name. */
  others: Record<string, number>;
};

export class BacklogSampler {
  readonly samples: BacklogSample[] = [];
  #nc?: NatsConnection;
  #jsm?: JetStreamManager;
  #timer: NodeJS.Timeout | undefined;
  #last?: { at: number; cmd: number; ev: number; inbox: number };
  #busy = false;
  error?: string;

  constructor(
    readonly natsUrl: string,
    readonly prefix: string,
    readonly intervalMs = 1000,
    readonly origin = performance.now(),
  ) {}

  async start(): Promise<void> {
    try {
      this.#nc = await connect({ servers: this.natsUrl.split(','), name: 'parley-bench-backlog' });
      this.#jsm = await jetstreamManager(this.#nc);
    } catch (err) {
      this.error = (err as Error).message;
      return;
    }
    await this.#sample();
    this.#timer = setInterval(() => void this.#sample(), this.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#nc?.close().catch(() => undefined);
  }

  async #sample(): Promise<void> {
    if (this.#busy || !this.#jsm) return;
    this.#busy = true;
    try {
      const names = makeNames(this.prefix);
      const jsm = this.#jsm;
      const lastSeq = async (stream: string) => (await jsm.streams.info(stream)).state.last_seq;
      const [commandStreams, ev, inbox] = await Promise.all([commandStreamInfos(jsm, names), lastSeq(names.streams.events), lastSeq(names.streams.inbox)]);
      const cmd = commandStreams.reduce((n, s) => n + s.state.last_seq, 0);
      let engine = 0;
      for (const s of commandStreams) for await (const c of jsm.consumers.list(s.config.name)) engine += c.num_pending + c.num_ack_pending;
      let delivery = 0;
      let postgres = 0;
      const others: Record<string, number> = {};
      for await (const c of jsm.consumers.list(names.streams.events)) {
        const n = c.num_pending + c.num_ack_pending;
        // Every delivery partition reads every event: the one furthest behind is the delivery backlog.
        if (names.consumers.isDelivery(c.name)) delivery = Math.max(delivery, n);
        else if (c.name === names.consumers.postgres) postgres = n;
        else others[c.name] = n;
      }
      const at = performance.now();
      const prev = this.#last;
      this.#last = { at, cmd, ev, inbox };
      if (prev) {
        const dt = (at - prev.at) / 1000;
        this.samples.push({
          t: (at - this.origin) / 1000,
          commandsPerSec: (cmd - prev.cmd) / dt,
          eventsPerSec: (ev - prev.ev) / dt,
          inboxPerSec: (inbox - prev.inbox) / dt,
          engine,
          delivery,
          postgres,
          others,
        });
      }
    } catch (err) {
      this.error ??= (err as Error).message;
    } finally {
      this.#busy = false;
    }
  }
}
