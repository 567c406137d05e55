/**
 * The metric kinds of the registry (metrics.ts): counters, gauges and histograms, each holding
 * its series by label values (bounded by its registry) and rendering them in the Prometheus
 * text format. Bound handles (`Counter.bind`, `Histogram.bind`) record into one series without
 * building a key or looking it up.
 */
import { RosterError } from '../protocol/errors.js';

export type MetricType = 'counter' | 'gauge' | 'histogram';

/** Label values keyed by label name. Missing labels render as the empty string. */
export type LabelValues<L extends string> = Readonly<Record<L, string>>;

/** One counter series, bound once (Counter.bind). */
export interface BoundCounter {
  /** Adds `n` (default 1, must be >= 0). */
  inc(n?: number): void;
}

/** One histogram series, bound once (Histogram.bind). */
export interface BoundHistogram {
  /** Records one observation; NaN is ignored. */
  observe(value: number): void;
}

export interface MetricOptions<L extends string> {
  readonly labelNames?: readonly L[];
  /** Overrides the registry's `maxSeriesPerMetric` for this metric. */
  readonly maxSeries?: number;
}

export type CollectResult<L extends string> =
  | number
  | ReadonlyArray<readonly [LabelValues<L>, number]>;

export interface GaugeOptions<L extends string> extends MetricOptions<L> {
  /**
   * Computes the value(s) at render time. When present, the gauge renders only what this
   * returns (values given to set/inc/dec are ignored). Throwing renders no samples.
   */
  readonly collect?: () => CollectResult<L>;
}

export interface HistogramOptions<L extends string> extends MetricOptions<L> {
  /** Upper bounds, finite and strictly increasing; `+Inf` is implicit. */
  readonly buckets: readonly number[];
}

/** The registry's error for a bad argument. */
export function invalid(message: string, data?: Record<string, string | number>): RosterError {
  return new RosterError('ROSTER_ERR_INVALID_ARGUMENT', message, data);
}
/** Formats a sample value as Prometheus expects (`+Inf`, `-Inf`, `NaN`). */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

/** Escapes a label value: backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  return /[\\"\n]/.test(value)
    ? value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
    : value;
}

/** Escapes HELP text: backslash and line feed. */
export function escapeHelp(help: string): string {
  return /[\\\n]/.test(help) ? help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n') : help;
}
/** What a metric needs from its registry. */
export interface MetricContext {
  readonly maxSeries: number;
  readonly onDrop: (metric: string) => void;
}

abstract class Metric<L extends string, S extends { readonly labels: string }> {
  abstract readonly type: MetricType;
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  protected readonly series = new Map<string, S>();
  /** Bumped whenever series are forgotten, so bound handles look theirs up again. */
  private generation = 0;
  private readonly maxSeries: number;
  private readonly onDrop: (metric: string) => void;

  constructor(name: string, help: string, labelNames: readonly L[], ctx: MetricContext) {
    this.name = name;
    this.help = help;
    this.labelNames = Object.freeze([...labelNames]);
    this.maxSeries = ctx.maxSeries;
    this.onDrop = ctx.onDrop;
  }

  /** Number of series currently held. */
  get size(): number {
    return this.series.size;
  }

  /** Forgets one series (for example an upstream that left a pool). */
  remove(labels?: LabelValues<L>): void {
    this.series.delete(this.keyOf(labels));
    this.generation++;
    if (this.labelNames.length === 0) this.ensureUnlabelled();
  }

  /** Forgets every series. */
  reset(): void {
    this.series.clear();
    this.generation++;
    if (this.labelNames.length === 0) this.ensureUnlabelled();
  }

  /** Appends this metric's exposition text to `out`. */
  abstract renderInto(out: string[]): void;

  protected abstract createSeries(labels: string): S;

  protected ensureUnlabelled(): void {
    if (!this.series.has('')) this.series.set('', this.createSeries(''));
  }

  protected header(out: string[]): void {
    out.push(`# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}\n`);
  }

  /**
   * The series for `labels`, created on first use; undefined when the bound is reached. A
   * number stands for no labels: the overloads' short forms (`inc(n)`, `set(v)`, `observe(v)`)
   * pass their first argument on as it came.
   */
  protected seriesFor(labels: LabelValues<L> | number | undefined): S | undefined {
    if (typeof labels === 'number') labels = undefined;
    const key = this.keyOf(labels);
    let s = this.series.get(key);
    if (s === undefined) {
      if (this.series.size >= this.maxSeries) {
        this.onDrop(this.name);
        return undefined;
      }
      s = this.createSeries(this.renderLabels(labels));
      this.series.set(key, s);
    }
    return s;
  }

  /**
   * The series of one label set, for a bound handle: looked up on first use and again only
   * after remove()/reset() (or while the series bound keeps it from existing).
   */
  protected resolver(labels: LabelValues<L> | undefined): () => S | undefined {
    let series: S | undefined;
    let generation = -1;
    return () => {
      if (series === undefined || generation !== this.generation) {
        series = this.seriesFor(labels);
        generation = this.generation;
      }
      return series;
    };
  }

  /** An unambiguous key: one label is its value; several are length-prefixed. */
  protected keyOf(labels: LabelValues<L> | undefined): string {
    const names = this.labelNames;
    const n = names.length;
    if (n === 0 || labels === undefined) return '';
    if (n === 1) return labels[names[0]!] ?? '';
    let key = '';
    for (let i = 0; i < n; i++) {
      const v = labels[names[i]!] ?? '';
      key += v.length + ':' + v;
    }
    return key;
  }

  /** `a="x",b="y"` (no braces), escaped. */
  protected renderLabels(labels: LabelValues<L> | undefined): string {
    let out = '';
    for (const name of this.labelNames) {
      const v = labels?.[name] ?? '';
      out += (out === '' ? '' : ',') + name + '="' + escapeLabelValue(String(v)) + '"';
    }
    return out;
  }
}

interface ValueSeries {
  readonly labels: string;
  value: number;
}

function braces(labels: string): string {
  return labels === '' ? '' : '{' + labels + '}';
}

/** A metric of one number per series (counters and gauges). */
abstract class ValueMetric<L extends string> extends Metric<L, ValueSeries> {
  /** The current stored value of one series (0 if absent; a gauge's `collect` is not asked). */
  get(labels?: LabelValues<L>): number {
    return this.series.get(this.keyOf(labels))?.value ?? 0;
  }

  protected createSeries(labels: string): ValueSeries {
    return { labels: braces(labels), value: 0 };
  }

  /** Appends one sample line per stored series. */
  protected renderStored(out: string[]): void {
    for (const s of this.series.values()) {
      out.push(this.name + s.labels + ' ' + formatValue(s.value) + '\n');
    }
  }
}

export class Counter<L extends string = never> extends ValueMetric<L> {
  readonly type = 'counter';

  constructor(name: string, help: string, labelNames: readonly L[], ctx: MetricContext) {
    super(name, help, labelNames, ctx);
    if (labelNames.length === 0) this.ensureUnlabelled();
  }

  /** Adds `n` (default 1, must be >= 0). `inc(n)` is short for `inc(undefined, n)`. */
  inc(n: number): void;
  inc(labels?: LabelValues<L>, n?: number): void;
  inc(labels?: LabelValues<L> | number, n = 1): void {
    const by = typeof labels === 'number' ? labels : n;
    if (!(by >= 0)) throw invalid('counter increment must be >= 0', { metric: this.name });
    const s = this.seriesFor(labels);
    if (s !== undefined) s.value += by;
  }

  /** A handle on one series (for a hot path recording the same labels again and again). */
  bind(labels?: LabelValues<L>): BoundCounter {
    const series = this.resolver(labels);
    const name = this.name;
    return {
      inc(n = 1): void {
        if (!(n >= 0)) throw invalid('counter increment must be >= 0', { metric: name });
        const s = series();
        if (s !== undefined) s.value += n;
      },
    };
  }

  renderInto(out: string[]): void {
    this.header(out);
    this.renderStored(out);
  }
}

export class Gauge<L extends string = never> extends ValueMetric<L> {
  readonly type = 'gauge';
  private readonly collect: (() => CollectResult<L>) | undefined;

  constructor(
    name: string,
    help: string,
    labelNames: readonly L[],
    ctx: MetricContext,
    collect?: () => CollectResult<L>,
  ) {
    super(name, help, labelNames, ctx);
    this.collect = collect;
    if (labelNames.length === 0) this.ensureUnlabelled();
  }

  /** Sets a value. `set(v)` is short for `set(undefined, v)`. */
  set(value: number): void;
  set(labels: LabelValues<L> | undefined, value: number): void;
  set(labels: LabelValues<L> | number | undefined, value?: number): void {
    const s = this.seriesFor(labels);
    if (s !== undefined) s.value = typeof labels === 'number' ? labels : (value ?? 0);
  }

  /** Adds `n` (default 1). `inc(n)` is short for `inc(undefined, n)`. */
  inc(n: number): void;
  inc(labels?: LabelValues<L>, n?: number): void;
  inc(labels?: LabelValues<L> | number, n = 1): void {
    const s = this.seriesFor(labels);
    if (s !== undefined) s.value += typeof labels === 'number' ? labels : n;
  }

  /** Subtracts `n` (default 1). `dec(n)` is short for `dec(undefined, n)`. */
  dec(n: number): void;
  dec(labels?: LabelValues<L>, n?: number): void;
  dec(labels?: LabelValues<L> | number, n = 1): void {
    const s = this.seriesFor(labels);
    if (s !== undefined) s.value -= typeof labels === 'number' ? labels : n;
  }

  renderInto(out: string[]): void {
    this.header(out);
    if (this.collect === undefined) {
      this.renderStored(out);
      return;
    }
    let result: CollectResult<L>;
    try {
      result = this.collect();
    } catch {
      return;
    }
    if (typeof result === 'number') {
      out.push(this.name + ' ' + formatValue(result) + '\n');
      return;
    }
    const seen = new Set<string>();
    for (const [labels, value] of result) {
      const key = this.keyOf(labels);
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(this.name + braces(this.renderLabels(labels)) + ' ' + formatValue(value) + '\n');
    }
  }
}

interface HistogramSeries {
  /** `a="x",b="y",` (trailing comma when non-empty), for the bucket lines. */
  readonly labels: string;
  /** `{a="x",b="y"}` or '', for _sum and _count. */
  readonly plain: string;
  /** Per-bucket (non-cumulative) counts; the last slot is +Inf. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

export class Histogram<L extends string = never> extends Metric<L, HistogramSeries> {
  readonly type = 'histogram';
  readonly buckets: readonly number[];
  private readonly le: readonly string[];

  constructor(
    name: string,
    help: string,
    labelNames: readonly L[],
    buckets: readonly number[],
    ctx: MetricContext,
  ) {
    super(name, help, labelNames, ctx);
    this.buckets = Object.freeze([...buckets]);
    this.le = Object.freeze([...buckets.map(formatValue), '+Inf']);
    if (labelNames.length === 0) this.ensureUnlabelled();
  }

  /** Records one observation. `observe(v)` is short for `observe(undefined, v)`; NaN is ignored. */
  observe(value: number): void;
  observe(labels: LabelValues<L> | undefined, value: number): void;
  observe(labels: LabelValues<L> | number | undefined, value?: number): void {
    const v = typeof labels === 'number' ? labels : value;
    if (v === undefined || Number.isNaN(v)) return;
    const s = this.seriesFor(labels);
    if (s !== undefined) this.record(s, v);
  }

  /** A handle on one series (for a hot path recording the same labels again and again). */
  bind(labels?: LabelValues<L>): BoundHistogram {
    const series = this.resolver(labels);
    return {
      observe: (value: number): void => {
        if (Number.isNaN(value)) return;
        const s = series();
        if (s !== undefined) this.record(s, value);
      },
    };
  }

  private record(s: HistogramSeries, value: number): void {
    const b = this.buckets;
    const n = b.length;
    let i = 0;
    while (i < n && value > b[i]!) i++;
    s.counts[i]!++;
    s.sum += value;
    s.count++;
  }

  /** Starts a timer; calling the returned function observes the elapsed seconds. */
  startTimer(labels?: LabelValues<L>): () => number {
    const start = process.hrtime.bigint();
    return () => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      this.observe(labels, seconds);
      return seconds;
    };
  }

  protected createSeries(labels: string): HistogramSeries {
    return {
      labels: labels === '' ? '' : labels + ',',
      plain: braces(labels),
      counts: new Float64Array(this.buckets.length + 1),
      sum: 0,
      count: 0,
    };
  }

  renderInto(out: string[]): void {
    this.header(out);
    const name = this.name;
    const le = this.le;
    for (const s of this.series.values()) {
      let cumulative = 0;
      for (let i = 0; i < le.length; i++) {
        cumulative += s.counts[i]!;
        out.push(`${name}_bucket{${s.labels}le="${le[i]}"} ${formatValue(cumulative)}\n`);
      }
      out.push(`${name}_sum${s.plain} ${formatValue(s.sum)}\n`);
      out.push(`${name}_count${s.plain} ${formatValue(s.count)}\n`);
    }
  }
}
