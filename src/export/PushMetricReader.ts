import { MetricReader, type MetricProducer, type PushMetricExporter, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { Deadline } from '../core/export/Deadline';
import type { ExportGuard } from '../core/export/ExportGuard';
import { debug } from '../core/log';
import { REASON_SHUTDOWN_DEADLINE } from '../core/semconv';

export interface PushMetricReaderOptions {
  exporter: PushMetricExporter;
  guard: ExportGuard;
  deadline: Deadline;
  intervalMillis: number;
  /** Bound on one export (collect + send). */
  timeoutMillis: number;
  metricProducers?: MetricProducer[];
}

/**
 * Collects and pushes metrics every interval, one export at a time, through an {@link ExportGuard}: each data point is
 * counted by outcome (`tenantscope_export_metric_points_total`), an outage is logged once (the SDK's periodic reader
 * logs every failed export with a stack), and the final export at shutdown ends by the shared {@link Deadline}.
 * An interval that comes while an export is still in flight is skipped: the data are cumulative, so the next
 * export carries them.
 */
export class PushMetricReader extends MetricReader {
  private readonly _o: PushMetricReaderOptions;
  private _interval: NodeJS.Timeout | undefined;
  private _inFlight: Promise<void> | undefined;

  constructor(options: PushMetricReaderOptions) {
    super({
      aggregationSelector: options.exporter.selectAggregation?.bind(options.exporter),
      aggregationTemporalitySelector: options.exporter.selectAggregationTemporality?.bind(options.exporter),
      metricProducers: options.metricProducers,
    });
    this._o = options;
  }

  protected override onInitialized(): void {
    this._interval = setInterval(() => {
      if (this._inFlight !== undefined) {
        debug('metric export still in flight; this interval is skipped');
        return;
      }
      void this._run(this._o.timeoutMillis);
    }, this._o.intervalMillis);
    this._interval.unref();
  }

  protected override async onForceFlush(): Promise<void> {
    if (this._inFlight !== undefined) await this._inFlight;
    await this._bounded(() => this._run(Math.min(this._o.timeoutMillis, this._o.deadline.remaining())));
  }

  protected override async onShutdown(): Promise<void> {
    if (this._interval !== undefined) clearInterval(this._interval);
    await this.onForceFlush();
    try {
      await this._bounded(() => this._o.exporter.shutdown());
    } catch {
      // nothing to count
    }
  }

  /** Runs `fn`; when a deadline is in force, the export in flight is abandoned at it. */
  private async _bounded(fn: () => Promise<void>): Promise<void> {
    const left = this._o.deadline.remaining();
    // Referenced on purpose: during a flush at exit it holds the process until the flush ends or the deadline passes.
    const timer = left === Infinity ? undefined : setTimeout(() => this._o.guard.abort(REASON_SHUTDOWN_DEADLINE), Math.max(0, left));
    try {
      await fn();
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }

  private _run(timeoutMillis: number): Promise<void> {
    const run = (async () => {
      let rm: ResourceMetrics;
      try {
        const { resourceMetrics, errors } = await this.collect({ timeoutMillis: Math.max(1, timeoutMillis) });
        if (errors.length > 0) debug(`metric collection reported ${errors.length} error(s)`);
        rm = resourceMetrics;
      } catch (err) {
        debug(`metric collection failed: ${String(err)}`);
        return;
      }
      const points = countPoints(rm);
      if (points === 0) return;
      if (timeoutMillis <= 0) {
        this._o.guard.drop(REASON_SHUTDOWN_DEADLINE, points);
        return;
      }
      await this._o.guard.export(this._o.exporter, rm, points, timeoutMillis);
    })();
    this._inFlight = run;
    return run.finally(() => {
      if (this._inFlight === run) this._inFlight = undefined;
    });
  }
}

function countPoints(rm: ResourceMetrics): number {
  let n = 0;
  for (const sm of rm.scopeMetrics) for (const m of sm.metrics) n += m.dataPoints.length;
  return n;
}
