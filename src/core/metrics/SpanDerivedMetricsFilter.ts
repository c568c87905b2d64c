import {
  createNoopMeter,
  type Context,
  type BatchObservableCallback,
  type Counter,
  type Gauge,
  type Histogram,
  type Meter,
  type MeterOptions,
  type MeterProvider,
  type MetricAttributes,
  type MetricOptions,
  type Observable,
  type ObservableCounter,
  type ObservableGauge,
  type ObservableUpDownCounter,
  type ObservableResult,
  type UpDownCounter,
} from '@opentelemetry/api';
import { describeError, warnOnce } from '../log';
import { UPSTREAM_SPAN_DERIVED_HISTOGRAMS } from '../semconv';

const NOOP_METER = createNoopMeter();
/** Attribute sets one summed up-down counter keeps before later ones fold (sdk-metrics' default cardinality limit). */
const MAX_SUMMED_SERIES = 2000;
const OVERFLOW_ATTRIBUTES: MetricAttributes = { 'otel.metric.overflow': true };

/** Runs `fn` with the SDK's own warnings muted (the diag logger's `muted`). */
export type Quietly = <T>(fn: () => T) => T;

/**
 * The meter provider the upstream instrumentations get: it hands them a no-op histogram for each histogram our
 * span processors already derive, per tenant, from the same spans (`http.server.request.duration`,
 * `http.client.request.duration`, `db.client.operation.duration`: see `UPSTREAM_SPAN_DERIVED_HISTOGRAMS`), a
 * {@link SummingUpDownCounter} for each up-down counter (the pg and mongodb pool gauges, which no span carries:
 * same series, summed without `sdk-metrics`' per-call attribute hashing), and the real instrument for everything else.
 *
 * Why: each of those records goes through `sdk-metrics` attribute hashing (≈ 1 µs with five attributes) on every
 * request, for a histogram with no tenant that `http_request_duration_seconds` and the spanmetrics family
 * already cover (docs/benchmarks.md, "Work done twice"); instrumentation-pg adds to its pool counters three times at
 * every checkout and every release (≈ 5 µs a request with one query). `TENANTSCOPE_UPSTREAM_METRICS=true` gives the
 * instrumentations the real provider instead.
 */
export class SpanDerivedMetricsFilter implements MeterProvider {
  private readonly _inner: MeterProvider;
  private readonly _dropped: ReadonlySet<string>;
  /** Per meter of the inner provider, its summed up-down counters by name (asked again, the same one, as sdk-metrics does). */
  private readonly _summed = new WeakMap<Meter, Map<string, SummingUpDownCounter>>();

  private readonly _quietly: Quietly;

  /**
   * `quietly` runs the registration of a summed counter's observable with the SDK's duplicate-instrument warning
   * muted: an instrumentation creates its instruments twice, in its constructor through the global provider (the
   * real one: a synchronous up-down counter that then never records, so it never exports) and again through this
   * one, and `sdk-metrics` warns that the observable of the same name is "incompatible" with that empty one.
   */
  constructor(inner: MeterProvider, dropped: ReadonlySet<string> = UPSTREAM_SPAN_DERIVED_HISTOGRAMS, quietly: Quietly = (fn) => fn()) {
    this._inner = inner;
    this._dropped = dropped;
    this._quietly = quietly;
  }

  getMeter(name: string, version?: string, options?: MeterOptions): Meter {
    const meter = this._inner.getMeter(name, version, options);
    let summed = this._summed.get(meter);
    if (summed === undefined) {
      summed = new Map();
      this._summed.set(meter, summed);
    }
    return new FilteringMeter(meter, this._dropped, summed, this._quietly);
  }
}

/** A meter that answers the dropped histogram names with a no-op instrument and passes everything else on. */
class FilteringMeter implements Meter {
  constructor(
    private readonly _inner: Meter,
    private readonly _dropped: ReadonlySet<string>,
    private readonly _summed: Map<string, SummingUpDownCounter>,
    private readonly _quietly: Quietly
  ) {}

  createHistogram<A extends MetricAttributes = MetricAttributes>(name: string, options?: MetricOptions): Histogram<A> {
    return this._dropped.has(name) ? NOOP_METER.createHistogram<A>(name, options) : this._inner.createHistogram<A>(name, options);
  }

  createGauge<A extends MetricAttributes = MetricAttributes>(name: string, options?: MetricOptions): Gauge<A> {
    return this._inner.createGauge<A>(name, options);
  }

  createCounter<A extends MetricAttributes = MetricAttributes>(name: string, options?: MetricOptions): Counter<A> {
    return this._inner.createCounter<A>(name, options);
  }

  createUpDownCounter<A extends MetricAttributes = MetricAttributes>(name: string, options?: MetricOptions): UpDownCounter<A> {
    // Instrument names are case-insensitive (sdk-metrics hands out one storage per name).
    const key = name.toLowerCase();
    let c = this._summed.get(key);
    if (c === undefined) {
      c = new SummingUpDownCounter(this._quietly(() => this._inner.createObservableUpDownCounter(name, options)));
      this._summed.set(key, c);
    }
    return c as unknown as UpDownCounter<A>;
  }

  createObservableGauge<A extends MetricAttributes = MetricAttributes>(name: string, options?: MetricOptions): ObservableGauge<A> {
    return this._inner.createObservableGauge<A>(name, options);
  }

  createObservableCounter<A extends MetricAttributes = MetricAttributes>(name: string, options?: MetricOptions): ObservableCounter<A> {
    return this._inner.createObservableCounter<A>(name, options);
  }

  createObservableUpDownCounter<A extends MetricAttributes = MetricAttributes>(name: string, options?: MetricOptions): ObservableUpDownCounter<A> {
    return this._inner.createObservableUpDownCounter<A>(name, options);
  }

  addBatchObservableCallback<A extends MetricAttributes = MetricAttributes>(callback: BatchObservableCallback<A>, observables: Observable<A>[]): void {
    this._inner.addBatchObservableCallback(callback, observables);
  }

  removeBatchObservableCallback<A extends MetricAttributes = MetricAttributes>(callback: BatchObservableCallback<A>, observables: Observable<A>[]): void {
    this._inner.removeBatchObservableCallback(callback, observables);
  }
}

interface TrieNode {
  next: Map<string, Map<unknown, TrieNode>> | undefined;
  /** The attribute set that ends at this node. */
  sum: Summed | undefined;
}

interface Summed {
  readonly attributes: MetricAttributes;
  /** The attribute set in key order, to merge sets that were built in another order at collection. */
  readonly canonical: string;
  value: number;
}

/**
 * An up-down counter whose adds are summed here, per attribute set, and reported at each collection through an
 * observable up-down counter of the same name, unit and description: the same exported series as `sdk-metrics`'
 * synchronous one (a non-monotonic cumulative sum per attribute set, in every temporality preference), without its
 * attribute hashing on every `add`: a set's place is found key by key and value by value, in maps, in the order the
 * caller wrote its keys (no string is built per add), and sets written in another key order are merged once per
 * collection. A value that is not a number is ignored, as `sdk-metrics` does (NaN is a number to both); asked again
 * by name, a meter hands out the same counter. Attribute
 * sets past {@link MAX_SUMMED_SERIES} fold into `otel.metric.overflow=true`, as its cardinality limit does.
 */
export class SummingUpDownCounter<A extends MetricAttributes = MetricAttributes> implements UpDownCounter<A> {
  /** Attribute sets as written: by key, then by value, level after level (no string built per add). */
  private readonly _root: TrieNode = { next: undefined, sum: undefined };
  private readonly _sums: Summed[] = [];
  private _overflow: Summed | undefined;

  constructor(observable: ObservableUpDownCounter<A>) {
    observable.addCallback((result) => this._observe(result as ObservableResult));
  }

  add(value: number, attributes?: A, _context?: Context): void {
    try {
      if (typeof value !== 'number') return;
      let node = this._root;
      if (attributes !== undefined) {
        for (const k in attributes) {
          const raw: unknown = attributes[k];
          // Arrays by content, apart from any string.
          const v = typeof raw === 'object' && raw !== null ? `\u0000${JSON.stringify(raw)}` : raw;
          node.next ??= new Map();
          let byValue = node.next.get(k);
          if (byValue === undefined) {
            byValue = new Map();
            node.next.set(k, byValue);
          }
          let child = byValue.get(v);
          if (child === undefined) {
            child = { next: undefined, sum: undefined };
            byValue.set(v, child);
          }
          node = child;
        }
      }
      let sum = node.sum;
      if (sum === undefined) {
        // As sdk-metrics: the overflow series is one of the limit's sets.
        if (this._sums.length >= MAX_SUMMED_SERIES - 1) {
          this._overflow ??= { attributes: OVERFLOW_ATTRIBUTES, canonical: '', value: 0 };
          this._overflow.value += value;
          return;
        }
        const copy: MetricAttributes = { ...attributes };
        sum = { attributes: copy, canonical: canonicalKey(copy), value: 0 };
        node.sum = sum;
        this._sums.push(sum);
      }
      sum.value += value;
    } catch (err) {
      warnOnce('summing-updown-add', `an upstream up-down counter skipped an add: ${describeError(err)}`);
    }
  }

  private _observe(result: ObservableResult): void {
    const merged = new Map<string, Summed>();
    for (const sum of this._sums) {
      const seen = merged.get(sum.canonical);
      if (seen === undefined) merged.set(sum.canonical, { ...sum });
      else seen.value += sum.value;
    }
    for (const sum of merged.values()) result.observe(sum.value, sum.attributes);
    if (this._overflow !== undefined) result.observe(this._overflow.value, this._overflow.attributes);
  }
}

function canonicalKey(attributes: MetricAttributes): string {
  return JSON.stringify(Object.keys(attributes).sort().map((k) => [k, attributes[k]]));
}
