import { context } from '@opentelemetry/api';
import { ExportResultCode, suppressTracing, type ExportResult } from '@opentelemetry/core';
import { describeError, warn } from '../log';
import type { CounterSeries } from '../metrics/MetricFamily';
import type { MetricStore } from '../metrics/MetricStore';
import type { LazyExporter } from './LazyExporter';
import {
  OUTCOME_DELIVERED,
  OUTCOME_DROPPED,
  OUTCOME_FAILED,
  REASON_NETWORK,
  REASON_OTHER,
  REASON_REFUSED,
  REASON_SHUTDOWN_DEADLINE,
  REASON_TIMEOUT,
  type MetricSpec,
} from '../semconv';

/** Anything with the SDK exporters' `export(items, callback)`. */
export interface ExportTarget<T> {
  export(items: T, resultCallback: (result: ExportResult) => void): void;
  /**
   * Gets the target ready before the export's clock starts (a {@link LazyExporter} builds its exporter here), so the
   * time a first export spends loading the exporter is not counted against the collector. Never throws.
   */
  prepare?(): void;
}

export interface ExportGuardOptions {
  store: MetricStore;
  /** Counter of items in export calls, and the outcome family (`outcome`, `reason`). */
  attemptedSpec: MetricSpec;
  outcomeSpec: MetricSpec;
  /** Words for log lines: `span` / `metric` export, `spans` / `metric points`. */
  signal: string;
  items: string;
  /** Where exports go, for log lines. */
  endpoint: string;
  /** Least time between two "failing" lines when exports flap (default 60 s). */
  relogMillis?: number;
}

/** The export in flight: what it carries and what the transport learned about it. */
export interface ExportAttempt {
  readonly count: number;
  /** Why it failed, once the transport knows (`refused`, `timeout`, `http_503`, …). */
  reason: string | undefined;
  detail: string | undefined;
  /** Set when the guard gave up on it; the transport stops at once and starts nothing more. */
  aborted: string | undefined;
  /** Cancels the transport's current request or retry wait. */
  cancel: (() => void) | undefined;
  /** Settles the export (once): delivered, or failed with `err`. */
  readonly settle: (ok: boolean, err: unknown) => void;
}

/** Hands `items` to `target` (a function of its own, so that no closure of `ExportGuard.export` holds them). */
function exportThrough<T>(target: ExportTarget<T>, items: T, resultCallback: (result: ExportResult) => void): void {
  target.export(items, resultCallback);
}

/**
 * One signal's exports: at most one in flight, each bounded by a deadline after which it is abandoned (and its
 * request destroyed, through {@link ExportAttempt.cancel}), every item counted by outcome, and two log lines per
 * outage — one naming the endpoint and the error when exports start failing, one when they recover — instead of one
 * per failed batch. Exports run with tracing suppressed, so they never make spans of their own.
 */
export class ExportGuard {
  private readonly _o: ExportGuardOptions;
  private readonly _attempted: CounterSeries;
  private readonly _outcomes;
  private readonly _series = new Map<string, CounterSeries>();
  private _current: ExportAttempt | undefined;
  private _failing = false;
  private _failedExports = 0;
  private _lostItems = 0;
  private _lastFailingLog = -Infinity;

  constructor(options: ExportGuardOptions) {
    this._o = options;
    this._attempted = options.store.counter(options.attemptedSpec).get([]);
    this._outcomes = options.store.counter(options.outcomeSpec);
    this._series.set(OUTCOME_DELIVERED, this._outcomes.get([OUTCOME_DELIVERED, '']));
  }

  /** The export in flight, if any (the transport reads and annotates it). */
  get current(): ExportAttempt | undefined {
    return this._current;
  }

  /** True while exports fail (between the "failing" and the "recovered" line). */
  get failing(): boolean {
    return this._failing;
  }

  /** Words for `items` in log lines. */
  get items(): string {
    return this._o.items;
  }

  /** Items counted so far with this outcome and reason. */
  counted(outcome: string, reason: string): number {
    return this._series.get(outcome + '/' + reason)?.value ?? 0;
  }

  /** Counts `n` items dropped before any export, for `reason`. */
  drop(reason: string, n: number): void {
    if (n > 0) this._count(OUTCOME_DROPPED, reason, n);
  }

  /**
   * Exports `items` (`count` of them) through `target` and resolves with whether they were delivered; never
   * rejects. Refuses (resolves false, counted as dropped with `busyReason`) while another export is in flight.
   */
  export<T>(target: ExportTarget<T>, items: T, count: number, timeoutMillis: number): Promise<boolean> {
    if (this._current !== undefined) {
      this.drop(REASON_OTHER, count);
      return Promise.resolve(false);
    }
    target.prepare?.();
    this._attempted.value += count;
    // No function made here refers to `items`: once the exporter has serialized them (synchronously, in upstream's
    // OTLP exporters), nothing here holds the batch while its request is in flight, so its spans can be collected
    // young instead of living until the collector answers.
    let resolve!: (ok: boolean) => void;
    const settled = new Promise<boolean>((r) => (resolve = r));
    let done = false;
    const finish = (ok: boolean, err: unknown): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (this._current === attempt) this._current = undefined;
      if (ok) this._delivered(count);
      else this._failed(attempt, err);
      resolve(ok);
    };
    // `settle` lets abort() end the export even when the exporter never calls back.
    const attempt: ExportAttempt = { count, reason: undefined, detail: undefined, aborted: undefined, cancel: undefined, settle: finish };
    this._current = attempt;
    const timer = setTimeout(() => this.abort(REASON_TIMEOUT), Math.max(1, timeoutMillis));
    timer.unref();
    try {
      context.with(suppressTracing(context.active()), exportThrough, undefined, target, items, (r: ExportResult) =>
        finish(r.code === ExportResultCode.SUCCESS, r.error)
      );
    } catch (err) {
      finish(false, err);
    }
    return settled;
  }

  /** Gives up on the export in flight: its request is cancelled and its items counted as failed for `reason`. */
  abort(reason: string): void {
    const a = this._current;
    if (a === undefined || a.aborted !== undefined) return;
    a.aborted = reason;
    a.reason = reason;
    try {
      a.cancel?.();
    } catch {
      // cancelling is best effort; the export is settled below either way
    }
    a.settle(false, undefined);
  }

  private _delivered(count: number): void {
    (this._series.get(OUTCOME_DELIVERED) as CounterSeries).value += count;
    if (!this._failing) return;
    this._failing = false;
    if (this._failedExports === 0) {
      warn(`${this._o.signal} export to ${this._o.endpoint} recovered`);
      return;
    }
    warn(
      `${this._o.signal} export to ${this._o.endpoint} recovered after ${this._failedExports} failed export(s); ${this._lostItems} ${this._o.items} were not delivered`
    );
    this._failedExports = 0;
    this._lostItems = 0;
  }

  /**
   * Records why the export in flight failed an attempt (the transport calls this, before any retry), and logs the
   * "failing" line when this is the first failure since exports last worked.
   */
  noteFailure(a: ExportAttempt, reason: string, detail: string): void {
    if (a.aborted !== undefined) return;
    a.reason = reason;
    a.detail = detail;
    this._startFailing(reason, detail);
  }

  private _failed(a: ExportAttempt, err: unknown): void {
    const reason = a.reason ?? classify(err);
    this._count(OUTCOME_FAILED, reason, a.count);
    this._failedExports++;
    this._lostItems += a.count;
    // A shutdown deadline is reported by whoever set it, with the totals.
    if (reason !== REASON_SHUTDOWN_DEADLINE) this._startFailing(reason, a.detail ?? (err === undefined ? reason : describeError(err)));
  }

  private _startFailing(reason: string, detail: string): void {
    if (this._failing) return;
    this._failing = true;
    const now = performance.now();
    if (now - this._lastFailingLog < (this._o.relogMillis ?? 60_000)) return;
    this._lastFailingLog = now;
    warn(
      `${this._o.signal} export to ${this._o.endpoint} is failing (${reason}: ${detail}); further failures are not logged but counted in ${this._o.outcomeSpec.promName}{outcome="failed"} until it recovers`
    );
  }

  private _count(outcome: string, reason: string, n: number): void {
    const key = outcome + '/' + reason;
    let s = this._series.get(key);
    if (s === undefined) this._series.set(key, (s = this._outcomes.get([outcome, reason])));
    s.value += n;
  }
}

/** The reason label for an export error the transport did not classify. */
export function classify(err: unknown): string {
  if (err === undefined || err === null) return REASON_OTHER;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'number' && Number.isInteger(code) && code >= 100 && code <= 599) return `http_${code}`;
  if (code === 'ECONNREFUSED') return REASON_REFUSED;
  if (code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT') return REASON_TIMEOUT;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return REASON_NETWORK;
  if (err instanceof Error && /timed? ?out/i.test(err.message)) return REASON_TIMEOUT;
  return REASON_OTHER;
}
