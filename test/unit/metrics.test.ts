import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BoundCounter, boundedLabel, collectProcessMetrics, counter, OTHER, register } from '../../lib/metrics.js';
// Every file that declares metrics: importing them registers their series in this process.
import '../../gateway/metrics.js';
import '../../engine/metrics.js';
import '../../projections/metrics.js';
import '../../lib/projector-metrics.js';
import '../../lib/nats-metrics.js';

const dashboardFile = fileURLToPath(new URL('../../deploy/grafana/parley-dashboard.json', import.meta.url));

/** Series names a query may use for a metric: a histogram's _bucket, _sum and _count among them. */
function registeredSeries(): Set<string> {
  collectProcessMetrics();
  const names = new Set<string>();
  for (const m of register.getMetricsAsArray()) {
    const name = (m as unknown as { name: string }).name;
    names.add(name);
    for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
  }
  return names;
}

t.test('every metric is named parley_*', async (t) => {
  const names = [...registeredSeries()];
  t.ok(names.length > 30);
  t.same(names.filter((n) => !n.startsWith('parley_')), []);
});

t.test('the Grafana dashboard is valid JSON and queries only series the code registers', async (t) => {
  const dashboard = JSON.parse(readFileSync(dashboardFile, 'utf8')) as { title: string; panels: { title: string; type: string; targets?: { expr: string }[] }[] };
  t.equal(dashboard.title, 'Parley');
  const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((x) => ({ panel: p.title, expr: x.expr })));
  t.ok(exprs.length >= 20, 'it has queries');
  const known = registeredSeries();
  const queried = new Set(exprs.flatMap(({ expr }) => expr.match(/\bparley_[a-z0-9_]+/g) ?? []));
  t.ok(queried.size >= 20);
  t.same([...queried].filter((name) => !known.has(name)), [], 'no query names a series nobody registers');
  for (const { panel, expr } of exprs) t.match(expr, /parley_/, `${panel}: queries Parley's series`);
  // What the issue asks the dashboard to show.
  for (const name of [
    'parley_gateway_connections',
    'parley_gateway_frames_in_total',
    'parley_gateway_errors_sent_total',
    'parley_gateway_sends_total',
    'parley_engine_decide_seconds_bucket',
    'parley_projector_lag_events',
    'parley_projector_lag_seconds',
    'parley_nodejs_eventloop_lag_p99_seconds',
    'parley_process_resident_memory_bytes',
  ]) {
    t.ok(queried.has(name), `the dashboard shows ${name}`);
  }
});

t.test('bounded labels: anything outside the known set is other', async (t) => {
  const known = new Set(['a', 'b']);
  t.equal(boundedLabel('a', known), 'a');
  t.equal(boundedLabel('user-123', known), OTHER);
  t.equal(boundedLabel(undefined, known), OTHER);
  t.equal(boundedLabel({ toString: () => 'a' }, known), OTHER);
  t.equal(boundedLabel('__proto__', known), OTHER);

  const c = counter({ name: 'parley_test_bound_total', help: 'test', labelNames: ['kind'] });
  t.equal(counter({ name: 'parley_test_bound_total', help: 'test', labelNames: ['kind'] }), c, 'declared twice: the same metric');
  const bound = new BoundCounter(c, 'kind', ['a', 'b']);
  bound.inc('a');
  bound.inc('a');
  bound.inc('alice@example.com');
  bound.inc(42);
  const values = (await c.get()).values.map((v) => [v.labels.kind, v.value]);
  t.same(new Map(values as [string, number][]), new Map([['a', 2], ['b', 0], [OTHER, 2]]));
  register.removeSingleMetric('parley_test_bound_total');
});
