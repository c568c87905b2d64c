import { context } from '@opentelemetry/api';
import { ExportResultCode, suppressTracing, type ExportResult } from '@opentelemetry/core';
import type { LogRecordExporter, LogRecordProcessor, ReadableLogRecord, ReadWriteLogRecord } from '@opentelemetry/sdk-logs';
import type { ExportTarget } from '../src/core/export/ExportGuard';
import { describeError, warn } from '../src/core/log';
import type { CounterSeries } from '../src/core/metrics/MetricFamily';
import type { MetricStore } from '../src/core/metrics/MetricStore';
import { METRIC_LOGS_DROPPED, METRIC_LOGS_EXPORTED } from '../src/core/semconv';

export interface CountingBatchLogRecordProcessorOptions {
  exporter: LogRecordExporter;
  /** Where `tenantscope.logs.exported` / `tenantscope.logs.dropped` are counted. */
  store: MetricStore;
  /** Where the exporter sends records, as it may appear in a log line (no credentials). */
  target: string;
  /** `OTEL_BLRP_SCHEDULE_DELAY`: ms a record may wait for a batch to fill. */
  scheduledDelayMillis: number;
  /** `OTEL_BLRP_EXPORT_TIMEOUT`: ms after which an unanswered export counts as failed. */
  exportTimeoutMillis: number;
  /** `OTEL_BLRP_MAX_QUEUE_SIZE`: records waiting for export before new ones are dropped. */
  maxQueueSize: number;
  /** `OTEL_BLRP_MAX_EXPORT_BATCH_SIZE`: records per export (at most `maxQueueSize`). */
  maxExportBatchSize: number;
}

/**
 * Batches log records to an exporter like the SDK's `BatchLogRecordProcessor` (same `OTEL_BLRP_*` settings),
 * with what an operator needs when the Collector fails:
 * - every record not delivered is counted in `tenantscope.logs.dropped` by reason (the SDK's processor drops
 *   a full queue without a word, readable only through an experimental self-observability meter);
 * - one line when exports start failing, naming the target and the error, and one when they recover (the SDK's
 *   processor hands every failed batch to the global error handler: one line per batch);
 * - at most one export in flight: an export that times out is counted as failed, but the next one waits for the
 *   exporter to answer (the SDK's processor starts another, so a hanging Collector collects parallel retries).
 */
export class CountingBatchLogRecordProcessor implements LogRecordProcessor {
  private readonly _exporter: LogRecordExporter;
  private readonly _target: string;
  private readonly _delay: number;
  private readonly _timeout: number;
  private readonly _maxQueue: number;
  private readonly _maxBatch: number;
  private readonly _exported: CounterSeries;
  private readonly _droppedQueueFull: CounterSeries;
  private readonly _droppedExportFailed: CounterSeries;
  private readonly _droppedShutdown: CounterSeries;
  private _queue: ReadableLogRecord[] = [];
  private _timer: NodeJS.Timeout | undefined;
  /** True while the exporter holds a batch (until it calls back, even past the timeout). */
  private _busy = false;
  /** Settles when the batch in flight is counted: when the exporter answers or the timeout passes. */
  private _counted: Promise<void> | undefined;
  /** Between a failed export and the next successful one. */
  private _failing = false;
  private _droppedWhileFailing = 0;
  private _queueFullSaid = false;
  /** Set when shutdown starts: from then on only the shutdown's own flush exports. */
  private _closing = false;
  private _stopped = false;
  private _down: Promise<void> | undefined;

  constructor(options: CountingBatchLogRecordProcessorOptions) {
    this._exporter = options.exporter;
    this._target = options.target;
    this._delay = options.scheduledDelayMillis;
    this._timeout = options.exportTimeoutMillis;
    this._maxQueue = options.maxQueueSize;
    this._maxBatch = Math.min(options.maxExportBatchSize, options.maxQueueSize);
    this._exported = options.store.counter(METRIC_LOGS_EXPORTED).get([]);
    const dropped = options.store.counter(METRIC_LOGS_DROPPED);
    this._droppedQueueFull = dropped.get(['queue_full']);
    this._droppedExportFailed = dropped.get(['export_failed']);
    this._droppedShutdown = dropped.get(['shutdown']);
  }

  /** Records waiting for export (not counting a batch in flight). */
  get queueLength(): number {
    return this._queue.length;
  }

  onEmit(logRecord: ReadWriteLogRecord): void {
    try {
      if (this._stopped) {
        this._droppedShutdown.value++;
        return;
      }
      if (this._queue.length >= this._maxQueue) {
        this._droppedQueueFull.value++;
        if (this._failing) this._droppedWhileFailing++;
        else if (!this._queueFullSaid) {
          // Once per process: under steady overload the queue fills between every two exports.
          this._queueFullSaid = true;
          warn(
            `log queue full (OTEL_BLRP_MAX_QUEUE_SIZE=${this._maxQueue}): the export to ${this._target} is not keeping up; ` +
              'records are dropped and counted in tenantscope_logs_dropped_total{reason="queue_full"}'
          );
        }
        return;
      }
      this._queue.push(logRecord);
      this._schedule();
    } catch (err) {
      warn(`a log record was not queued for export: ${describeError(err)}`);
    }
  }

  forceFlush(): Promise<void> {
    return this._flush();
  }

  shutdown(): Promise<void> {
    this._down ??= (async () => {
      this._closing = true;
      if (this._timer !== undefined) {
        clearTimeout(this._timer);
        this._timer = undefined;
      }
      // Against an endpoint that is failing already, a last attempt would only hold the app's exit for another
      // export timeout: wait for the batch in flight, then count what is queued.
      await this._flush(!this._failing);
      this._stopped = true;
      // Left only when exports were failing or the exporter still holds an earlier batch (it never answered).
      const left = this._queue.length;
      this._queue = [];
      if (left > 0) {
        this._droppedShutdown.value += left;
        warn(`${left} log records were still queued at shutdown (the export to ${this._target} failed or did not answer)`);
      }
      try {
        await this._exporter.shutdown();
      } catch (err) {
        warn(`log exporter shutdown failed: ${describeError(err)}`);
      }
    })();
    return this._down;
  }

  /** Starts an export when a batch is full and none is in flight, else arms the delay timer. */
  private _schedule(): void {
    if (this._busy || this._closing || this._queue.length === 0) return;
    if (this._queue.length >= this._maxBatch) {
      void this._exportBatch();
      return;
    }
    if (this._timer !== undefined) return;
    this._timer = setTimeout(() => {
      this._timer = undefined;
      void this._exportBatch();
    }, this._delay);
    // Never keeps the app alive; the preload flushes at exit.
    this._timer.unref();
  }

  /**
   * Exports what is queued now, batch after batch; each waits at most the export timeout. Stops at the first
   * failed export: against a dead endpoint every further batch would cost the app another timeout at exit.
   */
  private async _flush(exportQueued = true): Promise<void> {
    // Records written while the flush runs are left to the timer: a busy app cannot keep the flush going.
    let left = exportQueued ? this._queue.length : 0;
    while (left > 0 || this._busy) {
      if (this._busy) {
        const inFlight = this._counted;
        await inFlight;
        // Still held after its timeout: the exporter never answered, and nothing more can be sent.
        if (this._busy && this._counted === inFlight) break;
        if (this._failing) break;
        continue;
      }
      if (this._queue.length === 0) break;
      left -= Math.min(this._maxBatch, this._queue.length);
      await this._exportBatch();
      if (this._failing) break;
    }
    try {
      await this._exporter.forceFlush();
    } catch (err) {
      warn(`log exporter flush failed: ${describeError(err)}`);
    }
  }

  /** Hands the next batch to the exporter; resolves once it is counted. */
  private _exportBatch(): Promise<void> {
    if (this._timer !== undefined) {
      clearTimeout(this._timer);
      this._timer = undefined;
    }
    if (this._busy || this._queue.length === 0) return this._counted ?? Promise.resolve();
    const batch = this._queue.length <= this._maxBatch ? this._queue : this._queue.slice(0, this._maxBatch);
    this._queue = batch === this._queue ? [] : this._queue.slice(this._maxBatch);
    this._busy = true;
    // An exporter built at its first export is built before the export's clock starts (ExportTarget.prepare).
    (this._exporter as ExportTarget<ReadableLogRecord[]>).prepare?.();
    let resolveCounted!: () => void;
    const counted = new Promise<void>((resolve) => (resolveCounted = resolve));
    this._counted = counted;
    let done = false;
    const count = (result: ExportResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      this._count(batch.length, result);
      resolveCounted();
    };
    const timer = setTimeout(() => count({ code: ExportResultCode.FAILED, error: new Error(`no answer within ${this._timeout} ms`) }), this._timeout);
    timer.unref();
    const answered = (result: ExportResult): void => {
      count(result);
      this._busy = false;
      // Not from inside the exporter's callback: an exporter that answers synchronously would recurse.
      queueMicrotask(() => this._schedule());
    };
    try {
      // The exporter's own HTTP request must not become a span of the app's trace.
      context.with(suppressTracing(context.active()), () => this._exporter.export(batch, answered));
    } catch (err) {
      answered({ code: ExportResultCode.FAILED, error: err as Error });
    }
    return counted;
  }

  private _count(n: number, result: ExportResult): void {
    if (result.code === ExportResultCode.SUCCESS) {
      this._exported.value += n;
      if (this._failing) {
        this._failing = false;
        warn(`log export to ${this._target} recovered; ${this._droppedWhileFailing} log records were dropped while it failed`);
        this._droppedWhileFailing = 0;
      }
      return;
    }
    this._droppedExportFailed.value += n;
    this._droppedWhileFailing += n;
    if (this._failing) return;
    this._failing = true;
    warn(
      `log export to ${this._target} failed (${result.error === undefined ? 'no reason given' : describeError(result.error)}); ` +
        'log records are dropped and counted in tenantscope_logs_dropped_total until an export succeeds'
    );
  }
}
