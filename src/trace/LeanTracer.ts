import {
  context as apiContext,
  diag,
  isSpanContextValid,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type AttributeValue,
  type Context,
  type Exception,
  type HrTime,
  type Link,
  type Span as ApiSpan,
  type SpanContext,
  type SpanOptions,
  type SpanStatus,
  type TimeInput,
  type Tracer,
} from '@opentelemetry/api';
import {
  addHrTimes,
  AddAttributeDecision,
  cleanAttributes,
  cleanSimpleAttributes,
  hrTime,
  hrTimeDuration,
  isTimeInput,
  isTimeInputHrTime,
  maybeAddAttribute,
  millisToHrTime,
} from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import {
  SamplingDecision,
  type IdGenerator,
  TracerProvider,
  type ReadableSpan,
  type Sampler,
  type SamplingResult,
  type SpanLimits,
  type SpanProcessor,
  type TimedEvent,
  type TracerProviderOptions,
} from '@opentelemetry/sdk-trace';
import { rememberExceptionClass } from '../core/ErrorType';
import { describeError, warnOnce } from '../core/log';
import { EVENT_EXCEPTION } from '../core/semconv';

/** The span limits the provider applies; sdk-trace's defaults, passed to it explicitly so both paths use the same. */
export const SPAN_LIMITS: Required<SpanLimits> = {
  attributeCountLimit: 128,
  attributeValueLengthLimit: Infinity,
  eventCountLimit: 128,
  linkCountLimit: 128,
  attributePerEventCountLimit: 128,
  attributePerLinkCountLimit: 128,
};

const ATTR_EXCEPTION_MESSAGE = 'exception.message';
const ATTR_EXCEPTION_STACKTRACE = 'exception.stacktrace';
const ATTR_EXCEPTION_TYPE = 'exception.type';

/** The status every span starts with; never mutated (setStatus replaces it, as the SDK's span does). */
const UNSET: SpanStatus = Object.freeze({ code: SpanStatusCode.UNSET });
/** Start value of `events` and `links` until a span gets its first one; never written (the span replaces it). */
const NONE: never[] = Object.freeze([]) as unknown as never[];

/**
 * The sampler the provider runs: the configured one, with a decision for a span it does not sample changed from
 * "not recorded" to "recorded" (so metrics stay exact), like sdk-trace's `createAlwaysRecordSampler`, except while a
 * {@link LeanTracer} asks: then sdk-trace is told "not recorded" whatever the configured sampler decided (with the
 * configured sampler's trace state), so it returns its cheap non-recording span, and the sampler keeps the decision and
 * what it was given (context, kind, start attributes, links) for the lean tracer to build a {@link LeanSpan} from.
 * Everything happens synchronously inside one `startSpan`.
 */
export class LeanSampler implements Sampler {
  /** Set by a lean tracer just before it calls sdk-trace's `startSpan`; the next decision consumes it. */
  armed = false;
  /** True when an armed decision was made: the fields below are the span's. */
  hit = false;
  /** The configured sampler's decision was RECORD_AND_SAMPLED: the span's trace flags are SAMPLED. */
  sampled = false;
  ctx: Context | undefined = undefined;
  kind: SpanKind = SpanKind.INTERNAL;
  attributes: Attributes | undefined = undefined;
  extra: Attributes | undefined = undefined;
  links: Link[] | undefined = undefined;
  /** What sdk-trace is told for an armed decision the configured sampler recorded; rewritten at each use. */
  private readonly _notRecord: { decision: SamplingDecision; traceState: SamplingResult['traceState'] } = {
    decision: SamplingDecision.NOT_RECORD,
    traceState: undefined,
  };

  constructor(private readonly _inner: Sampler) {}

  shouldSample(ctx: Context, traceId: string, name: string, kind: SpanKind, attributes: Attributes, links: Link[]): SamplingResult {
    const armed = this.armed;
    this.armed = false;
    const r = this._inner.shouldSample(ctx, traceId, name, kind, attributes, links);
    if (armed) {
      this.hit = true;
      this.sampled = r.decision === SamplingDecision.RECORD_AND_SAMPLED;
      this.ctx = ctx;
      this.kind = kind;
      this.attributes = attributes;
      this.extra = r.attributes;
      this.links = links;
      if (r.decision === SamplingDecision.NOT_RECORD) return r;
      // sdk-trace's span context then has the trace state sdk-trace would have given the recorded span (this one, or
      // the parent's when undefined); the lean tracer sets the flags.
      const nr = this._notRecord;
      nr.traceState = r.traceState;
      return nr;
    }
    if (r.decision !== SamplingDecision.NOT_RECORD) return r;
    return { decision: SamplingDecision.RECORD, attributes: r.attributes, traceState: r.traceState };
  }

  toString(): string {
    return `LeanSampler{${this._inner.toString()}}`;
  }
}

/** What every lean span of one provider shares. */
interface LeanPipeline {
  readonly sampler: LeanSampler;
  readonly processors: readonly SpanProcessor[];
  readonly resource: Resource;
  readonly limits: Required<SpanLimits>;
}

/**
 * sdk-trace's `TracerProvider`, whose tracers build a {@link LeanSpan} for every span (when `lean` is on): sampled or
 * not, with the span context sdk-trace would give it. The span processors see what sdk-trace's spans would show them:
 * every span is recorded, whatever the sampler decides. With `lean` off it is the stock provider with an always-record
 * sampler, and every span is sdk-trace's.
 */
export class TenantScopeTracerProvider extends TracerProvider {
  private readonly _pipeline: LeanPipeline | undefined;
  private readonly _lean = new Map<Tracer, Tracer>();

  constructor(options: { resource: Resource; sampler: Sampler; spanProcessors: SpanProcessor[]; lean: boolean; idGenerator?: IdGenerator }) {
    const sampler = new LeanSampler(options.sampler);
    const sdkOptions: TracerProviderOptions = {
      resource: options.resource,
      sampler,
      spanProcessors: options.spanProcessors,
      spanLimits: { ...SPAN_LIMITS },
      idGenerator: options.idGenerator,
    };
    super(sdkOptions);
    this._pipeline = options.lean
      ? { sampler, processors: [...options.spanProcessors], resource: options.resource, limits: SPAN_LIMITS }
      : undefined;
  }

  override getTracer(name: string, version?: string, options?: { schemaUrl?: string }): Tracer {
    const sdk = super.getTracer(name, version, options);
    if (this._pipeline === undefined) return sdk;
    let t = this._lean.get(sdk);
    if (t === undefined) this._lean.set(sdk, (t = new LeanTracer(sdk, this._pipeline)));
    return t;
  }
}

/**
 * A tracer in front of sdk-trace's: the same spans, each a {@link LeanSpan}. sdk-trace's `startSpan` still runs (ids,
 * parent, suppression, link and attribute cleaning, the sampler) and returns its non-recording span; the lean span is
 * built from that span's context and what the sampler kept.
 */
export class LeanTracer implements Tracer {
  private readonly _scope: ReadableSpan['instrumentationScope'];

  constructor(
    private readonly _sdk: Tracer,
    private readonly _p: LeanPipeline
  ) {
    this._scope = (_sdk as unknown as { instrumentationScope: ReadableSpan['instrumentationScope'] }).instrumentationScope;
  }

  startSpan(name: string, options: SpanOptions = {}, ctx: Context = apiContext.active()): ApiSpan {
    const s = this._p.sampler;
    s.armed = true;
    let span: ApiSpan;
    try {
      span = this._sdk.startSpan(name, options, ctx);
    } finally {
      s.armed = false;
    }
    // No decision: tracing suppressed, sdk-trace's invalid span.
    if (!s.hit) return span;
    s.hit = false;
    // The flags sdk-trace gives a span by its sampler's decision (its span context is otherwise the one sdk-trace would
    // give the recorded span: ids, trace state). Set first, so the fallback below propagates the decision too. The
    // object is the one sdk-trace just made for this span.
    if (s.sampled) (span.spanContext() as { traceFlags: number }).traceFlags = TraceFlags.SAMPLED;
    try {
      return this._lean(span, name, options);
    } catch (err) {
      // Never into the app: the span stays sdk-trace's non-recording one (not in the metrics), the app goes on.
      warnOnce('lean-startSpan', `a span was not recorded: ${describeError(err)}`);
      return span;
    }
  }

  /** The lean span for `span`, the non-recording span sdk-trace returned, from what the sampler kept. */
  private _lean(span: ApiSpan, name: string, options: SpanOptions): LeanSpan {
    const s = this._p.sampler;
    const parentCtx = s.ctx as Context;
    const kind = s.kind;
    let attributes = s.attributes as Attributes;
    const extra = s.extra;
    const links = s.links as Link[];
    s.ctx = s.attributes = s.extra = s.links = undefined;
    // What sdk-trace does to the start attributes of a span it records: its first cleaning (before the sampler) drops
    // invalid keys and values and counts them; then the sampler's attributes are added and the span limits applied.
    let count = 0;
    for (const _ in attributes) count++;
    let dropped = 0;
    const given = options.attributes;
    if (given != null && typeof given === 'object') {
      // What it read (Object.entries: own keys), less what it kept; counted without the own-key test first, which
      // can only count more (an inherited enumerable key, in practice never).
      let n = 0;
      for (const k in given) if (given[k] !== undefined) n++;
      if (n !== count) {
        n = 0;
        for (const k in given) if (given[k] !== undefined && Object.hasOwn(given, k)) n++;
        dropped = n - count;
      }
    }
    const limits = this._p.limits;
    if (extra !== undefined || count > limits.attributeCountLimit || limits.attributeValueLengthLimit !== Infinity) {
      const cleaned = cleanAttributes(Object.assign(attributes, extra), limits);
      attributes = cleaned.attributes ?? {};
      dropped += cleaned.droppedAttributesCount ?? 0;
      count = 0;
      for (const _ in attributes) count++;
    }
    const parent = trace.getSpan(parentCtx)?.spanContext();
    return new LeanSpan(
      this._p,
      this._scope,
      span.spanContext(),
      parent !== undefined && isSpanContextValid(parent) ? parent : undefined,
      name,
      kind,
      attributes,
      count,
      dropped,
      links,
      options.startTime,
      parentCtx
    );
  }

  startActiveSpan<F extends (span: ApiSpan) => unknown>(name: string, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: ApiSpan) => unknown>(name: string, opts: SpanOptions, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: ApiSpan) => unknown>(name: string, opts: SpanOptions, ctx: Context, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: ApiSpan) => unknown>(
    name: string,
    arg2?: F | SpanOptions,
    arg3?: F | Context,
    arg4?: F
  ): ReturnType<F> | undefined {
    // As sdk-trace's Tracer.startActiveSpan.
    let opts: SpanOptions | undefined;
    let ctx: Context | undefined;
    let fn: F;
    if (arguments.length < 2) return undefined;
    else if (arguments.length === 2) fn = arg2 as F;
    else if (arguments.length === 3) {
      opts = arg2 as SpanOptions;
      fn = arg3 as F;
    } else {
      opts = arg2 as SpanOptions;
      ctx = arg3 as Context;
      fn = arg4 as F;
    }
    const parentContext = ctx ?? apiContext.active();
    const span = this.startSpan(name, opts, parentContext);
    const contextWithSpanSet = trace.setSpan(parentContext, span);
    return apiContext.with(contextWithSpanSet, fn as (s: ApiSpan) => ReturnType<F>, undefined, span);
  }
}

/**
 * A recorded span, sampled or not: what the span processors and the API need, built for a fraction of sdk-trace's
 * `SpanImpl` (no second attribute cleaning, no processor fan-out object, empty events and links shared, times as the
 * SDK computes them). Its behaviour follows `SpanImpl` method by method (limits, ended-span warnings, times), and it is
 * a complete `ReadableSpan`: the export processors get it as they would get an SDK span (a span the sampler did not
 * sample, when a keep rule exports its local trace, through the local-trace processor's sampled view).
 */
export class LeanSpan implements ApiSpan, ReadableSpan {
  name: string;
  readonly kind: SpanKind;
  readonly parentSpanContext: SpanContext | undefined;
  readonly attributes: Attributes;
  links: Link[];
  events: TimedEvent[] = NONE;
  readonly startTime: HrTime;
  endTime: HrTime = [0, 0];
  status: SpanStatus = UNSET;
  readonly instrumentationScope: ReadableSpan['instrumentationScope'];
  private readonly _p: LeanPipeline;
  private readonly _spanContext: SpanContext;
  private _duration: HrTime = [-1, -1];
  private _ended = false;
  private _attributesCount: number;
  private _droppedAttributesCount: number;
  private _droppedEventsCount = 0;
  private _droppedLinksCount = 0;
  private readonly _now: number;
  private readonly _perfStart: number;
  private readonly _startTimeProvided: boolean;

  constructor(
    p: LeanPipeline,
    scope: ReadableSpan['instrumentationScope'],
    spanContext: SpanContext,
    parentSpanContext: SpanContext | undefined,
    name: string,
    kind: SpanKind,
    attributes: Attributes,
    attributesCount: number,
    droppedAttributesCount: number,
    links: Link[],
    startTime: TimeInput | undefined,
    parentCtx: Context
  ) {
    this._p = p;
    this._spanContext = spanContext;
    this._now = Date.now();
    this._perfStart = performance.now();
    this._startTimeProvided = startTime != null;
    this.name = name;
    this.kind = kind;
    this.parentSpanContext = parentSpanContext;
    this.instrumentationScope = scope;
    // As SpanImpl: an omitted start time is the wall clock in milliseconds.
    this.startTime = startTime == null ? millisToHrTime(this._now) : this._getTime(startTime);
    const linkLimit = p.limits.linkCountLimit;
    if (links.length === 0) this.links = NONE;
    else if (links.length > linkLimit) {
      this.links = links.slice(links.length - linkLimit, links.length);
      this._droppedLinksCount = links.length - linkLimit;
    } else this.links = links;
    this.attributes = attributes;
    this._attributesCount = attributesCount;
    this._droppedAttributesCount = droppedAttributesCount;
    const ps = p.processors;
    for (let i = 0; i < ps.length; i++) ps[i].onStart(this as never, parentCtx);
  }

  get resource(): Resource {
    return this._p.resource;
  }

  spanContext(): SpanContext {
    return this._spanContext;
  }

  setAttribute(key: string, value?: AttributeValue): this {
    if (this._isSpanEnded()) return this;
    const t = typeof value;
    if ((t === 'string' || t === 'number' || t === 'boolean') && key.length > 0) {
      // What maybeAddAttribute decides for a primitive, without its per-call options object and WeakSet.
      const limits = this._p.limits;
      const attrs = this.attributes as Record<string, unknown>;
      const isNew = !Object.hasOwn(attrs, key);
      if (isNew && this._attributesCount >= limits.attributeCountLimit) {
        this._droppedAttributesCount++;
        if (this._droppedAttributesCount === 1) diag.warn('Dropping extra attributes.');
        return this;
      }
      const max = limits.attributeValueLengthLimit;
      attrs[key] = t === 'string' && (value as string).length > max && max > 0 ? (value as string).substring(0, max) : value;
      if (isNew) this._attributesCount++;
      return this;
    }
    const decision = maybeAddAttribute({
      key,
      value,
      attributes: this.attributes,
      limits: this._p.limits,
      currentAttributesCount: this._attributesCount,
    });
    if (decision === AddAttributeDecision.DROP_LIMIT_REACHED) {
      this._droppedAttributesCount++;
      if (this._droppedAttributesCount === 1) diag.warn('Dropping extra attributes.');
    } else if (decision === AddAttributeDecision.ADD_NEW) this._attributesCount++;
    return this;
  }

  setAttributes(attributes: Attributes): this {
    for (const key in attributes) if (Object.prototype.hasOwnProperty.call(attributes, key)) this.setAttribute(key, attributes[key]);
    return this;
  }

  addEvent(name: string, attributesOrStartTime?: Attributes | TimeInput, timeStamp?: TimeInput): this {
    if (this._isSpanEnded()) return this;
    const { eventCountLimit } = this._p.limits;
    if (eventCountLimit === 0) {
      diag.warn('No events allowed.');
      this._droppedEventsCount++;
      return this;
    }
    if (this.events === NONE) this.events = [];
    if (eventCountLimit !== undefined && this.events.length >= eventCountLimit) {
      if (this._droppedEventsCount === 0) diag.debug('Dropping extra events.');
      this.events.shift();
      this._droppedEventsCount++;
    }
    if (isTimeInput(attributesOrStartTime)) {
      if (!isTimeInput(timeStamp)) timeStamp = attributesOrStartTime;
      attributesOrStartTime = undefined;
    }
    this.events.push({
      name,
      time: this._getTime(timeStamp),
      ...cleanSimpleAttributes(attributesOrStartTime, {
        attributeCountLimit: this._p.limits.attributePerEventCountLimit,
        attributeValueLengthLimit: this._p.limits.attributeValueLengthLimit,
      }),
    });
    return this;
  }

  addLink(link: Link): this {
    if (this._isSpanEnded()) return this;
    const { linkCountLimit } = this._p.limits;
    if (linkCountLimit === 0) {
      this._droppedLinksCount++;
      return this;
    }
    if (this.links === NONE) this.links = [];
    if (linkCountLimit !== undefined && this.links.length >= linkCountLimit) {
      if (this._droppedLinksCount === 0) diag.debug('Dropping extra links.');
      this.links.shift();
      this._droppedLinksCount++;
    }
    this.links.push({
      context: link.context,
      ...cleanAttributes(link.attributes, {
        attributeCountLimit: this._p.limits.attributePerLinkCountLimit,
        attributeValueLengthLimit: this._p.limits.attributeValueLengthLimit,
      }),
    });
    return this;
  }

  addLinks(links: Link[]): this {
    for (const link of links) this.addLink(link);
    return this;
  }

  setStatus(status: SpanStatus): this {
    if (this._isSpanEnded()) return this;
    if (status.code === SpanStatusCode.UNSET) return this;
    if (this.status.code === SpanStatusCode.OK) return this;
    const next: SpanStatus = { code: status.code };
    if (status.code === SpanStatusCode.ERROR) {
      if (typeof status.message === 'string') next.message = status.message;
      else if (status.message != null) diag.warn(`Dropping invalid status.message of type '${typeof status.message}', expected 'string'`);
    }
    this.status = next;
    return this;
  }

  updateName(name: string): this {
    if (this._isSpanEnded()) return this;
    this.name = name;
    return this;
  }

  end(endTime?: TimeInput): void {
    if (this._ended) {
      diag.error(`${this.name} ${this._spanContext.traceId}-${this._spanContext.spanId} - You can only call end() on a span once.`);
      return;
    }
    if (endTime === undefined && !this._startTimeProvided) {
      // SpanImpl's addHrTimes(startTime, millisToHrTime(elapsed)) and hrTimeDuration, the same arithmetic without
      // the two intermediate arrays.
      const ms = performance.now() - this._perfStart;
      const s = this.startTime;
      let e0 = s[0] + Math.trunc(ms / 1e3);
      let e1 = s[1] + Math.round((ms % 1e3) * 1e6);
      if (e1 >= 1e9) {
        e1 -= 1e9;
        e0 += 1;
      }
      this.endTime = [e0, e1];
      let d0 = e0 - s[0];
      let d1 = e1 - s[1];
      if (d1 < 0) {
        d0 -= 1;
        d1 += 1e9;
      }
      this._duration = [d0, d1];
    } else {
      this.endTime = this._getTime(endTime);
      this._duration = hrTimeDuration(this.startTime, this.endTime);
    }
    if (this._duration[0] < 0) {
      diag.warn('Inconsistent start and end time, startTime > endTime. Setting span duration to 0ms.', this.startTime, this.endTime);
      this.endTime = this.startTime.slice() as HrTime;
      this._duration = [0, 0];
    }
    if (this._droppedEventsCount > 0) diag.warn(`Dropped ${this._droppedEventsCount} events because eventCountLimit reached`);
    if (this._droppedLinksCount > 0) diag.warn(`Dropped ${this._droppedLinksCount} links because linkCountLimit reached`);
    const ps = this._p.processors;
    for (let i = 0; i < ps.length; i++) ps[i].onEnding?.(this as never);
    this._ended = true;
    for (let i = 0; i < ps.length; i++) ps[i].onEnd(this);
  }

  isRecording(): boolean {
    return !this._ended;
  }

  recordException(exception: Exception, time?: TimeInput): void {
    rememberExceptionClass(this, exception);
    const attributes: Attributes = {};
    if (typeof exception === 'string') attributes[ATTR_EXCEPTION_MESSAGE] = exception;
    else if (exception) {
      if (exception.code) attributes[ATTR_EXCEPTION_TYPE] = exception.code.toString();
      else if (exception.name) attributes[ATTR_EXCEPTION_TYPE] = exception.name;
      if (exception.message) attributes[ATTR_EXCEPTION_MESSAGE] = exception.message;
      if (exception.stack) attributes[ATTR_EXCEPTION_STACKTRACE] = exception.stack;
    }
    if (attributes[ATTR_EXCEPTION_TYPE] || attributes[ATTR_EXCEPTION_MESSAGE]) this.addEvent(EVENT_EXCEPTION, attributes, time);
    else diag.warn(`Failed to record an exception ${String(exception)}`);
  }

  get duration(): HrTime {
    return this._duration;
  }

  get ended(): boolean {
    return this._ended;
  }

  get droppedAttributesCount(): number {
    return this._droppedAttributesCount;
  }

  get droppedEventsCount(): number {
    return this._droppedEventsCount;
  }

  get droppedLinksCount(): number {
    return this._droppedLinksCount;
  }

  /** As SpanImpl._getTime. */
  private _getTime(inp: TimeInput | undefined): HrTime {
    if (typeof inp === 'number' && inp <= performance.now()) {
      return hrTime(inp + (this._now - (this._perfStart + performance.timeOrigin)));
    }
    if (typeof inp === 'number') return millisToHrTime(inp);
    if (inp instanceof Date) return millisToHrTime(inp.getTime());
    if (isTimeInputHrTime(inp)) return inp as HrTime;
    if (this._startTimeProvided) return millisToHrTime(Date.now());
    return addHrTimes(this.startTime, millisToHrTime(performance.now() - this._perfStart));
  }

  private _isSpanEnded(): boolean {
    if (this._ended) {
      const sc = this._spanContext;
      const error = new Error(`Operation attempted on ended Span {traceId: ${sc.traceId}, spanId: ${sc.spanId}}`);
      diag.warn(`Cannot execute the operation on ended Span {traceId: ${sc.traceId}, spanId: ${sc.spanId}}`, error);
    }
    return this._ended;
  }
}
