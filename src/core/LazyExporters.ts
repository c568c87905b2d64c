import type { ExportResult } from '@opentelemetry/core';
import type { LogRecordExporter, ReadableLogRecord } from '@opentelemetry/sdk-logs';
import {
  AggregationTemporality,
  AggregationType,
  type AggregationOption,
  type InstrumentType,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';

/**
 * Exporters that load their implementation when first used, not at start. The OTLP log and metric exporters of
 * the pinned 0.301.0 line depend on exact 3.1.0 SDK versions, so loading one at start pulls a second copy of
 * `@opentelemetry/core`, `sdk-metrics` and `otlp-transformer` (≈ 200 files) into every process, including one
 * that never logs through pino/winston and exports its first metrics a minute later (docs/benchmarks.md,
 * "Start-up"). The trace exporter is not wrapped: spans are exported at once.
 *
 * A failure to load is not caught here: the caller's processor or reader handles an export that throws, as it
 * would a failing exporter.
 */

/** A log record exporter built by `load()` on the first export (or flush); shutdown before that loads nothing. */
export class LazyLogRecordExporter implements LogRecordExporter {
  private _real: LogRecordExporter | undefined;

  constructor(private readonly _load: () => LogRecordExporter) {}

  private _get(): LogRecordExporter {
    return (this._real ??= this._load());
  }

  export(records: ReadableLogRecord[], done: (result: ExportResult) => void): void {
    this._get().export(records, done);
  }

  async forceFlush(): Promise<void> {
    await this._real?.forceFlush?.();
  }

  async shutdown(): Promise<void> {
    await this._real?.shutdown();
  }
}

/**
 * A push metric exporter built by `load()` when the reader first needs it: an export, or a temporality or
 * aggregation choice for an `sdk-metrics` instrument (the exporter reads its preference from the environment).
 */
export class LazyPushMetricExporter implements PushMetricExporter {
  private _real: PushMetricExporter | undefined;

  constructor(private readonly _load: () => PushMetricExporter) {}

  private _get(): PushMetricExporter {
    return (this._real ??= this._load());
  }

  export(metrics: ResourceMetrics, done: (result: ExportResult) => void): void {
    this._get().export(metrics, done);
  }

  async forceFlush(): Promise<void> {
    await this._real?.forceFlush();
  }

  async shutdown(): Promise<void> {
    await this._real?.shutdown();
  }

  selectAggregationTemporality(instrumentType: InstrumentType): AggregationTemporality {
    // The SDK's defaults when an exporter states no preference.
    return this._get().selectAggregationTemporality?.(instrumentType) ?? AggregationTemporality.CUMULATIVE;
  }

  selectAggregation(instrumentType: InstrumentType): AggregationOption {
    return this._get().selectAggregation?.(instrumentType) ?? { type: AggregationType.DEFAULT };
  }
}
