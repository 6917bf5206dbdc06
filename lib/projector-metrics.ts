/**
 * What every projector of the event log shows (README "Metrics"): how far behind it is, in events
 * and in seconds, and the events it projected. Lag is what JetStream says with every message
 * (`info.pending`: messages still on the server for that consumer after this one;
 * `info.timestampNanos`: when this one was stored), remembered per consumer as messages are taken:
 * nothing is asked of the server at scrape time. Here, not under projections/, because
 * lib/leased-log-partitions.ts runs the delivery and push projectors' consumers.
 */
import type { JsMsg } from '@nats-io/jetstream';
import { BoundCounter, counter, gaugeFrom, Sources } from './metrics.js';

export const projectorNames = ['delivery', 'postgres', 'push'] as const;
export type ProjectorName = (typeof projectorNames)[number];

/** Where one consumer (a partition's, or the postgres projector's) stands. */
export class ConsumerLag {
  readonly projector: ProjectorName;
  pending = 0;
  /** When the last message taken was stored (ms since the epoch); 0: none taken yet. */
  storedAt = 0;

  constructor(projector: ProjectorName) {
    this.projector = projector;
  }

  seen(m: JsMsg): void {
    this.pending = m.info.pending;
    this.storedAt = m.info.timestampNanos / 1e6;
  }

  /** Seconds behind: how old the last message taken is while more wait; 0 once caught up. */
  seconds(now: number): number {
    return this.pending > 0 && this.storedAt > 0 ? Math.max(0, (now - this.storedAt) / 1000) : 0;
  }
}

export const consumerLags = new Sources<ConsumerLag>();

/** The most behind of a projector's consumers in this process. */
function worst(g: { reset(): void; set(labels: { projector: string }, value: number): void }, value: (l: ConsumerLag) => number): void {
  g.reset();
  const by = new Map<string, number>();
  for (const l of consumerLags.all) by.set(l.projector, Math.max(by.get(l.projector) ?? 0, value(l)));
  for (const [projector, v] of by) g.set({ projector }, v);
}

gaugeFrom({
  name: 'parley_projector_lag_events',
  help: 'Events in the log not yet taken by the projector (its most behind partition in this process)',
  labelNames: ['projector'],
  read: (g) => worst(g, (l) => l.pending),
});
gaugeFrom({
  name: 'parley_projector_lag_seconds',
  help: 'Age of the last event the projector took while more wait (0 when caught up; its most behind partition in this process)',
  labelNames: ['projector'],
  read: (g) => {
    const now = Date.now();
    worst(g, (l) => l.seconds(now));
  },
});

/** Events projected (their writes stored), by projector. */
export const projectedEvents = new BoundCounter<ProjectorName>(
  counter({ name: 'parley_projector_events_total', help: 'Events projected (their writes stored), by projector', labelNames: ['projector'] }),
  'projector',
  projectorNames,
);

/** Events that failed and will be redelivered, by projector. */
export const failedEvents = new BoundCounter<ProjectorName>(
  counter({ name: 'parley_projector_failures_total', help: 'Events (postgres: batches) that failed and will be redelivered, by projector', labelNames: ['projector'] }),
  'projector',
  projectorNames,
);

