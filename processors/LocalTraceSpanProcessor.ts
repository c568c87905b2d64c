import { SpanKind, SpanStatusCode, TraceFlags, trace, type Context, type SpanContext } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace';
import { exceptionTypeOf, setRequestErrorType } from '../src/core/ErrorType';
import { markKept } from '../src/core/ExportMark';
import { describeError, warnOnce } from '../src/core/log';
import type { CounterSeries } from '../src/core/metrics/MetricFamily';
import type { MetricStore } from '../src/core/metrics/MetricStore';
import {
  ATTR_MODEL_COST_USD,
  ATTR_TENANT_ID,
  METRIC_SPANS_DROPPED,
  METRIC_SPANS_EXPORTED,
  METRIC_SPANS_SEEN,
  METRIC_TRACES_FLUSHED_EARLY,
} from '../src/core/semconv';
import { tenantCellOf } from '../src/core/tenant/TenantCell';

export interface KeepRules {
  /** Keep a local trace that has a span with status ERROR. */
  errors: boolean;
  /** Keep a local trace whose server span took longer than this (ms); 0 turns the rule off. */
  slowServerMs: number;
  /** Keep a local trace with a model call costing more than this (USD); 0 turns the rule off. */
  modelCostUsd: number;
}

export interface LocalTraceBounds {
  /** Ended spans one local trace may hold before it is decided early. */
  maxSpansPerTrace: number;
  /** Ended spans all local traces together may hold; past it the oldest is decided early. */
  maxBufferedSpans: number;
  /** Age (ms) after which a local trace whose root has not ended is decided early. */
  maxAgeMs: number;
}

export interface LocalTraceSpanProcessorOptions {
  /** Processors that derive metrics; they see every span once, after its local trace is decided. */
  metricProcessors: SpanProcessor[];
  /** Export processors (batch/simple); they get sampled spans and spans of kept traces. */
  exportProcessors: SpanProcessor[];
  /** False under `always_off`: nothing is exported at all, whatever the rules. */
  exportEnabled: boolean;
  keep: KeepRules;
  bounds: LocalTraceBounds;
  store: MetricStore;
}

const LOCAL_TRACE = Symbol('tenantscope.localTrace');
/**
 * A decided local trace's span list: one shared empty array, not a new literal per trace (a decided trace stays
 * reachable from its spans in the export queue, and V8 would pretenure that literal's site: src/core/SiteFree.ts).
 * Nothing is pushed to a decided trace.
 */
const DECIDED: ReadableSpan[] = Object.freeze([]) as unknown as ReadableSpan[];
type WithLocalTrace = { [LOCAL_TRACE]?: LocalTrace };

/** The spans of one trace that run in this process under one local root. */
class LocalTrace {
  spans: ReadableSpan[] = [];
  /** Why the trace is kept by rule, once a span matched one. */
  keep: string | undefined;
  /** True once the root ended or a bound forced the decision; later spans go straight through. */
  decided = false;
  /**
   * Type of the last exception that escaped into the framework: recorded on a server, internal or consumer span
   * whose status is ERROR (an express handler that threw, the server span itself). Client spans do not count:
   * the app may have handled their errors.
   */
  errorType: string | undefined;
  /** Neighbours in the processor's list of open local traces (see `OpenTraces`); undefined when not in it. */
  prev: LocalTrace | undefined = undefined;
  next: LocalTrace | undefined = undefined;
  open = false;
  constructor(
    readonly root: Span,
    readonly startedAt: number
  ) {}
}

/**
 * The local traces whose root has not ended, oldest first: a doubly linked list through the traces themselves.
 * Not a `Map`: V8 shrinks a Map's table (a runtime call allocating a new one) on a `delete` that leaves it less than
 * half full, which a map of open requests rising from 0 to 1 and back hits on nearly every request (2.3 µs of a
 * 7 µs span path in the span-path CPU profile, `Map.delete` in `onEnd`).
 */
class OpenTraces {
  oldest: LocalTrace | undefined = undefined;
  private _newest: LocalTrace | undefined = undefined;
  size = 0;

  add(lt: LocalTrace): void {
    lt.prev = this._newest;
    lt.next = undefined;
    if (this._newest === undefined) this.oldest = lt;
    else this._newest.next = lt;
    this._newest = lt;
    lt.open = true;
    this.size++;
  }

  delete(lt: LocalTrace): void {
    if (!lt.open) return;
    const { prev, next } = lt;
    if (prev === undefined) this.oldest = next;
    else prev.next = next;
    if (next === undefined) this._newest = prev;
    else next.prev = prev;
    lt.prev = lt.next = undefined;
    lt.open = false;
    this.size--;
  }
}

/**
 * Holds each local trace's ended spans until its local root ends (bounded by count and age), then: stamps the
 * request's final tenant on every span (a tenant set after an auth query reaches that query's span), feeds every
 * span to the metric processors (so metrics are exact at any sampling ratio), and hands to the exporters the
 * spans the sampler sampled plus whole local traces a keep rule matched (error, slow server span, costly model
 * call). Unsampled spans are never copied or serialised; kept ones are exported through a read-only view that
 * reports them as sampled, since the stock batch processor drops unsampled spans.
 */
export class LocalTraceSpanProcessor implements SpanProcessor {
  private readonly _metrics: SpanProcessor[];
  private readonly _exporters: SpanProcessor[];
  private readonly _exportEnabled: boolean;
  private readonly _keep: KeepRules;
  private readonly _bounds: LocalTraceBounds;
  /** Local traces whose root has not ended, oldest first. */
  private readonly _open = new OpenTraces();
  private _buffered = 0;
  private readonly _timer: NodeJS.Timeout;
  private readonly _seen: CounterSeries;
  private readonly _exportedSampled: CounterSeries;
  private readonly _exportedByRule = new Map<string, CounterSeries>();
  private readonly _droppedNotSampled: CounterSeries;
  private readonly _droppedExportOff: CounterSeries;
  private readonly _early = new Map<string, CounterSeries>();

  constructor(options: LocalTraceSpanProcessorOptions) {
    this._metrics = options.metricProcessors;
    this._exporters = options.exportProcessors;
    this._exportEnabled = options.exportEnabled && options.exportProcessors.length > 0;
    this._keep = options.keep;
    this._bounds = options.bounds;
    const store = options.store;
    this._seen = store.counter(METRIC_SPANS_SEEN).get([]);
    const exported = store.counter(METRIC_SPANS_EXPORTED);
    this._exportedSampled = exported.get(['sampled']);
    for (const r of ['error', 'slow', 'cost']) this._exportedByRule.set(r, exported.get([r]));
    const dropped = store.counter(METRIC_SPANS_DROPPED);
    this._droppedNotSampled = dropped.get(['not_sampled']);
    this._droppedExportOff = dropped.get(['export_off']);
    const early = store.counter(METRIC_TRACES_FLUSHED_EARLY);
    for (const r of ['max_spans', 'max_age', 'max_buffered', 'shutdown']) this._early.set(r, early.get([r]));
    this._timer = setInterval(() => this._sweep(), Math.max(100, Math.min(5000, this._bounds.maxAgeMs / 2)));
    this._timer.unref();
  }

  onStart(span: Span, parentContext: Context): void {
    try {
      const parent = trace.getSpan(parentContext) as WithLocalTrace | undefined;
      let lt = parent?.[LOCAL_TRACE];
      if (lt !== undefined) {
        (span as unknown as WithLocalTrace)[LOCAL_TRACE] = lt;
        return;
      }
      // No local parent (a root, or a remote parent): this span is a local root. It is linked before older
      // traces are bounded, so a failure there cannot leave it (and its children) outside its local trace.
      lt = new LocalTrace(span, performance.now());
      (span as unknown as WithLocalTrace)[LOCAL_TRACE] = lt;
      this._open.add(lt);
      this._bound(lt.startedAt);
    } catch (err) {
      warnOnce('localtrace-onStart', `span buffering failed at a span start: ${describeError(err)}`);
    }
  }

  onEnd(span: ReadableSpan): void {
    try {
      this._seen.value++;
      const lt = (span as unknown as WithLocalTrace)[LOCAL_TRACE];
      if (lt === undefined) {
        this._finish(span, undefined);
        return;
      }
      if (span.status.code === SpanStatusCode.ERROR && span.kind !== SpanKind.CLIENT && span.kind !== SpanKind.PRODUCER) {
        const t = exceptionTypeOf(span);
        if (t !== undefined) lt.errorType = t;
      }
      if (lt.decided) {
        // A span ending after its local trace was decided follows that decision: a late error cannot
        // export it alone, since the rest of its local trace is gone already.
        if (lt.errorType !== undefined && span === (lt.root as unknown as ReadableSpan)) setRequestErrorType(span, lt.errorType);
        this._finish(span, lt);
        return;
      }
      if (lt.keep === undefined) {
        try {
          lt.keep = this._keepReason(span);
        } catch (err) {
          // The span is still buffered and its trace still decided; only this span cannot make it kept.
          warnOnce('localtrace-keep', `keep rules were not evaluated for a span: ${describeError(err)}`);
        }
      }
      if (span === (lt.root as unknown as ReadableSpan) && lt.spans.length === 0) {
        // A local trace of one span (or whose other spans have not ended): what _decide does, without the buffer.
        lt.decided = true;
        this._open.delete(lt);
        if (lt.errorType !== undefined) setRequestErrorType(span, lt.errorType);
        this._finish(span, lt);
        return;
      }
      lt.spans.push(span);
      this._buffered++;
      if (span === (lt.root as unknown as ReadableSpan)) this._decide(lt, undefined);
      else if (lt.spans.length >= this._bounds.maxSpansPerTrace) this._decide(lt, 'max_spans');
      else if (this._buffered > this._bounds.maxBufferedSpans) this._decideOldest('max_buffered');
    } catch (err) {
      warnOnce('localtrace-onEnd', `span buffering failed at a span end: ${describeError(err)}`);
    }
  }

  /** Spans currently held, waiting for their local root (for tests and self-metrics). */
  get bufferedSpans(): number {
    return this._buffered;
  }

  /** Local traces whose root has not ended. */
  get openTraces(): number {
    return this._open.size;
  }

  private _keepReason(span: ReadableSpan): string | undefined {
    const k = this._keep;
    if (k.errors && span.status.code === SpanStatusCode.ERROR) return 'error';
    if (k.slowServerMs > 0 && span.kind === SpanKind.SERVER) {
      const d = span.duration;
      if (d[0] * 1e3 + d[1] / 1e6 > k.slowServerMs) return 'slow';
    }
    if (k.modelCostUsd > 0) {
      const c = span.attributes[ATTR_MODEL_COST_USD];
      if (typeof c === 'number' && c > k.modelCostUsd) return 'cost';
    }
    return undefined;
  }

  /** Enforces the age and count bounds when a new local trace starts. */
  private _bound(now: number): void {
    for (let lt = this._open.oldest; lt !== undefined; ) {
      if (now - lt.startedAt <= this._bounds.maxAgeMs && this._open.size <= this._bounds.maxBufferedSpans) break;
      const next = lt.next;
      this._decide(lt, now - lt.startedAt > this._bounds.maxAgeMs ? 'max_age' : 'max_buffered');
      lt = next;
    }
  }

  private _sweep(): void {
    try {
      this._bound(performance.now());
    } catch (err) {
      warnOnce('localtrace-sweep', `span buffer sweep failed: ${describeError(err)}`);
    }
  }

  private _decideOldest(reason: string): void {
    for (let lt = this._open.oldest; lt !== undefined; lt = lt.next) {
      if (lt.spans.length === 0) continue;
      this._decide(lt, reason);
      return;
    }
  }

  /** Decides a local trace: its root ended (reason undefined) or a bound was hit. */
  private _decide(lt: LocalTrace, early: string | undefined): void {
    if (early !== undefined) {
      const c = this._early.get(early);
      if (c !== undefined) c.value++;
    }
    lt.decided = true;
    this._open.delete(lt);
    // The root is the last span of its batch: the metric processors read the error type off it (errors_total).
    if (early === undefined && lt.errorType !== undefined) setRequestErrorType(lt.root, lt.errorType);
    const spans = lt.spans;
    lt.spans = DECIDED;
    this._buffered -= spans.length;
    for (let i = 0; i < spans.length; i++) this._finish(spans[i], lt);
  }

  /**
   * Hands one span on: final tenant, metric processors, export. Never throws: each step (and each metric
   * processor) is guarded on its own, so a span that fails one step still gets the others, and a batch being
   * decided (`_decide`) never loses the spans after a bad one.
   */
  private _finish(span: ReadableSpan, lt: LocalTrace | undefined): void {
    try {
      // The request's final tenant, also on spans that ended before the app called setTenant. The span has
      // ended, so its attributes object is written directly (setAttribute would refuse).
      const cell = tenantCellOf(span);
      if (cell !== undefined && span.attributes[ATTR_TENANT_ID] !== cell.id) {
        (span.attributes as Record<string, unknown>)[ATTR_TENANT_ID] = cell.id;
      }
      // An unsampled span of a kept trace is marked before the metric processors see it: they may take an exemplar
      // only from a span that is exported (src/core/ExportMark.ts).
      const keep = lt?.keep;
      if (keep !== undefined && this._exportEnabled && (span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) markKept(span, keep);
    } catch (err) {
      warnOnce('localtrace-tenant', `the final tenant was not stamped on a span: ${describeError(err)}`);
    }
    for (let i = 0; i < this._metrics.length; i++) {
      try {
        this._metrics[i].onEnd(span);
      } catch (err) {
        warnOnce('localtrace-metrics', `a metric processor skipped a span: ${describeError(err)}`);
      }
    }
    try {
      this._export(span, lt);
    } catch (err) {
      warnOnce('localtrace-export', `a span was not exported: ${describeError(err)}`);
    }
  }

  private _export(span: ReadableSpan, lt: LocalTrace | undefined): void {
    if (!this._exportEnabled) {
      this._droppedExportOff.value++;
      return;
    }
    const sc = span.spanContext();
    if ((sc.traceFlags & TraceFlags.SAMPLED) !== 0) {
      this._exportedSampled.value++;
      for (let i = 0; i < this._exporters.length; i++) this._exporters[i].onEnd(span);
      return;
    }
    const keep = lt?.keep;
    if (keep === undefined) {
      this._droppedNotSampled.value++;
      return;
    }
    const c = this._exportedByRule.get(keep);
    if (c !== undefined) c.value++;
    markKept(span, keep);
    const view = sampledView(span, sc);
    for (let i = 0; i < this._exporters.length; i++) this._exporters[i].onEnd(view);
  }

  async forceFlush(): Promise<void> {
    await Promise.all(this._exporters.map((e) => e.forceFlush()));
  }

  async shutdown(): Promise<void> {
    clearInterval(this._timer);
    while (this._open.oldest !== undefined) this._decide(this._open.oldest, 'shutdown');
    await Promise.all(this._exporters.map((e) => e.shutdown()));
  }
}

/** A read-only view of an ended span that reports it as sampled; everything else reads through to the span. */
function sampledView(span: ReadableSpan, sc: SpanContext): ReadableSpan {
  const flagged: SpanContext = { ...sc, traceFlags: sc.traceFlags | TraceFlags.SAMPLED };
  return Object.create(span, { spanContext: { value: () => flagged } }) as ReadableSpan;
}
