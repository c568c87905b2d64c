import type { Attributes, HrTime } from '@opentelemetry/api';
import { ENDPOINT_OVERFLOW, TENANT_OVERFLOW, type MetricSpec } from '../semconv';

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

/**
 * Series keep their numbers in plain arrays of doubles, at an offset, so a processor can put the series one span
 * updates (a call counter and its duration histogram) side by side in one array: fewer cache misses per span
 * at thousands of live series (bench/processor.bench.ts).
 */
export type SeriesData = number[];

/**
 * Histogram layout in a {@link SeriesData} from its offset: sum, count, min, max, then for families with exemplars
 * the series' exemplar row (see {@link Exemplars}), the end of its current exemplar second and the slowest bucket
 * given an exemplar in it; then one count per bucket.
 */
export const HISTOGRAM_HEADER = 7;
/** Offset in a histogram's header of its first slot in its family's {@link Exemplars} (families with exemplars). */
const EXEMPLAR_ROW = 4;
/** Offsets of the exemplar gate: until when (ms) the current second runs, and its slowest bucket with an exemplar. */
const EXEMPLAR_UNTIL = 5;
const EXEMPLAR_BUCKET = 6;
/**
 * A series takes one exemplar per this many ms, plus one for each bucket slower than any that got one in that time:
 * a hot series then writes its cold exemplar slots about once a second instead of per span (bench/processor.bench.ts),
 * and a slow outlier is never passed over.
 */
export const EXEMPLAR_INTERVAL_MS = 1000;

/** Slots a histogram with `boundaries` takes in a {@link SeriesData}. */
export function histogramSlots(boundaries: readonly number[]): number {
  return HISTOGRAM_HEADER + boundaries.length + 1;
}

/** A zeroed data array of `slots` numbers, with a histogram's min/max reset at each offset in `histograms`. */
export function newSeriesData(slots: number, histograms: readonly number[] = []): SeriesData {
  const d: number[] = [];
  for (let i = 0; i < slots; i++) d.push(0);
  for (const off of histograms) {
    d[off + 2] = Infinity;
    d[off + 3] = -Infinity;
  }
  return d;
}

/** Records `v` into the histogram stored in `d` at `off`; returns the bucket it fell in. */
export function recordHistogram(d: SeriesData, off: number, boundaries: readonly number[], v: number): number {
  let i = 0;
  // Linear scan: at most 16 boundaries, cheaper than a binary search at this size.
  while (i < boundaries.length && v > boundaries[i]) i++;
  d[off + HISTOGRAM_HEADER + i]++;
  d[off] += v;
  d[off + 1]++;
  if (v < d[off + 2]) d[off + 2] = v;
  if (v > d[off + 3]) d[off + 3] = v;
  return i;
}

/** One labelled time series of a counter. */
export class CounterSeries {
  constructor(
    readonly attributes: Attributes,
    /** `{a="x",b="y"}` (or `` when unlabelled), built once. */
    readonly labelText: string,
    readonly startTime: HrTime,
    readonly data: SeriesData = [0],
    readonly offset = 0
  ) {}

  get value(): number {
    return this.data[this.offset];
  }

  set value(v: number) {
    this.data[this.offset] = v;
  }
}

/**
 * One labelled time series of a gauge. `NaN` means "no value": the series is left out of the export (an observed
 * gauge whose observer failed, timed out or was stopped).
 */
export class GaugeSeries {
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
  constructor(
    readonly attributes: Attributes,
    /** `a="x",b="y"` without braces, so `le` can be appended. */
    readonly labelText: string,
    readonly startTime: HrTime,
    readonly boundaries: readonly number[],
    readonly data: SeriesData = newSeriesData(histogramSlots(boundaries), [0]),
    readonly offset = 0
  ) {}

  get sum(): number {
    return this.data[this.offset];
  }
  get count(): number {
    return this.data[this.offset + 1];
  }
  get min(): number {
    return this.data[this.offset + 2];
  }
  get max(): number {
    return this.data[this.offset + 3];
  }

  /** Count in bucket `i` (not cumulative). */
  bucket(i: number): number {
    return this.data[this.offset + HISTOGRAM_HEADER + i];
  }

  /** Per-bucket counts, copied. */
  get counts(): number[] {
    const start = this.offset + HISTOGRAM_HEADER;
    return this.data.slice(start, start + this.boundaries.length + 1);
  }

  record(v: number): void {
    recordHistogram(this.data, this.offset, this.boundaries, v);
  }

  /** First slot of this series in its family's {@link Exemplars} (bucket `i` is at `exemplarRow + i`). */
  get exemplarRow(): number {
    return this.data[this.offset + EXEMPLAR_ROW];
  }
}

/** One exemplar as readers get it: the exported span's trace and span id (hex), its value, its end time. */
export interface ExemplarRecord {
  readonly traceId: string;
  readonly spanId: string;
  readonly value: number;
  readonly timeMs: number;
}

/**
 * The exemplars of a histogram family whose spec asks for them: one slot per series and bucket holding the latest
 * exported span that fell in that bucket, overwritten by the next one. Two flat arrays, a slot's two strings side by
 * side in one and its two numbers in the other (one cache line each per write: bench/processor.bench.ts); a series'
 * slots start at its exemplar row (kept in its histogram header, so a processor holding only the series' array
 * finds them). The ids are the span context's own strings, so recording an exemplar allocates nothing.
 */
export class Exemplars {
  /** Slot `i`: trace id at `2i`, span id at `2i + 1` ('' when empty). */
  readonly ids: string[] = [];
  /** Slot `i`: value at `2i`, time in ms since the epoch (the span's end) at `2i + 1` (0 when empty). */
  readonly nums: number[] = [];

  /** True when slot `i` holds an exemplar. */
  has(i: number): boolean {
    return this.nums[2 * i + 1] > 0;
  }

  /** The exemplar in slot `i` (check {@link has} first). */
  at(i: number): ExemplarRecord {
    return { traceId: this.ids[2 * i], spanId: this.ids[2 * i + 1], value: this.nums[2 * i], timeMs: this.nums[2 * i + 1] };
  }

  /** The exemplars held in the `n` slots from `row` (one per bucket), lowest bucket first; empty slots left out. */
  recordsOf(row: number, n: number): ExemplarRecord[] {
    const out: ExemplarRecord[] = [];
    for (let i = row; i < row + n; i++) if (this.has(i)) out.push(this.at(i));
    return out;
  }

  /** Adds `n` empty slots; returns the first one's index. */
  addRow(n: number): number {
    const row = this.ids.length / 2;
    for (let i = 0; i < 2 * n; i++) {
      this.ids.push('');
      this.nums.push(0);
    }
    return row;
  }
}

/**
 * The series budget of a family: at most `maxSeries` Prometheus series (a histogram label set counts its buckets,
 * `+Inf`, `_sum` and `_count`, as Prometheus does). Past it a new label set folds, in this order: its `endpoint`
 * into `overflow` (these folded series may use a further tenth of the budget), then also its tenant into `overflow`
 * (always allowed: what is left is bounded by the other labels' own limits). Counts go to the folded series, so sums
 * are preserved; `onFold` is told once per label set folded.
 */
export interface SeriesBudget {
  readonly maxSeries: number;
  readonly onFold?: (family: MetricSpec) => void;
}

export abstract class Family<S> {
  readonly promLabelNames: readonly string[];
  protected readonly _byKey = new Map<string, S>();
  /** Series in creation order, for export. */
  readonly series: S[] = [];
  /** Label sets the budget allows before folding, and the further ones allowed for endpoint-folded sets. */
  private _maxSets: number;
  private _reserveSets: number;
  private readonly _endpointAt: number;
  private readonly _tenantAt: number;
  private readonly _onFold: ((family: MetricSpec) => void) | undefined;

  constructor(
    readonly spec: MetricSpec,
    budget: SeriesBudget | undefined,
    seriesPerSet: number
  ) {
    this.promLabelNames = spec.labels.map(promLabelName);
    this._endpointAt = spec.labels.indexOf('endpoint');
    this._tenantAt = Math.max(spec.labels.indexOf('tenant_id'), spec.labels.indexOf('tenant.id'));
    const foldable = this._endpointAt >= 0 || this._tenantAt >= 0;
    this._maxSets = budget === undefined || !foldable ? Infinity : Math.max(1, Math.floor(budget.maxSeries / seriesPerSet));
    this._reserveSets = this._endpointAt >= 0 ? Math.ceil(this._maxSets / 10) : 0;
    this._onFold = budget?.onFold;
  }

  /**
   * Gives this family and `other` the smaller of their two budgets in label sets, for families whose series a
   * processor creates together in one array (the span-metrics counter and histogram): they then fold alike.
   */
  shareBudget(other: Family<unknown>): void {
    const sets = Math.min(this._maxSets, other._maxSets);
    for (const f of [this, other] as Family<unknown>[]) {
      f._maxSets = sets;
      f._reserveSets = f._endpointAt >= 0 && sets !== Infinity ? Math.ceil(sets / 10) : 0;
    }
  }

  /** True when a series with these label values exists. */
  has(values: readonly string[]): boolean {
    return this._byKey.has(values.join('\u0000'));
  }

  /**
   * Gets or creates the series for these label values (in `spec.labels` order). Not for per-span use: cache the
   * result. A new series keeps its numbers in `data` at `offset` when given (an existing one keeps its own, and so
   * does one the series budget folded this label set into: callers use the returned series' `data`).
   */
  get(values: readonly string[], data?: SeriesData, offset?: number): S {
    const key = values.join('\u0000');
    const s = this._byKey.get(key);
    if (s !== undefined) return s;
    if (this.series.length >= this._maxSets) return this._fold(values, data, offset);
    return this._add(key, values, data, offset);
  }

  /** The series a new label set goes to once the budget is used up (see {@link SeriesBudget}). */
  private _fold(values: readonly string[], data?: SeriesData, offset?: number): S {
    let v = values;
    if (this._endpointAt >= 0 && v[this._endpointAt] !== ENDPOINT_OVERFLOW) {
      v = v.slice();
      (v as string[])[this._endpointAt] = ENDPOINT_OVERFLOW;
      this._onFold?.(this.spec);
      const key = v.join('\u0000');
      const s = this._byKey.get(key);
      if (s !== undefined) return s;
      if (this.series.length < this._maxSets + this._reserveSets) return this._add(key, v, data, offset);
    }
    if (this._tenantAt >= 0 && v[this._tenantAt] !== TENANT_OVERFLOW) {
      if (v === values) this._onFold?.(this.spec);
      v = v.slice();
      (v as string[])[this._tenantAt] = TENANT_OVERFLOW;
    }
    const key = v.join('\u0000');
    return this._byKey.get(key) ?? this._add(key, v, data, offset);
  }

  private _add(key: string, values: readonly string[], data?: SeriesData, offset?: number): S {
    const attributes: Attributes = {};
    const parts: string[] = [];
    for (let i = 0; i < this.spec.labels.length; i++) {
      attributes[this.spec.labels[i]] = values[i];
      parts.push(`${this.promLabelNames[i]}="${escapeLabelValue(values[i])}"`);
    }
    const s = this._create(attributes, parts.join(','), nowHr(), data, offset);
    this._byKey.set(key, s);
    this.series.push(s);
    return s;
  }

  protected abstract _create(attributes: Attributes, labelText: string, start: HrTime, data?: SeriesData, offset?: number): S;
}

/** A monotonic counter family. */
export class CounterFamily extends Family<CounterSeries> {
  constructor(spec: MetricSpec, budget?: SeriesBudget) {
    super(spec, budget, 1);
  }

  protected _create(attributes: Attributes, labelText: string, start: HrTime, data?: SeriesData, offset?: number): CounterSeries {
    return new CounterSeries(attributes, labelText === '' ? '' : `{${labelText}}`, start, data, offset);
  }
}

/**
 * A gauge family: an observed gauge, an up-down count, or a value its owner sets (see `MetricSpec.kind`). Never
 * folded by the series budget: its label sets are bounded where they are named.
 */
export class GaugeFamily extends Family<GaugeSeries> {
  constructor(spec: MetricSpec) {
    super(spec, undefined, 1);
  }

  protected _create(attributes: Attributes, labelText: string, start: HrTime): GaugeSeries {
    return new GaugeSeries(attributes, labelText === '' ? '' : `{${labelText}}`, start);
  }
}

/** An explicit-bucket histogram family. */
export class HistogramFamily extends Family<HistogramSeries> {
  readonly boundaries: readonly number[];
  /** Prometheus `le` values, formatted once. */
  readonly leText: readonly string[];
  /** Per-bucket exemplars, when `spec.exemplars` is set. */
  readonly exemplars: Exemplars | undefined;

  constructor(spec: MetricSpec, budget?: SeriesBudget) {
    // Buckets, +Inf, _sum and _count: the Prometheus series one label set makes.
    super(spec, budget, (spec.boundaries ?? []).length + 3);
    this.boundaries = spec.boundaries ?? [];
    this.leText = [...this.boundaries.map(formatNumber), '+Inf'];
    this.exemplars = spec.exemplars ? new Exemplars() : undefined;
  }

  /**
   * Puts an exemplar into bucket `bucket` (what {@link recordHistogram} returned) of the series stored in `d` at
   * `off`, replacing the one there, unless the series had one in the last {@link EXEMPLAR_INTERVAL_MS} in a bucket at
   * least as slow (checked in `d`, which the caller has just touched). No allocation. A no-op for a family without
   * exemplars.
   */
  exemplar(d: SeriesData, off: number, bucket: number, value: number, traceId: string, spanId: string, timeMs: number): void {
    const ex = this.exemplars;
    if (ex === undefined) return;
    if (timeMs < d[off + EXEMPLAR_UNTIL]) {
      if (bucket <= d[off + EXEMPLAR_BUCKET]) return;
    } else {
      d[off + EXEMPLAR_UNTIL] = timeMs + EXEMPLAR_INTERVAL_MS;
    }
    d[off + EXEMPLAR_BUCKET] = bucket;
    const i = 2 * (d[off + EXEMPLAR_ROW] + bucket);
    const ids = ex.ids;
    const nums = ex.nums;
    ids[i] = traceId;
    ids[i + 1] = spanId;
    nums[i] = value;
    nums[i + 1] = timeMs;
  }

  protected _create(attributes: Attributes, labelText: string, start: HrTime, data?: SeriesData, offset?: number): HistogramSeries {
    const s = new HistogramSeries(attributes, labelText, start, this.boundaries, data, offset);
    if (this.exemplars !== undefined) s.data[s.offset + EXEMPLAR_ROW] = this.exemplars.addRow(this.boundaries.length + 1);
    return s;
  }
}

/** Current wall-clock time as an OpenTelemetry HrTime. */
export function nowHr(): HrTime {
  const ms = performance.timeOrigin + performance.now();
  const sec = Math.floor(ms / 1000);
  return [sec, Math.min(999_999_999, Math.round((ms - sec * 1000) * 1e6))];
}
