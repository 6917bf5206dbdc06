/**
 * The projectors' own metrics (README "Metrics"): read-model batch sizes, push and presence figures.
 * Lag and events projected, which every projector has, are in lib/projector-metrics.ts.
 */
import { BoundCounter, counter, gaugeFrom, histogram, Sources, sumOf } from '../lib/metrics.js';

export const postgresBatchSize = histogram({
  name: 'parley_projector_batch_size',
  help: 'Events per read-model batch (postgres projector)',
  labelNames: ['projector'],
  buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500],
}).labels({ projector: 'postgres' });

/** Web Push deliveries by result (push-sender.ts). */
export const pushResults = new BoundCounter(
  counter({ name: 'parley_push_sent_total', help: 'Web Push deliveries, by result (pushed, retried, failed, removed: subscription gone, dropped, deferred)', labelNames: ['result'] }),
  'result',
  ['pushed', 'retried', 'failed', 'removed', 'dropped', 'deferred'],
);

/** The presence service where it runs in this process (one per installation, by a lease). */
export const presenceSources = new Sources<{ usersOnline(): number; gateways(): number }>();

gaugeFrom({ name: 'parley_presence_users_online', help: 'Users online, as the presence service (where it runs) counts them', read: (g) => g.set(sumOf(presenceSources, (s) => s.usersOnline())) });
gaugeFrom({ name: 'parley_presence_gateways', help: 'Gateways the presence service (where it runs) hears from', read: (g) => g.set(sumOf(presenceSources, (s) => s.gateways())) });
