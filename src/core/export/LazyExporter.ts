import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import {
  AggregationTemporality,
  AggregationType,
  InstrumentType,
  type AggregationOption,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';

/** What the SDK's span, log record and push metric exporters have in common. */
export interface Exporter<T> {
  export(items: T, resultCallback: (result: ExportResult) => void): void;
  shutdown(): Promise<void>;
  forceFlush?(): Promise<void>;
}

/**
 * An exporter built by `build()` at its first export, not at start. The upstream OTLP exporters and what they
 * require (`otlp-exporter-base`, `otlp-transformer`, protobuf code) are dozens of files (a few hundred before the
 * dependency versions were aligned with the ones the exporters pin): loading them at start cost every process,
 * including one that never exports (docs/benchmarks.md, "Start-up"). `build` returns the finished exporter,
 * with whatever tenantscope installs into it (src/sdk.ts).
 *
 * Nothing to send, nothing to load: `forceFlush()` and `shutdown()` before the first export build nothing, and an
 * export after such a shutdown fails without building. A `build` that throws is not retried (a package that does
 * not load will not load later): that export and every later one fail with its error, and the caller counts and
 * logs them as it does any failed export.
 */
export class LazyExporter<T> implements Exporter<T> {
  private _real: Exporter<T> | undefined;
  private _failure: Error | undefined;
  private _shutDown = false;

  constructor(private readonly _build: () => Exporter<T>) {}

  /** True once the real exporter has been built. */
  get built(): boolean {
    return this._real !== undefined;
  }

  /** Builds the real exporter now, if it is not built yet (see `ExportTarget.prepare`). Never throws. */
  prepare(): void {
    this._get();
  }

  export(items: T, resultCallback: (result: ExportResult) => void): void {
    const real = this._get();
    if (real instanceof Error) resultCallback({ code: ExportResultCode.FAILED, error: real });
    else real.export(items, resultCallback);
  }

  async forceFlush(): Promise<void> {
    await this._real?.forceFlush?.();
  }

  async shutdown(): Promise<void> {
    this._shutDown = true;
    await this._real?.shutdown();
  }

  private _get(): Exporter<T> | Error {
    if (this._real !== undefined) return this._real;
    if (this._failure !== undefined) return this._failure;
    if (this._shutDown) return new Error('the exporter is shut down');
    try {
      this._real = this._build();
      return this._real;
    } catch (err) {
      return (this._failure = err instanceof Error ? err : new Error(String(err)));
    }
  }
}

/** `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`, as the OTLP metric exporters read it. */
export type TemporalityPreference = 'cumulative' | 'delta' | 'lowmemory';

/**
 * A {@link LazyExporter} for metrics. The reader asks its exporter for a temporality and an aggregation when an
 * instrument is created (at start), so these are answered here without building: the same choices the OTLP metric
 * exporters 0.301 make (`OTLPMetricExporterBase`: the temporality preference, and the default aggregation).
 */
export class LazyPushMetricExporter extends LazyExporter<ResourceMetrics> implements PushMetricExporter {
  private readonly _temporality: (type: InstrumentType) => AggregationTemporality;

  constructor(build: () => PushMetricExporter, temporality: TemporalityPreference) {
    super(build);
    this._temporality = temporality === 'delta' ? deltaTemporality : temporality === 'lowmemory' ? lowMemoryTemporality : cumulativeTemporality;
  }

  selectAggregationTemporality(instrumentType: InstrumentType): AggregationTemporality {
    return this._temporality(instrumentType);
  }

  selectAggregation(): AggregationOption {
    return DEFAULT_AGGREGATION;
  }
}

const DEFAULT_AGGREGATION: AggregationOption = Object.freeze({ type: AggregationType.DEFAULT });

function cumulativeTemporality(): AggregationTemporality {
  return AggregationTemporality.CUMULATIVE;
}

/** Delta for counters, histograms and gauges; cumulative for up-down counters. */
function deltaTemporality(type: InstrumentType): AggregationTemporality {
  return type === InstrumentType.UP_DOWN_COUNTER || type === InstrumentType.OBSERVABLE_UP_DOWN_COUNTER
    ? AggregationTemporality.CUMULATIVE
    : AggregationTemporality.DELTA;
}

/** Delta for synchronous counters and histograms only. */
function lowMemoryTemporality(type: InstrumentType): AggregationTemporality {
  return type === InstrumentType.COUNTER || type === InstrumentType.HISTOGRAM ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE;
}
