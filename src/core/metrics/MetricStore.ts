import { ValueType } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  DataPointType,
  type CollectionResult,
  type DataPoint,
  type Histogram,
  type MetricData,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import { METRIC_SERIES_FOLDED, type MetricSpec } from '../semconv';
import { VERSION } from '../package';
import { describeError, warnOnce } from '../log';
import { CounterFamily, GaugeFamily, HistogramFamily, nowHr, type CounterSeries, type ExemplarRecord, type SeriesBudget } from './MetricFamily';

/**
 * A histogram data point of a family with exemplars (`MetricSpec.exemplars`), as {@link MetricStore.collect} returns
 * it: the SDK's shape plus the exemplars of its buckets. Upstream OTLP serializers ignore the extra property;
 * src/export/ExemplarSerializer.ts writes it.
 */
export interface HistogramPointWithExemplars extends DataPoint<Histogram> {
  exemplars: ExemplarRecord[];
}

/**
 * Work run at collection time, before the families are read (observed gauges poll their sources). It must bound
 * its own time; the store awaits it and swallows what it throws.
 */
export type CollectObserver = () => Promise<void> | void;

export interface MetricStoreOptions {
  /** Prometheus series per family before label sets fold (see {@link SeriesBudget}); unlimited when absent. */
  maxSeries?: number;
}

/** Instrumentation scope our span-derived metrics are exported under. */
export const SCOPE = { name: 'tenantscope', version: VERSION };

/**
 * Holds tenantscope's pre-aggregated metric families. Processors update series directly (no attribute
 * hashing per span); readers get finished data points from {@link collect} (OTLP, console) or from the
 * chunked Prometheus serializer, never through the SDK's per-instrument cardinality limit.
 */
export class MetricStore implements MetricProducer {
  readonly counters: CounterFamily[] = [];
  readonly histograms: HistogramFamily[] = [];
  readonly gauges: GaugeFamily[] = [];
  private readonly _observers: CollectObserver[] = [];
  private readonly _budget: SeriesBudget | undefined;
  private readonly _folded = new Map<string, CounterSeries>();

  constructor(
    readonly resource: Resource,
    options: MetricStoreOptions = {}
  ) {
    this._budget =
      options.maxSeries === undefined ? undefined : { maxSeries: options.maxSeries, onFold: (spec) => this._countFold(spec) };
  }

  /** Counts a label set folded by the budget in `tenantscope_series_folded_total{metric}` (Prometheus name). */
  private _countFold(spec: MetricSpec): void {
    let s = this._folded.get(spec.promName);
    if (s === undefined) this._folded.set(spec.promName, (s = this.counter(METRIC_SERIES_FOLDED).get([spec.promName])));
    s.value++;
  }

  /**
   * The counter family for `spec`, created on first use. Processors that share a family (RED and model usage both
   * count into `tenantscope.labels.folded`) get the same one: an exposition may hold each name once.
   */
  counter(spec: MetricSpec): CounterFamily {
    for (const c of this.counters) if (c.spec.name === spec.name) return c;
    const f = new CounterFamily(spec, this._budget);
    this.counters.push(f);
    return f;
  }

  /** The histogram family for `spec`, created on first use (see {@link counter}). */
  histogram(spec: MetricSpec): HistogramFamily {
    for (const h of this.histograms) if (h.spec.name === spec.name) return h;
    const f = new HistogramFamily(spec, this._budget);
    this.histograms.push(f);
    return f;
  }

  /** The gauge family for `spec` (an observed gauge or an up-down count), created on first use. */
  gauge(spec: MetricSpec): GaugeFamily {
    for (const g of this.gauges) if (g.spec.name === spec.name) return g;
    const f = new GaugeFamily(spec);
    this.gauges.push(f);
    return f;
  }

  /** Runs `observer` at every collection, before the families are read; returns a function that removes it. */
  addObserver(observer: CollectObserver): () => void {
    this._observers.push(observer);
    return () => {
      const i = this._observers.indexOf(observer);
      if (i !== -1) this._observers.splice(i, 1);
    };
  }

  /** Runs the collection-time observers (every reader calls this before reading the families); never rejects. */
  async refresh(): Promise<void> {
    if (this._observers.length === 0) return;
    await Promise.all(
      this._observers.map(async (o) => {
        try {
          await o();
        } catch (err) {
          warnOnce('store-observer', `a collection-time observer failed: ${describeError(err)}`);
        }
      })
    );
  }

  /** Cumulative data points of every family, in the SDK's export shape. */
  async collect(): Promise<CollectionResult> {
    await this.refresh();
    const endTime = nowHr();
    const metrics: MetricData[] = [];
    for (const f of this.counters) {
      if (f.series.length === 0) continue;
      metrics.push({
        descriptor: { name: f.spec.name, description: f.spec.description, unit: f.spec.unit, valueType: ValueType.DOUBLE },
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.SUM,
        isMonotonic: true,
        dataPoints: f.series.map((s) => ({ startTime: s.startTime, endTime, attributes: s.attributes, value: s.value })),
      });
    }
    for (const f of this.histograms) {
      if (f.series.length === 0) continue;
      const ex = f.exemplars;
      const buckets = f.boundaries.length + 1;
      const dataPoints: DataPoint<Histogram>[] = f.series.map((s) => {
        const p: DataPoint<Histogram> = {
          startTime: s.startTime,
          endTime,
          attributes: s.attributes,
          value: {
            buckets: { boundaries: f.boundaries as number[], counts: s.counts },
            sum: s.sum,
            count: s.count,
            min: s.count > 0 ? s.min : undefined,
            max: s.count > 0 ? s.max : undefined,
          },
        };
        if (ex !== undefined) (p as HistogramPointWithExemplars).exemplars = ex.recordsOf(s.exemplarRow, buckets);
        return p;
      });
      metrics.push({
        descriptor: { name: f.spec.name, description: f.spec.description, unit: f.spec.unit, valueType: ValueType.DOUBLE },
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.HISTOGRAM,
        dataPoints,
      });
    }
    for (const f of this.gauges) {
      const dataPoints: DataPoint<number>[] = [];
      for (const s of f.series) {
        if (!Number.isNaN(s.value)) dataPoints.push({ startTime: s.startTime, endTime, attributes: s.attributes, value: s.value });
      }
      if (dataPoints.length === 0) continue;
      const descriptor = { name: f.spec.name, description: f.spec.description, unit: f.spec.unit, valueType: ValueType.DOUBLE };
      if (f.spec.kind === 'updowncounter') {
        metrics.push({ descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.SUM, isMonotonic: false, dataPoints });
      } else {
        metrics.push({ descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.GAUGE, dataPoints });
      }
    }
    return { resourceMetrics: { resource: this.resource, scopeMetrics: [{ scope: SCOPE, metrics }] }, errors: [] };
  }
}
