import {
  context as apiContext,
  diag,
  INVALID_SPAN_CONTEXT,
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
  type TraceState,
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
  isTracingSuppressed,
  maybeAddAttribute,
  millisToHrTime,
} from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import {
  createAlwaysRecordSampler,
  RandomIdGenerator,
  SamplingDecision,
  type IdGenerator,
  TracerProvider,
  type ReadableSpan,
  type Sampler,
  type SpanLimits,
  type SpanProcessor,
  type TimedEvent,
  type TracerProviderOptions,
} from '@opentelemetry/sdk-trace';
import { rememberExceptionClass } from '../core/ErrorType';
import { describeError, warnOnce } from '../core/log';
import { EVENT_EXCEPTION } from '../core/semconv';
import { hrTimeOf, millisToHrTimeOf, spanContextOf } from '../core/SiteFree';

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
 * A span's end time and duration until it ends, shared by all spans (sdk-trace's SpanImpl gives each span its own
 * `[0, 0]` and `[-1, -1]`, replaced at its end: two arrays per span made for nothing). Frozen: `end()` assigns new
 * arrays, nothing writes into these.
 */
const NOT_ENDED: HrTime = Object.freeze([0, 0]) as unknown as HrTime;
const NO_DURATION: HrTime = Object.freeze([-1, -1]) as unknown as HrTime;

/** What every lean span of one provider shares. */
interface LeanPipeline {
  /** The configured sampler; its "not sampled" is recorded anyway (a span with trace flags NONE), so metrics stay exact. */
  readonly sampler: Sampler;
  readonly idGenerator: IdGenerator;
  /** The ids are sdk-trace's `RandomIdGenerator`'s, valid by construction: a lean span's span context is valid. */
  readonly validIds: boolean;
  readonly processors: readonly SpanProcessor[];
  readonly resource: Resource;
  readonly limits: Required<SpanLimits>;
}

/** Start attributes' first cleaning: none dropped for the limits, as sdk-trace's tracer does before the sampler. */
const NO_ATTR_LIMITS = { attributeCountLimit: Infinity, attributeValueLengthLimit: Infinity };

/**
 * sdk-trace's first cleaning of a span's start attributes (core's `cleanAttributes` without limits): a fresh object with
 * the own keys whose value is defined, invalid keys and values dropped, warned about and counted. Start attributes are
 * nearly always non-empty keys with string, number or boolean values: those are copied as they are (what the cleaning
 * keeps of them, in the same order), without its `Object.entries` pairs; anything else goes through core's cleaning.
 */
function cleanStartAttributes(given: Attributes | undefined): { attributes: Attributes; dropped: number } {
  const out: Attributes = {};
  if (typeof given !== 'object' || given === null) return { attributes: out, dropped: 0 };
  for (const key in given) {
    if (!Object.hasOwn(given, key)) continue;
    const v = given[key];
    if (v === undefined) continue;
    const t = typeof v;
    if (key.length === 0 || (t !== 'string' && t !== 'number' && t !== 'boolean')) return cleaned(given);
    out[key] = v;
  }
  return { attributes: out, dropped: 0 };
}

function cleaned(given: Attributes): { attributes: Attributes; dropped: number } {
  const c = cleanAttributes(given, NO_ATTR_LIMITS);
  return { attributes: c.attributes ?? {}, dropped: c.droppedAttributesCount ?? 0 };
}

/**
 * sdk-trace's `TracerProvider`, whose tracers build a {@link LeanSpan} for every span (when `lean` is on): sampled or
 * not, with the span context sdk-trace would give it. The span processors see what sdk-trace's spans would show them:
 * every span is recorded, whatever the sampler decides. With `lean` off it is the stock provider with sdk-trace's
 * always-record sampler in front of the configured one, and every span is sdk-trace's.
 */
export class TenantScopeTracerProvider extends TracerProvider {
  private readonly _pipeline: LeanPipeline | undefined;
  private readonly _lean = new Map<Tracer, Tracer>();

  constructor(options: { resource: Resource; sampler: Sampler; spanProcessors: SpanProcessor[]; lean: boolean; idGenerator?: IdGenerator }) {
    const idGenerator = options.idGenerator ?? new RandomIdGenerator();
    const sdkOptions: TracerProviderOptions = {
      resource: options.resource,
      sampler: createAlwaysRecordSampler(options.sampler),
      spanProcessors: options.spanProcessors,
      spanLimits: { ...SPAN_LIMITS },
      idGenerator,
    };
    super(sdkOptions);
    this._pipeline = options.lean
      ? {
          sampler: options.sampler,
          idGenerator,
          validIds: idGenerator instanceof RandomIdGenerator,
          processors: [...options.spanProcessors],
          resource: options.resource,
          limits: SPAN_LIMITS,
        }
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
 * A tracer whose spans are {@link LeanSpan}s. It starts a span as sdk-trace's `Tracer.startSpan` does, step by step
 * (suppression, parent, ids, link cleaning, the first attribute cleaning, the sampler, the span context) with the
 * provider's id generator and limits, except that a span the sampler does not sample is recorded too (trace flags
 * NONE), and without sdk-trace's own span metrics (its provider has no meter provider: a no-op). The lean-vs-SDK tests
 * (test/unit/LeanTracer.test.ts) run both on the same traffic and compare ids, contexts, metrics and exported bytes.
 */
export class LeanTracer implements Tracer {
  private readonly _scope: ReadableSpan['instrumentationScope'];

  constructor(
    sdk: Tracer,
    private readonly _p: LeanPipeline
  ) {
    this._scope = (sdk as unknown as { instrumentationScope: ReadableSpan['instrumentationScope'] }).instrumentationScope;
  }

  startSpan(name: string, options: SpanOptions = {}, ctx: Context = apiContext.active()): ApiSpan {
    let spanContext: SpanContext | undefined;
    try {
      if (options.root) ctx = trace.deleteSpan(ctx);
      const parentSpan = trace.getSpan(ctx);
      if (isTracingSuppressed(ctx)) {
        diag.debug('Instrumentation suppressed, returning Noop Span');
        return trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
      }
      const p = this._p;
      const parentSpanContext = parentSpan?.spanContext();
      const spanId = p.idGenerator.generateSpanId();
      let parent: SpanContext | undefined;
      let traceId: string;
      let traceState: TraceState | undefined;
      // A lean span of a provider whose ids are valid by construction has a valid span context: no second check.
      if (parentSpanContext !== undefined && ((p.validIds && parentSpan instanceof LeanSpan && parentSpan._p === p) || isSpanContextValid(parentSpanContext))) {
        parent = parentSpanContext;
        traceId = parentSpanContext.traceId;
        traceState = parentSpanContext.traceState;
      } else traceId = p.idGenerator.generateTraceId();
      const kind = options.kind ?? SpanKind.INTERNAL;
      const given = options.links;
      const links = given == null || given.length === 0 ? [] : given.map((link) => this._link(link));
      const first = cleanStartAttributes(options.attributes);
      const r = p.sampler.shouldSample(ctx, traceId, name, kind, first.attributes, links);
      // Not a literal: src/core/SiteFree.ts.
      spanContext = spanContextOf(traceId, spanId, r.decision === SamplingDecision.RECORD_AND_SAMPLED ? TraceFlags.SAMPLED : TraceFlags.NONE, r.traceState ?? traceState);
      return this._lean(spanContext, parent, name, kind, first.attributes, first.dropped, r.attributes, links, options.startTime, ctx);
    } catch (err) {
      // Never into the app: the span is a non-recording one (not in the metrics), with the span context it would have
      // had when there is one (its children carry the sampler's decision on), and the app goes on.
      warnOnce('lean-startSpan', `a span was not recorded: ${describeError(err)}`);
      return trace.wrapSpanContext(spanContext ?? INVALID_SPAN_CONTEXT);
    }
  }

  /** A link as sdk-trace's tracer keeps it: its attributes cleaned to the per-link limits. */
  private _link(link: Link): Link {
    const limits = this._p.limits;
    return {
      context: link.context,
      ...cleanAttributes(link.attributes, { attributeCountLimit: limits.attributePerLinkCountLimit, attributeValueLengthLimit: limits.attributeValueLengthLimit }),
    };
  }

  /**
   * The lean span: the sampler's attributes added to the cleaned start attributes and the span limits applied, as
   * sdk-trace's tracer does before it builds a recorded span.
   */
  private _lean(
    spanContext: SpanContext,
    parent: SpanContext | undefined,
    name: string,
    kind: SpanKind,
    attributes: Attributes,
    dropped: number,
    extra: Attributes | undefined,
    links: Link[],
    startTime: TimeInput | undefined,
    parentCtx: Context
  ): LeanSpan {
    let count = 0;
    for (const _ in attributes) count++;
    const limits = this._p.limits;
    if (extra !== undefined || count > limits.attributeCountLimit || limits.attributeValueLengthLimit !== Infinity) {
      const cleaned = cleanAttributes(Object.assign(attributes, extra), limits);
      attributes = cleaned.attributes ?? {};
      dropped += cleaned.droppedAttributesCount ?? 0;
      count = 0;
      for (const _ in attributes) count++;
    }
    return new LeanSpan(this._p, this._scope, spanContext, parent, name, kind, attributes, count, dropped, links, startTime, parentCtx);
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
  endTime: HrTime = NOT_ENDED;
  status: SpanStatus = UNSET;
  readonly instrumentationScope: ReadableSpan['instrumentationScope'];
  /** @internal The provider's pipeline (read by the lean tracer for a parent's span context). */
  readonly _p: LeanPipeline;
  private readonly _spanContext: SpanContext;
  private _duration: HrTime = NO_DURATION;
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
    this.startTime = startTime == null ? millisToHrTimeOf(this._now) : this._getTime(startTime);
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
      this.endTime = hrTimeOf(e0, e1);
      let d0 = e0 - s[0];
      let d1 = e1 - s[1];
      if (d1 < 0) {
        d0 -= 1;
        d1 += 1e9;
      }
      this._duration = hrTimeOf(d0, d1);
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
