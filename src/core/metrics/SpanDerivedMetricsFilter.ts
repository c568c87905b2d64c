import {
  createNoopMeter,
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
  type UpDownCounter,
} from '@opentelemetry/api';
import { UPSTREAM_SPAN_DERIVED_HISTOGRAMS } from '../semconv';

const NOOP_METER = createNoopMeter();

/**
 * The meter provider the upstream instrumentations get: it hands them a no-op histogram for each histogram our
 * span processors already derive, per tenant, from the same spans (`http.server.request.duration`,
 * `http.client.request.duration`, `db.client.operation.duration`: see `UPSTREAM_SPAN_DERIVED_HISTOGRAMS`), and
 * the real instrument for everything else (the pg and mongodb pool gauges, which no span carries).
 *
 * Why: each of those records goes through `sdk-metrics` attribute hashing (≈ 1 µs with five attributes) on every
 * request, for a histogram with no tenant that `http_request_duration_seconds` and the spanmetrics family
 * already cover (docs/benchmarks.md, "Work done twice"). `TENANTSCOPE_UPSTREAM_METRICS=true` gives the
 * instrumentations the real provider instead.
 */
export class SpanDerivedMetricsFilter implements MeterProvider {
  private readonly _inner: MeterProvider;
  private readonly _dropped: ReadonlySet<string>;

  constructor(inner: MeterProvider, dropped: ReadonlySet<string> = UPSTREAM_SPAN_DERIVED_HISTOGRAMS) {
    this._inner = inner;
    this._dropped = dropped;
  }

  getMeter(name: string, version?: string, options?: MeterOptions): Meter {
    return new FilteringMeter(this._inner.getMeter(name, version, options), this._dropped);
  }
}

/** A meter that answers the dropped histogram names with a no-op instrument and passes everything else on. */
class FilteringMeter implements Meter {
  constructor(
    private readonly _inner: Meter,
    private readonly _dropped: ReadonlySet<string>
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
    return this._inner.createUpDownCounter<A>(name, options);
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
