/**
 * A small, fast Prometheus registry shared by every component (node, client, gateway).
 *
 * `render()` produces the text exposition format 0.0.4. Metric names must match
 * `^roster_[a-z0-9_]+$`. Each metric holds at most `maxSeries` label combinations; past the
 * bound new series are dropped (updates to them are ignored) and
 * `roster_metrics_dropped_series_total{metric="…"}` counts the drops.
 *
 * The hot path (`inc`, `set`, `observe`) is one Map lookup by a key built from the label
 * values; label text is escaped once, when a series is created. Callers that record the same
 * labels over and over take a handle once (`Counter.bind`, `Histogram.bind`): recording through
 * it builds no key and looks nothing up. The metric kinds are in metric-kinds.ts.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import {
  Counter,
  Gauge,
  type GaugeOptions,
  Histogram,
  type HistogramOptions,
  invalid,
  type MetricContext,
  type MetricOptions,
  type MetricType,
} from './metric-kinds.js';

export {
  type BoundCounter,
  type BoundHistogram,
  type CollectResult,
  Counter,
  escapeHelp,
  escapeLabelValue,
  formatValue,
  Gauge,
  type GaugeOptions,
  Histogram,
  type HistogramOptions,
  type LabelValues,
  type MetricOptions,
  type MetricType,
} from './metric-kinds.js';

/** The Content-Type of `render()`'s output. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Default bound on the number of series (label combinations) one metric may hold. */
export const DEFAULT_MAX_SERIES_PER_METRIC = 10_000;

/** Latency buckets in seconds, 1 ms to 10 s. */
export const DEFAULT_LATENCY_BUCKETS: readonly number[] = Object.freeze([
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);

const METRIC_NAME = /^roster_[a-z0-9_]+$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const DROPPED_SERIES = 'roster_metrics_dropped_series_total';

export interface MetricsRegistryOptions {
  /** Default bound on series per metric (default 10 000). */
  readonly maxSeriesPerMetric?: number;
}
/** `n` buckets starting at `start`, each `factor` times the previous. */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  if (!(start > 0) || !(factor > 1) || !Number.isInteger(count) || count < 1) {
    throw invalid('exponentialBuckets needs start > 0, factor > 1 and an integer count >= 1');
  }
  const out: number[] = [];
  for (let i = 0, v = start; i < count; i++, v *= factor) out.push(v);
  return out;
}

/** `n` buckets starting at `start`, `width` apart. */
export function linearBuckets(start: number, width: number, count: number): number[] {
  if (!(width > 0) || !Number.isInteger(count) || count < 1) {
    throw invalid('linearBuckets needs width > 0 and an integer count >= 1');
  }
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(start + i * width);
  return out;
}
type AnyMetric = Counter<string> | Gauge<string> | Histogram<string>;

function normalize<L extends string, O extends MetricOptions<L>>(
  options: readonly L[] | O | undefined,
): O | MetricOptions<L> {
  if (options === undefined) return {};
  if (Array.isArray(options)) return { labelNames: options as readonly L[] };
  return options as O;
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

export class MetricsRegistry {
  private readonly metrics = new Map<string, AnyMetric>();
  private readonly maxSeriesPerMetric: number;
  private readonly dropped: Counter<'metric'>;

  constructor(options: MetricsRegistryOptions = {}) {
    const max = options.maxSeriesPerMetric ?? DEFAULT_MAX_SERIES_PER_METRIC;
    if (!Number.isInteger(max) || max < 1) {
      throw invalid('maxSeriesPerMetric must be an integer >= 1');
    }
    this.maxSeriesPerMetric = max;
    this.dropped = this.counter(
      DROPPED_SERIES,
      'Series dropped because a metric reached its series limit.',
      ['metric'],
    );
  }

  /** Registers (or returns the existing) counter. */
  counter<const L extends string = never>(
    name: string,
    help: string,
    options?: readonly L[] | MetricOptions<L>,
  ): Counter<L> {
    const opts = normalize<L, MetricOptions<L>>(options);
    const labelNames = opts.labelNames ?? [];
    const existing = this.existing(name, 'counter', labelNames);
    if (existing !== undefined) return existing as unknown as Counter<L>;
    const metric = new Counter<L>(name, help, labelNames, this.context(opts));
    this.metrics.set(name, metric as unknown as AnyMetric);
    return metric;
  }

  /** Registers (or returns the existing) gauge. */
  gauge<const L extends string = never>(
    name: string,
    help: string,
    options?: readonly L[] | GaugeOptions<L>,
  ): Gauge<L> {
    const opts = normalize<L, GaugeOptions<L>>(options) as GaugeOptions<L>;
    const labelNames = opts.labelNames ?? [];
    const existing = this.existing(name, 'gauge', labelNames);
    if (existing !== undefined) return existing as unknown as Gauge<L>;
    const metric = new Gauge<L>(name, help, labelNames, this.context(opts), opts.collect);
    this.metrics.set(name, metric as unknown as AnyMetric);
    return metric;
  }

  /** Registers (or returns the existing) histogram. */
  histogram<const L extends string = never>(
    name: string,
    help: string,
    options: HistogramOptions<L>,
  ): Histogram<L> {
    const labelNames = options.labelNames ?? [];
    if (labelNames.includes('le' as L)) {
      throw invalid('histogram label name "le" is reserved', { metric: name });
    }
    const buckets = options.buckets;
    if (
      !Array.isArray(buckets) ||
      buckets.length === 0 ||
      !buckets.every((b, i) => Number.isFinite(b) && (i === 0 || b > buckets[i - 1]!))
    ) {
      throw invalid('histogram buckets must be finite and strictly increasing', {
        metric: name,
      });
    }
    const existing = this.existing(name, 'histogram', labelNames);
    if (existing !== undefined) {
      if (!sameNames((existing as Histogram<string>).buckets.map(String), buckets.map(String))) {
        throw invalid(`metric ${name} is already registered with other buckets`, {
          metric: name,
        });
      }
      return existing as unknown as Histogram<L>;
    }
    const metric = new Histogram<L>(name, help, labelNames, buckets, this.context(options));
    this.metrics.set(name, metric as unknown as AnyMetric);
    return metric;
  }

  /** The metric registered under `name`, if any. */
  get(name: string): Counter<string> | Gauge<string> | Histogram<string> | undefined {
    return this.metrics.get(name);
  }

  /** Every metric in the text exposition format 0.0.4, in registration order. */
  render(): string {
    const out: string[] = [];
    for (const metric of this.metrics.values()) metric.renderInto(out);
    return out.join('');
  }

  private context(opts: MetricOptions<string>): MetricContext {
    const maxSeries = opts.maxSeries ?? this.maxSeriesPerMetric;
    if (!Number.isInteger(maxSeries) || maxSeries < 1) {
      throw invalid('maxSeries must be an integer >= 1');
    }
    return { maxSeries, onDrop: (metric) => this.onDrop(metric) };
  }

  private onDrop(metric: string): void {
    // The drop counter has one series per metric; if even it is full, drop silently.
    if (metric !== DROPPED_SERIES) this.dropped.inc({ metric });
  }

  private existing(
    name: string,
    type: MetricType,
    labelNames: readonly string[],
  ): AnyMetric | undefined {
    if (typeof name !== 'string' || !METRIC_NAME.test(name)) {
      throw invalid(`invalid metric name ${JSON.stringify(name)}: must match ${METRIC_NAME}`, {
        metric: String(name),
      });
    }
    const seen = new Set<string>();
    for (const label of labelNames) {
      if (typeof label !== 'string' || !LABEL_NAME.test(label) || label.startsWith('__')) {
        throw invalid(`invalid label name ${JSON.stringify(label)}`, { metric: name });
      }
      if (seen.has(label)) throw invalid(`duplicate label name ${label}`, { metric: name });
      seen.add(label);
    }
    const found = this.metrics.get(name);
    if (found === undefined) return undefined;
    if (found.type !== type) {
      throw invalid(`metric ${name} is already registered as a ${found.type}`, { metric: name });
    }
    if (!sameNames(found.labelNames, labelNames)) {
      throw invalid(`metric ${name} is already registered with other label names`, {
        metric: name,
      });
    }
    return found;
  }
}

export interface ProcessMetrics {
  /** Stops the event-loop delay monitor. */
  close(): void;
}

const processMetrics = new WeakMap<MetricsRegistry, ProcessMetrics>();

/**
 * Adds process gauges: resident memory, heap used, uptime, and event-loop lag
 * (`roster_event_loop_lag_seconds{quantile="0.5"|"0.99"|"1"}`, over the period since the
 * previous render). Calling it twice on one registry returns the first handle.
 */
export function defaultProcessMetrics(registry: MetricsRegistry): ProcessMetrics {
  const known = processMetrics.get(registry);
  if (known !== undefined) return known;
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  registry.gauge('roster_process_resident_memory_bytes', 'Resident memory size in bytes.', {
    collect: () => process.memoryUsage.rss(),
  });
  registry.gauge('roster_process_heap_used_bytes', 'V8 heap used in bytes.', {
    collect: () => process.memoryUsage().heapUsed,
  });
  registry.gauge('roster_process_uptime_seconds', 'Seconds since the process started.', {
    collect: () => process.uptime(),
  });
  registry.gauge(
    'roster_event_loop_lag_seconds',
    'Event loop delay since the previous scrape, by quantile (1 = max).',
    {
      labelNames: ['quantile'],
      collect: () => {
        const samples = delay.count > 0;
        const result: Array<[{ quantile: string }, number]> = [
          [{ quantile: '0.5' }, samples ? delay.percentile(50) / 1e9 : 0],
          [{ quantile: '0.99' }, samples ? delay.percentile(99) / 1e9 : 0],
          [{ quantile: '1' }, samples ? delay.max / 1e9 : 0],
        ];
        delay.reset();
        return result;
      },
    },
  );
  const handle: ProcessMetrics = { close: () => delay.disable() };
  processMetrics.set(registry, handle);
  return handle;
}
