import { TraceFlags } from '@opentelemetry/api';
import type { ReadableSpan, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace';
import type { Deadline } from '../src/core/export/Deadline';
import type { ExportGuard } from '../src/core/export/ExportGuard';
import { describeError, warnOnce } from '../src/core/log';
import type { GaugeSeries } from '../src/core/metrics/MetricFamily';
import type { MetricStore } from '../src/core/metrics/MetricStore';
import {
  METRIC_EXPORT_QUEUE,
  REASON_AFTER_SHUTDOWN,
  REASON_QUEUE_FULL,
  REASON_SHUTDOWN_DEADLINE,
} from '../src/core/semconv';

export interface BatchExportSpanProcessorOptions {
  exporter: SpanExporter;
  /** Runs each export (one at a time), counts outcomes, logs outages once. */
  guard: ExportGuard;
  store: MetricStore;
  /** The flush-at-exit / shutdown deadline this processor's flushes end by. */
  deadline: Deadline;
  maxQueueSize: number;
  maxExportBatchSize: number;
  scheduledDelayMillis: number;
  exportTimeoutMillis: number;
}

/**
 * A batch span processor with one export in flight at a time. The SDK's (sdk-trace 3.1.1) clears its "exporting" flag
 * while an export is still running, so against a failing collector its exports pile up to the exporter's limit of 30,
 * each failure logged with a stack. Here a batch waits for the one before it; each export is bounded by
 * `exportTimeoutMillis`; every span is counted by what became of it (`tenantscope_export_spans_total`); a flush or
 * shutdown ends by the shared {@link Deadline}, and what is left then is counted as dropped (`shutdown_deadline`).
 */
export class BatchExportSpanProcessor implements SpanProcessor {
  private readonly _o: BatchExportSpanProcessorOptions;
  private readonly _batch: number;
  private _queue: ReadableSpan[] = [];
  private readonly _queueLength: GaugeSeries;
  private _timer: NodeJS.Timeout | undefined;
  private _inFlight: Promise<unknown> | undefined;
  private _shutDown = false;
  private _down: Promise<void> | undefined;

  constructor(options: BatchExportSpanProcessorOptions) {
    this._o = options;
    this._batch = Math.min(options.maxExportBatchSize, options.maxQueueSize);
    this._queueLength = options.store.gauge(METRIC_EXPORT_QUEUE).get([]);
  }

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    try {
      if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
      if (this._shutDown) {
        this._o.guard.drop(REASON_AFTER_SHUTDOWN, 1);
        return;
      }
      if (this._queue.length >= this._o.maxQueueSize) {
        this._o.guard.drop(REASON_QUEUE_FULL, 1);
        return;
      }
      this._queue.push(span);
      this._queueLength.value = this._queue.length;
      if (this._queue.length >= this._batch) this._kick();
      else this._arm();
    } catch (err) {
      warnOnce('batch-onEnd', `span export queue skipped a span: ${describeError(err)}`);
    }
  }

  /** Spans waiting for export. */
  get queued(): number {
    return this._queue.length;
  }

  forceFlush(): Promise<void> {
    return this._down ?? this._drainBounded();
  }

  shutdown(): Promise<void> {
    this._down ??= (async () => {
      this._shutDown = true;
      this._clearTimer();
      await this._drainBounded();
      if (this._queue.length > 0) {
        this._o.guard.drop(REASON_SHUTDOWN_DEADLINE, this._queue.length);
        this._queue = [];
        this._queueLength.value = 0;
      }
      try {
        await this._o.exporter.shutdown();
      } catch {
        // the exporter's own shutdown failing changes nothing we can count
      }
    })();
    return this._down;
  }

  /** Starts the schedule timer when spans wait and nothing is exporting. */
  private _arm(): void {
    if (this._timer !== undefined || this._inFlight !== undefined || this._queue.length === 0 || this._shutDown) return;
    this._timer = setTimeout(() => {
      this._timer = undefined;
      this._kick();
    }, this._o.scheduledDelayMillis);
    this._timer.unref();
  }

  private _clearTimer(): void {
    if (this._timer === undefined) return;
    clearTimeout(this._timer);
    this._timer = undefined;
  }

  /** Exports one batch now unless one is in flight; when it ends, the next full batch goes at once. */
  private _kick(): void {
    if (this._inFlight !== undefined || this._queue.length === 0) return;
    this._clearTimer();
    this._inFlight = this._exportBatch(this._o.exportTimeoutMillis).then(() => {
      this._inFlight = undefined;
      if (this._shutDown) return;
      if (this._queue.length >= this._batch) setImmediate(() => this._kick()).unref();
      else this._arm();
    });
  }

  private _exportBatch(timeoutMillis: number): Promise<boolean> {
    const spans = this._queue.length <= this._batch ? this._queue : this._queue.slice(0, this._batch);
    this._queue = spans === this._queue ? [] : this._queue.slice(this._batch);
    this._queueLength.value = this._queue.length;
    return this._o.guard.export(this._o.exporter, spans, spans.length, timeoutMillis);
  }

  /** Exports what is queued, batch after batch, until the queue is empty or the deadline passes. */
  private async _drainBounded(): Promise<void> {
    const left = this._o.deadline.remaining();
    // Referenced on purpose: during a flush at exit it holds the process until the flush ends or the deadline passes.
    const timer = left === Infinity ? undefined : setTimeout(() => this._o.guard.abort(REASON_SHUTDOWN_DEADLINE), Math.max(0, left));
    try {
      for (;;) {
        if (this._inFlight !== undefined) {
          await this._inFlight;
          continue;
        }
        const remaining = this._o.deadline.remaining();
        if (this._queue.length === 0 || remaining <= 0) return;
        this._clearTimer();
        // With a deadline in force, its timer above ends the export at the deadline (counted as shutdown_deadline,
        // reported once with the totals); the export's own timeout, and the transport's request budget taken from
        // it, are not cut to the same millisecond, where either could fire first and count and log a timeout.
        const p = this._exportBatch(timer === undefined ? Math.min(this._o.exportTimeoutMillis, remaining) : this._o.exportTimeoutMillis);
        this._inFlight = p;
        await p;
        this._inFlight = undefined;
      }
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      if (!this._shutDown) this._arm();
    }
  }
}
