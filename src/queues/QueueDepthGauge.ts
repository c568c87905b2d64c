import { ROOT_CONTEXT, context } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import { clip, describeError, warnOnce } from '../core/log';
import { LabelValues } from '../core/metrics/LabelValues';
import type { GaugeFamily, GaugeSeries } from '../core/metrics/MetricFamily';
import type { MetricStore } from '../core/metrics/MetricStore';
import { METRIC_LABELS_FOLDED, METRIC_QUEUE_SIZE } from '../core/semconv';
import { getTenantCell } from '../core/tenant/TenantCell';
import type { TenantRegistry } from '../core/tenant/TenantRegistry';

/** Reports a queue's depth: a number of messages, or a promise of one. */
export type QueueDepthSource = () => number | Promise<number>;

/** Options of `observeQueueDepth`. */
export interface ObserveQueueDepthOptions {
  /** Tenant the queue belongs to (`tenant_id`); default: the current tenant where `observeQueueDepth` is called, often `unknown`. */
  tenant?: string;
}

export interface QueueDepthGaugeOptions {
  store: MetricStore;
  tenants: TenantRegistry;
  /** Distinct queue names before they fold into `_OTHER`. */
  maxLabelValues: number;
  /** Longest a source may take at a collection before its queue is left out of that collection. */
  timeoutMs: number;
}

/** More registrations than this are refused: an app registering per message would otherwise grow the list forever. */
const MAX_OBSERVERS = 1000;

interface Observer {
  readonly queue: string;
  readonly series: GaugeSeries;
  readonly source: QueueDepthSource;
  /** True while a call of `source` has not settled: it is not called again until it has (bounds calls in flight). */
  pending: boolean;
}

/**
 * `queue_size{queue_name,tenant_id}`: an observed gauge whose values come from the app's sources, polled only when a
 * reader collects (a Prometheus scrape, an OTLP export), never on a timer of ours. Every source runs with tracing
 * suppressed (a poll is not the app's traffic), at most one call in flight each, bounded by a timeout; a source that
 * throws, times out or answers something that is not a count leaves its queue out of that collection. Sources that
 * report the same queue and tenant are summed. Built once per pipeline in src/sdk.ts.
 */
export class QueueDepthGauge {
  private readonly _family: GaugeFamily;
  private readonly _tenants: TenantRegistry;
  private readonly _queues: LabelValues;
  private readonly _timeoutMs: number;
  private readonly _observers: Observer[] = [];
  private _inflight: Promise<void> | undefined;

  constructor(options: QueueDepthGaugeOptions) {
    this._family = options.store.gauge(METRIC_QUEUE_SIZE);
    this._tenants = options.tenants;
    this._queues = new LabelValues(options.maxLabelValues, options.store.counter(METRIC_LABELS_FOLDED).get(['queue_name']));
    this._timeoutMs = options.timeoutMs;
    options.store.addObserver(() => this.refresh());
  }

  /** Registers `source` for `queueName`; returns a function that stops observing it. Never throws. */
  observe(queueName: unknown, source: unknown, options?: ObserveQueueDepthOptions): () => void {
    try {
      if (typeof source !== 'function') {
        warnOnce('queue-depth-source', 'observeQueueDepth() needs a function that returns the depth; ignored');
        return noop;
      }
      if (this._observers.length >= MAX_OBSERVERS) {
        warnOnce('queue-depth-max', `observeQueueDepth() was called more than ${MAX_OBSERVERS} times; later queues are not observed`);
        return noop;
      }
      const tenant = options?.tenant;
      let index: number;
      if (tenant !== undefined) index = this._tenants.indexOfAttribute(tenant);
      else {
        const cell = getTenantCell(context.active());
        index = cell === undefined ? this._tenants.indexOfAttribute(undefined) : this._tenants.indexOf(cell);
      }
      const queue = this._queues.value(queueName);
      const series = this._family.get([queue, this._tenants.labelAt(index)]);
      if (this._observers.every((o) => o.series !== series)) series.value = NaN;
      const o: Observer = { queue, series, source: source as QueueDepthSource, pending: false };
      this._observers.push(o);
      return () => {
        const i = this._observers.indexOf(o);
        if (i !== -1) this._observers.splice(i, 1);
      };
    } catch (err) {
      warnOnce('queue-depth-observe', `observeQueueDepth() failed: ${describeError(err)}`);
      return noop;
    }
  }

  /**
   * Polls every source once and publishes the results together. Calls made while a poll is running share it, so
   * two readers collecting at once see one consistent set of values.
   */
  refresh(): Promise<void> {
    this._inflight ??= this._poll().finally(() => {
      this._inflight = undefined;
    });
    return this._inflight;
  }

  private async _poll(): Promise<void> {
    const observers = this._observers.slice();
    const values = await Promise.all(observers.map((o) => this._observeOne(o)));
    // Every series, stopped observers' included, starts from "no value"; then each answer is added in.
    for (const s of this._family.series) s.value = NaN;
    for (let i = 0; i < observers.length; i++) {
      const v = values[i];
      if (v === undefined) continue;
      const s = observers[i].series;
      s.value = Number.isNaN(s.value) ? v : s.value + v;
    }
  }

  /** One source's answer, or undefined when it has none in time. */
  private _observeOne(o: Observer): Promise<number | undefined> {
    if (o.pending) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      let settled = false;
      const finish = (v: number | undefined): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(v);
      };
      const timer = setTimeout(() => {
        warnOnce(`queue-depth-timeout:${o.queue}`, `queue depth of "${clip(o.queue)}" took longer than ${this._timeoutMs} ms; left out of this collection`);
        finish(undefined);
      }, this._timeoutMs);
      timer.unref();
      o.pending = true;
      let result: unknown;
      try {
        // A poll is tenantscope's work, not the app's: no spans (an LLEN per scrape would be a trace each).
        result = context.with(suppressTracing(ROOT_CONTEXT), o.source);
      } catch (err) {
        o.pending = false;
        warnOnce(`queue-depth-throw:${o.queue}`, `queue depth of "${clip(o.queue)}" failed: ${describeError(err)}`);
        finish(undefined);
        return;
      }
      Promise.resolve(result).then(
        (v) => {
          o.pending = false;
          if (typeof v === 'number' && Number.isFinite(v) && v >= 0) finish(v);
          else {
            warnOnce(`queue-depth-value:${o.queue}`, `queue depth of "${clip(o.queue)}" is not a count (${typeof v}); left out`);
            finish(undefined);
          }
        },
        (err: unknown) => {
          o.pending = false;
          warnOnce(`queue-depth-reject:${o.queue}`, `queue depth of "${clip(o.queue)}" failed: ${describeError(err)}`);
          finish(undefined);
        }
      );
    });
  }
}

function noop(): void {}
