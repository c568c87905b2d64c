import { context, SpanKind, SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';
import { InstrumentationBase, InstrumentationNodeModuleDefinition, isWrapped } from '@opentelemetry/instrumentation';
import { TextDecoder } from 'node:util';
import type { TenantScopeConfig } from '../../src/config';
import { describeError, warnOnce } from '../../src/log';
import { PriceTable } from '../../src/pricing/PriceTable';
import { ATTR_MODEL_COST_USD } from '../../src/semconv';
import { HostPolicy } from '../../src/tenant/HostPolicy';
import { MODEL_CALL_CONTEXT_KEY, setModelHosts } from '../../src/tenant/ModelEndpoints';
import { ModelCall, setModelCall } from './internal-types';
import {
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_INPUT_MESSAGES,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_OUTPUT_MESSAGES,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_RESPONSE_FINISH_REASONS,
  ATTR_GEN_AI_RESPONSE_ID,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
  ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
  ATTR_MODEL_STREAM_END,
  ATTR_MODEL_USAGE_MISSING,
  ATTR_OPENAI_RESPONSE_SERVICE_TIER,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
} from './semconv';
import type { GenAIInstrumentationOptions } from './types';
import {
  bodyText,
  classify,
  clipContent,
  headerOf,
  OPENAI_HOST,
  parseJsonObject,
  priceCall,
  readAnthropicUsage,
  readOpenAIUsage,
  readResponsesUsage,
  SseSplitter,
  withStreamUsage,
  type ModelEndpoint,
} from './utils';

const VERSION = '0.1.0';
/** Upstream's scope: its span is enriched, and it records its own gen_ai.client.* metrics. */
const UPSTREAM_OPENAI_SCOPE = '@opentelemetry/instrumentation-openai';

type AnyFunction = (...args: unknown[]) => unknown;

interface Settings {
  prices: PriceTable;
  listed: HostPolicy;
  usageHosts: HostPolicy;
  capture: boolean;
}

/**
 * One span per model API request, with GenAI semantic-convention attributes, usage, cost and time to first
 * chunk, for OpenAI (chat completions, Responses, embeddings, legacy completions) and Anthropic messages.
 *
 * It works at the transport, the one layer every client shares: it wraps the global `fetch` (used by
 * `openai` 5–7, `@anthropic-ai/sdk`, and apps calling the APIs directly) and `openai` 4's
 * `APIClient.fetchWithTimeout` (which uses its own node-fetch shim). A request made while a GenAI client
 * span is active (the Anthropic SDK's own `anthropic.messages.create`, upstream instrumentation-openai's
 * span) enriches that span instead of starting a second one; the context key set during a call keeps an
 * inner fetch from being counted twice. Responses are observed as the caller reads them: the body is
 * never read ahead, and the caller gets the same Response object and promise.
 */
export class GenAIInstrumentation extends InstrumentationBase<GenAIInstrumentationOptions> {
  private _settings: Settings | undefined;

  constructor(config: GenAIInstrumentationOptions = {}) {
    super('tenantscope-instrumentation-genai', VERSION, config);
    // At start, so a bad price file is reported at startup and model hosts are known before the first request.
    this._resolved();
  }

  protected init(): InstrumentationNodeModuleDefinition[] {
    const patch = (exports: unknown): unknown => {
      try {
        this._patchV4(exports);
      } catch (err) {
        warnOnce('genai-patch-v4', `openai 4 is not instrumented: ${describeError(err)}`);
      }
      return exports;
    };
    const unpatch = (exports: unknown): void => {
      const proto = apiClientPrototype(exports);
      if (proto !== undefined && isWrapped(proto.fetchWithTimeout)) this._unwrap(proto, 'fetchWithTimeout');
    };
    // `openai-v4` is the same package installed under an npm alias (as this repository's tests do).
    return [
      new InstrumentationNodeModuleDefinition('openai', ['>=4.0.0 <5'], patch, unpatch),
      new InstrumentationNodeModuleDefinition('openai-v4', ['>=4.0.0 <5'], patch, unpatch),
    ];
  }

  override enable(): void {
    super.enable();
    const g = globalThis as { fetch?: AnyFunction };
    if (typeof g.fetch === 'function' && !isWrapped(g.fetch)) {
      this._wrap(g as { fetch: AnyFunction }, 'fetch', (original) => this._wrapFetchLike(original));
    }
  }

  override disable(): void {
    super.disable();
    const g = globalThis as { fetch?: AnyFunction };
    if (typeof g.fetch === 'function' && isWrapped(g.fetch)) this._unwrap(g as { fetch: AnyFunction }, 'fetch');
  }

  /** Settings, resolved on first use (enable() runs inside the base constructor, before our fields exist). */
  private _resolved(): Settings {
    let s = this._settings;
    if (s === undefined) {
      const c = this.getConfig();
      setModelHosts(c.modelHosts ?? []);
      s = this._settings = {
        prices: c.prices ?? new PriceTable(),
        listed: new HostPolicy([...(c.modelHosts ?? []), ...(c.openaiUsageHosts ?? [])].filter((p) => p !== 'private' && p !== '*')),
        usageHosts: new HostPolicy((c.openaiUsageHosts ?? []).filter((p) => p !== 'private')),
        capture: c.captureMessageContent === true,
      };
    }
    return s;
  }

  private _patchV4(exports: unknown): void {
    const proto = apiClientPrototype(exports);
    if (proto === undefined || typeof proto.fetchWithTimeout !== 'function') throw new Error('APIClient.fetchWithTimeout not found');
    if (!isWrapped(proto.fetchWithTimeout)) this._wrap(proto, 'fetchWithTimeout', (original) => this._wrapFetchLike(original as AnyFunction));
  }

  /** A wrapper for `fetch(input, init)` or `fetchWithTimeout(url, init, …)`: same arguments, same promise. */
  private _wrapFetchLike(original: AnyFunction): AnyFunction {
    const self = this;
    return function tracedFetch(this: unknown): unknown {
      // eslint-disable-next-line prefer-rest-params
      return self._traced(original, this, arguments as unknown as unknown[]);
    };
  }

  private _traced(original: AnyFunction, thisArg: unknown, args: unknown[]): unknown {
    let started: Started | undefined;
    try {
      if (context.active().getValue(MODEL_CALL_CONTEXT_KEY) === undefined) started = this._start(args);
    } catch (err) {
      warnOnce('genai-start', `a model call was not traced: ${describeError(err)}`);
      started = undefined;
    }
    if (started === undefined) return original.apply(thisArg, args);
    const { tracker, ctx } = started;
    let p: unknown;
    try {
      p = context.with(ctx, () => original.apply(thisArg, started.args));
    } catch (err) {
      tracker.fail(err);
      throw err;
    }
    try {
      // Registered before the caller's own handlers, so the response is instrumented before anyone reads it.
      if (p instanceof Promise) {
        p.then(
          (res: unknown) => tracker.onResponse(res),
          (err: unknown) => tracker.fail(err)
        );
      } else {
        tracker.end();
      }
    } catch {
      tracker.end();
    }
    return p;
  }

  private _start(args: unknown[]): Started | undefined {
    const input = args[0];
    const init = (typeof args[1] === 'object' && args[1] !== null ? args[1] : undefined) as Record<string, unknown> | undefined;
    let href: string;
    let method: unknown;
    let headers: unknown;
    if (typeof input === 'string') href = input;
    else if (input instanceof URL) href = input.href;
    else if (typeof input === 'object' && input !== null && typeof (input as Request).url === 'string') {
      href = (input as Request).url;
      method = (input as Request).method;
      headers = (input as Request).headers;
    } else return undefined;
    method = String(init?.method ?? method ?? 'GET').toUpperCase();
    headers = init?.headers ?? headers;
    const url = new URL(href);
    const s = this._resolved();
    const ep = classify(url, method as string, headers, s.listed);
    if (ep === undefined) return undefined;

    const text = init !== undefined ? bodyText(init.body) : undefined;
    const json = parseJsonObject(text);
    const requestModel = typeof json?.model === 'string' ? json.model : '';
    let callArgs = args;
    let hide = false;
    if (ep.streamUsage && json?.stream === true && text !== undefined && init !== undefined && this._asksUsage(url, s)) {
      const body = withStreamUsage(text, json);
      if (body !== undefined) {
        callArgs = Array.from(args);
        callArgs[1] = withBody(init, body);
        hide = true;
      }
    }

    const active = trace.getSpan(context.active());
    const scope = active !== undefined ? adoptableScope(active) : undefined;
    let span: Span;
    const spanName = requestModel !== '' ? `${ep.operation} ${requestModel}` : ep.operation;
    if (scope !== undefined) {
      span = active as Span;
      if ((active as unknown as { attributes: Attributes }).attributes[ATTR_GEN_AI_PROVIDER_NAME] === undefined) {
        span.setAttribute(ATTR_GEN_AI_PROVIDER_NAME, ep.provider);
      }
      // The semantic-convention name, whoever started the span (the Anthropic SDK names it anthropic.messages.create).
      if ((active as unknown as { name?: string }).name !== spanName) span.updateName(spanName);
    } else {
      const attributes: Attributes = {
        [ATTR_GEN_AI_OPERATION_NAME]: ep.operation,
        [ATTR_GEN_AI_PROVIDER_NAME]: ep.provider,
        [ATTR_SERVER_ADDRESS]: url.hostname,
        [ATTR_SERVER_PORT]: url.port !== '' ? Number(url.port) : url.protocol === 'http:' ? 80 : 443,
      };
      if (requestModel !== '') attributes[ATTR_GEN_AI_REQUEST_MODEL] = requestModel;
      span = this.tracer.startSpan(spanName, { kind: SpanKind.CLIENT, attributes });
    }
    const call = new ModelCall(ep.provider, ep.operation, requestModel, scope !== UPSTREAM_OPENAI_SCOPE);
    setModelCall(span, call);
    if (s.capture && json !== undefined) {
      const msgs = ep.kind === 'responses' ? json.input : ep.kind === 'embeddings' ? undefined : (json.messages ?? json.prompt);
      if (msgs !== undefined) span.setAttribute(ATTR_GEN_AI_INPUT_MESSAGES, clipContent(JSON.stringify(msgs)));
    }
    const tracker = new CallTracker(span, scope === undefined, call, ep, s, hide);
    const ctx = trace.setSpan(context.active(), span).setValue(MODEL_CALL_CONTEXT_KEY, true);
    return { tracker, ctx, args: callArgs };
  }

  private _asksUsage(url: URL, s: Settings): boolean {
    return url.hostname === OPENAI_HOST || s.usageHosts.isInternal(url.host) || s.usageHosts.isInternal(url.hostname);
  }
}

interface Started {
  tracker: CallTracker;
  ctx: ReturnType<typeof context.active>;
  args: unknown[];
}

/** `APIClient.prototype` of an `openai` 4 module's exports. */
function apiClientPrototype(exports: unknown): { fetchWithTimeout: AnyFunction } | undefined {
  const cls = (exports as { OpenAI?: { prototype: object } } | undefined)?.OpenAI ?? (exports as { prototype?: object } | undefined);
  const proto = cls?.prototype === undefined ? undefined : Object.getPrototypeOf(cls.prototype);
  return proto ?? undefined;
}

/**
 * The instrumentation scope of `span` when it is a recording GenAI client span made by someone else (an SDK's
 * own tracing, upstream instrumentation-openai) that this request should enrich rather than double.
 */
function adoptableScope(span: Span): string | undefined {
  if (!span.isRecording()) return undefined;
  const s = span as unknown as { attributes?: Attributes; kind?: SpanKind; instrumentationScope?: { name?: string } };
  if (s.kind !== SpanKind.CLIENT || s.attributes === undefined || s.attributes[ATTR_GEN_AI_OPERATION_NAME] === undefined) return undefined;
  return s.instrumentationScope?.name ?? 'unknown';
}

/** A copy of `init` with `body` (and a matching `content-length` when the caller had set one). */
function withBody(init: Record<string, unknown>, body: string): Record<string, unknown> {
  const out: Record<string, unknown> = { ...init, body };
  const h = init.headers;
  if (headerOf(h, 'content-length') === undefined) return out;
  const len = String(Buffer.byteLength(body));
  if (h instanceof Headers) {
    const copy = new Headers(h);
    copy.set('content-length', len);
    out.headers = copy;
  } else if (Array.isArray(h)) {
    out.headers = h.map((e: unknown) => (Array.isArray(e) && String(e[0]).toLowerCase() === 'content-length' ? [e[0], len] : e));
  } else if (typeof h === 'object' && h !== null) {
    const copy: Record<string, unknown> = {};
    for (const k of Object.keys(h)) copy[k] = k.toLowerCase() === 'content-length' ? len : (h as Record<string, unknown>)[k];
    out.headers = copy;
  }
  return out;
}

const encoder = new TextEncoder();

/** Follows one request's response, as the caller reads it, and ends (or, when enriched, leaves) the span. */
class CallTracker {
  private _ended = false;
  private _completed = false;
  private _firstChunk = true;
  private _decoder: TextDecoder | undefined;
  private _splitter: SseSplitter | undefined;
  private readonly _startedAt = performance.now();
  private readonly _finishReasons: string[] = [];
  private _sawId = false;

  constructor(
    private readonly _span: Span,
    /** True when the span is ours to end. */
    private readonly _own: boolean,
    private readonly _call: ModelCall,
    private readonly _ep: ModelEndpoint,
    private readonly _s: Settings,
    /** True when we asked for usage: the usage-only chunk is then hidden from the caller. */
    private readonly _hide: boolean
  ) {}

  onResponse(res: unknown): void {
    try {
      const r = res as { status?: unknown; headers?: { get?: (n: string) => string | null } } | null;
      if (r === null || typeof r !== 'object' || typeof r.status !== 'number') {
        this.end();
        return;
      }
      if (r.status >= 400) {
        this._call.errorType = String(r.status);
        this.end();
        return;
      }
      const ct = typeof r.headers?.get === 'function' ? (r.headers.get('content-type') ?? '') : '';
      if (ct.includes('text/event-stream')) this._observeStream(r as object);
      else this._observeJson(r as object);
    } catch (err) {
      warnOnce('genai-response', `a model response was not observed: ${describeError(err)}`);
      this.end();
    }
  }

  fail(err: unknown): void {
    try {
      if (isAbort(err)) {
        if (!this._ended) this._span.setAttribute(ATTR_MODEL_STREAM_END, 'abandoned');
      } else {
        this._call.errorType ??= errorName(err);
      }
    } catch {
      // never throw into the app
    }
    this.end();
  }

  end(): void {
    if (this._ended) return;
    this._ended = true;
    try {
      const span = this._span;
      if (this._finishReasons.length > 0) span.setAttribute(ATTR_GEN_AI_RESPONSE_FINISH_REASONS, this._finishReasons);
      if (!this._call.usageKnown && this._call.errorType === undefined) span.setAttribute(ATTR_MODEL_USAGE_MISSING, true);
      if (this._call.errorType !== undefined) span.setAttribute(ATTR_ERROR_TYPE, this._call.errorType);
      if (this._own) {
        if (this._call.errorType !== undefined) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      }
    } catch {
      // never throw into the app
    }
  }

  /** Non-streamed body: observed when the caller's json()/text()/arrayBuffer()/bytes() resolves. */
  private _observeJson(r: object): void {
    const self = this;
    let wrapped = 0;
    for (const name of ['json', 'text', 'arrayBuffer', 'bytes']) {
      const orig = (r as Record<string, unknown>)[name];
      if (typeof orig !== 'function') continue;
      wrapped++;
      Object.defineProperty(r, name, {
        configurable: true,
        writable: true,
        value: function (this: unknown): unknown {
          // eslint-disable-next-line prefer-rest-params
          const p = (orig as AnyFunction).apply(this, arguments as unknown as unknown[]);
          if (p instanceof Promise) {
            p.then(
              (v: unknown) => self._onBody(name, v),
              (err: unknown) => self.fail(err)
            );
          }
          return p;
        },
      });
    }
    if (wrapped === 0) this.end();
  }

  private _onBody(kind: string, v: unknown): void {
    try {
      let o: Record<string, unknown> | undefined;
      if (kind === 'json') o = typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
      else if (typeof v === 'string') o = parseJsonObject(v);
      else if (v instanceof ArrayBuffer || v instanceof Uint8Array) o = parseJsonObject(Buffer.from(v as ArrayBuffer).toString('utf8'));
      if (o !== undefined) this._onResult(o);
    } catch (err) {
      warnOnce('genai-body', `a model response body was not read: ${describeError(err)}`);
    }
    this._completed = true;
    this.end();
  }

  /** A complete non-streamed result object. */
  private _onResult(o: Record<string, unknown>): void {
    const call = this._call;
    this._ids(o);
    if (typeof o.service_tier === 'string') this._tier(o.service_tier);
    const usage = obj(o.usage);
    switch (this._ep.kind) {
      case 'messages':
        if (typeof o.stop_reason === 'string') this._finishReasons.push(o.stop_reason);
        if (usage !== undefined && readAnthropicUsage(usage, call)) this._usageChanged();
        if (this._s.capture && o.content !== undefined) this._span.setAttribute(ATTR_GEN_AI_OUTPUT_MESSAGES, clipContent(JSON.stringify(o.content)));
        break;
      case 'responses':
        this._responsesStatus(o);
        if (usage !== undefined && readResponsesUsage(usage, call)) this._usageChanged();
        if (this._s.capture && o.output !== undefined) this._span.setAttribute(ATTR_GEN_AI_OUTPUT_MESSAGES, clipContent(JSON.stringify(o.output)));
        break;
      default:
        this._choices(o);
        if (usage !== undefined && readOpenAIUsage(usage, call)) this._usageChanged();
        if (this._s.capture && Array.isArray(o.choices)) {
          const out: unknown[] = [];
          for (const c of o.choices) out.push(obj(c)?.message ?? obj(c)?.text);
          this._span.setAttribute(ATTR_GEN_AI_OUTPUT_MESSAGES, clipContent(JSON.stringify(out)));
        }
    }
  }

  private _ids(o: Record<string, unknown>): void {
    if (!this._sawId && typeof o.id === 'string') {
      this._sawId = true;
      this._span.setAttribute(ATTR_GEN_AI_RESPONSE_ID, o.id);
    }
    if (typeof o.model === 'string' && this._call.responseModel !== o.model) {
      this._call.responseModel = o.model;
      this._span.setAttribute(ATTR_GEN_AI_RESPONSE_MODEL, o.model);
    }
  }

  private _tier(tier: string): void {
    if (this._call.serviceTier === tier) return;
    this._call.serviceTier = tier;
    if (this._call.provider === 'openai') this._span.setAttribute(ATTR_OPENAI_RESPONSE_SERVICE_TIER, tier);
  }

  private _choices(o: Record<string, unknown>): void {
    const choices = o.choices;
    if (!Array.isArray(choices)) return;
    for (const c of choices) {
      const r = obj(c)?.finish_reason;
      if (typeof r === 'string' && this._finishReasons.length < 16) this._finishReasons.push(r);
    }
  }

  private _responsesStatus(resp: Record<string, unknown>): void {
    const reason = obj(resp.incomplete_details)?.reason;
    if (typeof reason === 'string') this._finishReasons.push(reason);
    else if (typeof resp.status === 'string') this._finishReasons.push(resp.status);
    if (resp.status === 'failed') this._call.errorType ??= String(obj(resp.error)?.code ?? 'response_failed');
  }

  private _usageChanged(): void {
    const c = this._call;
    const span = this._span;
    span.setAttribute(ATTR_GEN_AI_USAGE_INPUT_TOKENS, c.inputTotal);
    span.setAttribute(ATTR_GEN_AI_USAGE_OUTPUT_TOKENS, c.output);
    span.setAttribute(ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, c.cacheRead);
    if (c.provider === 'anthropic') span.setAttribute(ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, c.cacheWrite5m + c.cacheWrite1h);
    if (c.reasoning > 0) span.setAttribute(ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, c.reasoning);
    const usd = priceCall(c, this._s.prices);
    if (usd !== undefined) span.setAttribute(ATTR_MODEL_COST_USD, usd);
  }

  // --- streams ---

  private _observeStream(r: object): void {
    const original = (r as { body?: unknown }).body;
    if (original === null || original === undefined || typeof original !== 'object') {
      this.end();
      return;
    }
    this._splitter = new SseSplitter((event, data) => this._onEvent(event, data), this._hide);
    let replacement: unknown;
    if (typeof (original as ReadableStream).getReader === 'function') replacement = this._webStream(original as ReadableStream<Uint8Array>);
    else if (Symbol.asyncIterator in original) replacement = this._nodeStream(original as AsyncIterable<Uint8Array>);
    else {
      this.end();
      return;
    }
    Object.defineProperty(r, 'body', { configurable: true, enumerable: false, get: () => replacement });
  }

  /**
   * The body as the caller will read it: pulls from the original only when the caller pulls (high-water mark 0),
   * so nothing is read ahead. The original reader is taken on the first read, so merely looking at `body`
   * (SDK debug logging does) locks nothing.
   */
  private _webStream(src: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    const self = this;
    return new ReadableStream<Uint8Array>(
      {
        async pull(ctrl): Promise<void> {
          reader ??= src.getReader();
          for (;;) {
            let r: { done: boolean; value?: Uint8Array };
            try {
              r = await reader.read();
            } catch (err) {
              self.fail(err);
              throw err;
            }
            if (r.done) {
              const tail = self._streamDone();
              if (tail !== undefined && tail.byteLength > 0) ctrl.enqueue(tail);
              ctrl.close();
              return;
            }
            const out = self._chunk(r.value as Uint8Array);
            if (out.byteLength > 0) {
              ctrl.enqueue(out);
              return;
            }
          }
        },
        cancel(reason): Promise<void> {
          self._abandoned();
          return reader !== undefined ? reader.cancel(reason) : src.cancel(reason);
        },
      },
      { highWaterMark: 0 }
    );
  }

  /** openai 4's node-fetch body: iteration is observed, everything else reaches the original stream. */
  private _nodeStream(src: AsyncIterable<Uint8Array>): unknown {
    const self = this;
    return new Proxy(src, {
      get(target, prop): unknown {
        if (prop !== Symbol.asyncIterator) return Reflect.get(target, prop, target);
        return function iterate(): AsyncIterator<Uint8Array> {
          const it = target[Symbol.asyncIterator]();
          let tail: Uint8Array | undefined;
          let done = false;
          const iterator: AsyncIterator<Uint8Array> & { [Symbol.asyncIterator](): unknown } = {
            async next(): Promise<IteratorResult<Uint8Array>> {
              for (;;) {
                if (tail !== undefined) {
                  const t = tail;
                  tail = undefined;
                  return { done: false, value: t };
                }
                if (done) return { done: true, value: undefined };
                let r: IteratorResult<Uint8Array>;
                try {
                  r = await it.next();
                } catch (err) {
                  self.fail(err);
                  throw err;
                }
                if (r.done === true) {
                  done = true;
                  const t = self._streamDone();
                  if (t !== undefined && t.byteLength > 0) tail = Buffer.from(t);
                  continue;
                }
                const out = self._chunk(r.value);
                if (out.byteLength > 0) return { done: false, value: out === r.value ? out : Buffer.from(out) };
              }
            },
            async return(value?: unknown): Promise<IteratorResult<Uint8Array>> {
              self._abandoned();
              if (typeof it.return === 'function') return it.return(value);
              return { done: true, value: undefined };
            },
            [Symbol.asyncIterator]() {
              return iterator;
            },
          };
          return iterator;
        };
      },
    });
  }

  /** One chunk of the body; returns what the caller gets (the same bytes unless the usage chunk is hidden). */
  private _chunk(bytes: Uint8Array): Uint8Array {
    try {
      if (this._firstChunk) {
        this._firstChunk = false;
        this._span.setAttribute(ATTR_GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, (performance.now() - this._startedAt) / 1000);
      }
      this._decoder ??= new TextDecoder();
      const kept = (this._splitter as SseSplitter).push(this._decoder.decode(bytes, { stream: true }));
      return kept === undefined ? bytes : encoder.encode(kept);
    } catch (err) {
      warnOnce('genai-chunk', `a model stream chunk was not read: ${describeError(err)}`);
      return bytes;
    }
  }

  private _streamDone(): Uint8Array | undefined {
    let tail: string | undefined;
    try {
      const splitter = this._splitter as SseSplitter;
      const rest = this._decoder?.decode() ?? '';
      const a = rest !== '' ? splitter.push(rest) : this._hide ? '' : undefined;
      const b = splitter.end();
      tail = a === undefined && b === undefined ? undefined : (a ?? '') + (b ?? '');
    } catch {
      tail = undefined;
    }
    if (!this._completed && !this._ended) this._span.setAttribute(ATTR_MODEL_STREAM_END, 'truncated');
    this.end();
    return tail !== undefined && tail !== '' ? encoder.encode(tail) : undefined;
  }

  private _abandoned(): void {
    if (this._ended) return;
    if (!this._completed) this._span.setAttribute(ATTR_MODEL_STREAM_END, 'abandoned');
    this.end();
    if (!this._own) {
      // An enriched span whose owner does not end it when the caller stops reading (upstream
      // instrumentation-openai leaves it open) is ended here, with what was known.
      const span = this._span;
      setImmediate(() => {
        if (span.isRecording()) span.end();
      });
    }
  }

  /** One server-sent event; returns true to hide it from the caller. */
  private _onEvent(event: string, data: string): boolean {
    if (data === '[DONE]') {
      this._completed = true;
      return false;
    }
    const o = parseJsonObject(data);
    if (o === undefined) return false;
    const call = this._call;
    switch (this._ep.kind) {
      case 'messages': {
        const type = typeof o.type === 'string' ? o.type : event;
        if (type === 'message_start') {
          const m = obj(o.message);
          if (m !== undefined) {
            this._ids(m);
            const u = obj(m.usage);
            if (u !== undefined && readAnthropicUsage(u, call)) this._usageChanged();
          }
        } else if (type === 'message_delta') {
          const reason = obj(o.delta)?.stop_reason;
          if (typeof reason === 'string') this._finishReasons.push(reason);
          const u = obj(o.usage);
          if (u !== undefined && readAnthropicUsage(u, call)) this._usageChanged();
        } else if (type === 'message_stop') {
          this._completed = true;
        } else if (type === 'error') {
          call.errorType ??= String(obj(o.error)?.type ?? 'error');
        }
        return false;
      }
      case 'responses': {
        const type = o.type;
        const resp = obj(o.response);
        if (resp !== undefined) {
          this._ids(resp);
          if (typeof resp.service_tier === 'string') this._tier(resp.service_tier);
        }
        if ((type === 'response.completed' || type === 'response.incomplete' || type === 'response.failed') && resp !== undefined) {
          this._completed = true;
          this._responsesStatus(resp);
          const u = obj(resp.usage);
          if (u !== undefined && readResponsesUsage(u, call)) this._usageChanged();
        } else if (type === 'error') {
          call.errorType ??= String(o.code ?? 'error');
        }
        return false;
      }
      default: {
        this._ids(o);
        if (typeof o.service_tier === 'string') this._tier(o.service_tier);
        this._choices(o);
        const u = obj(o.usage);
        if (u !== undefined && readOpenAIUsage(u, call)) {
          this._usageChanged();
          // The extra chunk we asked for: usage and no choices. The caller did not ask for it, so it never sees it.
          return this._hide && Array.isArray(o.choices) && o.choices.length === 0;
        }
        return false;
      }
    }
  }
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'APIUserAbortError');
}

function errorName(err: unknown): string {
  if (err instanceof Error) return err.name === 'Error' ? err.constructor.name : err.name;
  return typeof err;
}

/** The GenAI instrumentation as the environment configures it (price file, hosts, content capture). */
export function createGenAIInstrumentation(config: TenantScopeConfig): GenAIInstrumentation {
  return new GenAIInstrumentation({
    prices: new PriceTable({ overrideFile: config.pricesFile }),
    openaiUsageHosts: config.openaiUsageHosts,
    modelHosts: config.modelHosts,
    captureMessageContent: config.captureMessageContent,
  });
}
