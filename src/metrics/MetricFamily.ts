import type { Attributes, HrTime } from '@opentelemetry/api';
import type { MetricSpec } from '../semconv';

/** Prometheus label name for an OTLP attribute key (what the Collector's translation does). */
export function promLabelName(key: string): string {
  const s = key.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[0-9]/.test(s) ? 'key_' + s : s;
}

/** Escapes a Prometheus text-format label value. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** Renders a number the way Prometheus text format expects. */
export function formatNumber(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** One labelled time series of a counter. */
export class CounterSeries {
  value = 0;
  constructor(
    readonly attributes: Attributes,
    /** `{a="x",b="y"}` (or `` when unlabelled), built once. */
    readonly labelText: string,
    readonly startTime: HrTime
  ) {}
}

/** One labelled time series of an explicit-bucket histogram (per-bucket, not cumulative, counts). */
export class HistogramSeries {
  /**
   * A plain array, not a Float64Array: a typed array this size keeps its data off the V8 heap, one more cache
   * miss per record() when thousands of series are live (bench/processor.bench.ts: about 10% of onEnd).
   */
  readonly counts: number[];
  sum = 0;
  count = 0;
  min = Infinity;
  max = -Infinity;
  constructor(
    readonly attributes: Attributes,
    /** `a="x",b="y"` without braces, so `le` can be appended. */
    readonly labelText: string,
    readonly startTime: HrTime,
    private readonly _boundaries: readonly number[]
  ) {
    const counts: number[] = [];
    for (let i = 0; i <= _boundaries.length; i++) counts.push(0);
    this.counts = counts;
  }

  record(v: number): void {
    const b = this._boundaries;
    let i = 0;
    // Linear scan: at most 16 boundaries, cheaper than a binary search at this size.
    while (i < b.length && v > b[i]) i++;
    this.counts[i]++;
    this.sum += v;
    this.count++;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }
}

abstract class Family<S> {
  readonly promLabelNames: readonly string[];
  protected readonly _byKey = new Map<string, S>();
  /** Series in creation order, for export. */
  readonly series: S[] = [];

  constructor(readonly spec: MetricSpec) {
    this.promLabelNames = spec.labels.map(promLabelName);
  }

  /** Gets or creates the series for these label values (in `spec.labels` order). Not for per-span use: cache the result. */
  get(values: readonly string[]): S {
    const key = values.join('\u0000');
    let s = this._byKey.get(key);
    if (s === undefined) {
      const attributes: Attributes = {};
      const parts: string[] = [];
      for (let i = 0; i < this.spec.labels.length; i++) {
        attributes[this.spec.labels[i]] = values[i];
        parts.push(`${this.promLabelNames[i]}="${escapeLabelValue(values[i])}"`);
      }
      s = this._create(attributes, parts.join(","), nowHr());
      this._byKey.set(key, s);
      this.series.push(s);
    }
    return s;
  }

  protected abstract _create(attributes: Attributes, labelText: string, start: HrTime): S;
}

/** A monotonic counter family. */
export class CounterFamily extends Family<CounterSeries> {
  protected _create(attributes: Attributes, labelText: string, start: HrTime): CounterSeries {
    return new CounterSeries(attributes, labelText === '' ? '' : `{${labelText}}`, start);
  }
}

/** An explicit-bucket histogram family. */
export class HistogramFamily extends Family<HistogramSeries> {
  readonly boundaries: readonly number[];
  /** Prometheus `le` values, formatted once. */
  readonly leText: readonly string[];

  constructor(spec: MetricSpec) {
    super(spec);
    this.boundaries = spec.boundaries ?? [];
    this.leText = [...this.boundaries.map(formatNumber), '+Inf'];
  }

  protected _create(attributes: Attributes, labelText: string, start: HrTime): HistogramSeries {
    return new HistogramSeries(attributes, labelText, start, this.boundaries);
  }
}

/** Current wall-clock time as an OpenTelemetry HrTime. */
export function nowHr(): HrTime {
  const ms = performance.timeOrigin + performance.now();
  const sec = Math.floor(ms / 1000);
  return [sec, Math.min(999_999_999, Math.round((ms - sec * 1000) * 1e6))];
}
