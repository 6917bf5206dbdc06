/**
 * Prometheus metrics: prom-client's default registry, one per process. Components declare their
 * metrics in files of their own (gateway/metrics.ts, engine/metrics.ts, projections/metrics.ts),
 * once per process at module level, with the helpers here. Label values are always from a bounded
 * set (`boundedLabel`): never a user id, conversation id or free text, which would grow a series
 * per user and put people's ids in the operator's dashboards.
 */
import client from 'prom-client';

export const register = client.register;

/** Every metric of Parley starts with this. */
export const METRIC_PREFIX = 'parley_';

/** The label value for anything outside a label's known set. */
export const OTHER = 'other';

let defaultsCollected = false;

/** Node's own figures (event-loop lag, heap, GC, CPU, handles), prefixed `parley_`; once per process. */
export function collectProcessMetrics(): void {
  if (defaultsCollected) return;
  defaultsCollected = true;
  // Another copy of this module (a test importing it twice) may have registered them already.
  if (register.getSingleMetric(`${METRIC_PREFIX}process_cpu_user_seconds_total`)) return;
  client.collectDefaultMetrics({ prefix: METRIC_PREFIX });
}

/** The text a scrape gets, and its content type. */
export async function metricsText(): Promise<{ contentType: string; body: string }> {
  collectProcessMetrics();
  return { contentType: register.contentType, body: await register.metrics() };
}

type Spec<L extends string> = { name: string; help: string; labelNames?: readonly L[] };

/** An already registered metric of that name (a module evaluated twice), or a new one. */
function once<M>(name: string, make: () => M): M {
  return (register.getSingleMetric(name) as M | undefined) ?? make();
}

export function counter<L extends string = never>(spec: Spec<L>): client.Counter<L> {
  return once(spec.name, () => new client.Counter<L>({ name: spec.name, help: spec.help, labelNames: spec.labelNames ?? [] }));
}

export function histogram<L extends string = never>(spec: Spec<L> & { buckets: number[] }): client.Histogram<L> {
  return once(spec.name, () => new client.Histogram<L>({ name: spec.name, help: spec.help, labelNames: spec.labelNames ?? [], buckets: spec.buckets }));
}

/**
 * A gauge read at scrape time from what the components already count (their stats()): nothing on
 * the hot path. `read` sets the values; it runs on every scrape.
 */
export function gaugeFrom<L extends string = never>(spec: Spec<L> & { read: (gauge: client.Gauge<L>) => void | Promise<void> }): client.Gauge<L> {
  return once(spec.name, () => {
    const read = spec.read;
    return new client.Gauge<L>({
      name: spec.name,
      help: spec.help,
      labelNames: spec.labelNames ?? [],
      collect() {
        return read(this);
      },
    });
  });
}

/** `value` when it is one of `known`, else `other`: a label that cannot grow past known.size + 1 values. */
export function boundedLabel(value: unknown, known: ReadonlySet<string>): string {
  return typeof value === 'string' && known.has(value) ? value : OTHER;
}

/**
 * A counter's children for every known label value, bound once: the hot path is a Map lookup and an
 * inc, with no label object built per call.
 */
export class BoundCounter<V extends string> {
  readonly #children = new Map<string, client.Counter.Internal>();
  readonly #other: client.Counter.Internal;

  constructor(metric: client.Counter<string>, label: string, known: Iterable<V>, fixed: Record<string, string> = {}) {
    // Each series exists from the start at 0: a rate() then sees its first increment.
    for (const value of known) this.#children.set(value, metric.labels({ ...fixed, [label]: value }));
    this.#other = metric.labels({ ...fixed, [label]: OTHER });
    for (const child of [...this.#children.values(), this.#other]) child.inc(0);
  }

  inc(value: unknown, by = 1): void {
    ((typeof value === 'string' ? this.#children.get(value) : undefined) ?? this.#other).inc(by);
  }
}

/**
 * The live instances of a kind of component in this process, for gauges read at scrape time. Tests
 * run several gateways or projectors in one process; each adds itself on start and is removed on stop.
 */
export class Sources<T> {
  readonly #items = new Set<T>();

  add(item: T): () => void {
    this.#items.add(item);
    return () => this.#items.delete(item);
  }

  get all(): T[] {
    return [...this.#items];
  }
}

/** Sum of `f` over the sources. */
export function sumOf<T>(sources: Sources<T>, f: (s: T) => number): number {
  let total = 0;
  for (const s of sources.all) total += f(s);
  return total;
}
