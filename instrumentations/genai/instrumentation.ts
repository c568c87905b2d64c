import { context, SpanKind, trace, type Attributes, type Span } from '@opentelemetry/api';
import { InstrumentationBase, InstrumentationNodeModuleDefinition, isWrapped } from '@opentelemetry/instrumentation';
import { describeError, warnOnce } from '../../src/core/log';
import { ModelCall, setModelCall } from '../../src/core/ModelCall';
import { VERSION } from '../../src/core/package';
import { PriceTable } from '../../src/core/pricing/PriceTable';
import {
  ATTR_GEN_AI_INPUT_MESSAGES,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
} from '../../src/core/semconv';
import { HostPolicy } from '../../src/core/tenant/HostPolicy';
import { MODEL_CALL_CONTEXT_KEY, ModelEndpointPolicy } from '../../src/core/tenant/ModelEndpointPolicy';
import { CallTracker } from './CallTracker';
import type { AnyFunction, Settings } from './internal-types';
import type { GenAIInstrumentationOptions } from './types';
import { BEDROCK_MIDDLEWARE, BEDROCK_PROVIDER, bedrockMiddleware } from './bedrock';
import { bodyText, classify, clipContent, headerOf, OPENAI_HOST, parseJsonObject, withStreamUsage, type ModelEndpoint } from './utils';

/** Upstream scopes whose spans are enriched and which record their own gen_ai.client.* metrics. */
const UPSTREAM_OPENAI_SCOPE = '@opentelemetry/instrumentation-openai';
const UPSTREAM_AWS_SCOPE = '@opentelemetry/instrumentation-aws-sdk';
/** Marks our own `send` on BedrockRuntimeClient.prototype. */
const BEDROCK_PATCHED = Symbol('tenantscope.bedrock.send');

/**
 * One span per model API request, with GenAI semantic-convention attributes, usage, cost and streaming
 * latency, for OpenAI (chat completions, Responses, embeddings, legacy completions), Anthropic messages,
 * Google Gemini (generateContent, streamGenerateContent, embedContent, batchEmbedContents; Gemini API and
 * Vertex AI) and OpenAI-compatible gateways (named by host).
 *
 * It works at the transport, the one layer every fetch-based client shares: it wraps the global `fetch` (used
 * by `openai` 5–7, `@anthropic-ai/sdk`, `@google/genai`, the Vercel AI SDK's providers, and apps calling the
 * APIs directly) and `openai` 4's `APIClient.fetchWithTimeout` (which uses its own node-fetch shim). A
 * request made while a GenAI client span is active (the Anthropic SDK's own `anthropic.messages.create`,
 * upstream instrumentation-openai's span, the AI SDK's `chat {model}` span) enriches that span instead of
 * starting a second one; the context key set during a call keeps an inner fetch from being counted twice.
 * Response bodies are observed as they are read, whichever way (see CallTracker); nothing is read ahead.
 */
export class GenAIInstrumentation extends InstrumentationBase<GenAIInstrumentationOptions> {
  private _settings: Settings | undefined;
  /** Bedrock clients that have our middleware. */
  private readonly _bedrockClients = new WeakSet<object>();

  constructor(config: GenAIInstrumentationOptions = {}) {
    super('tenantscope-instrumentation-genai', VERSION, config);
    // At start, so a bad price file is reported at startup, not on the first model call.
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
    const patchBedrock = (exports: unknown): unknown => {
      try {
        this._patchBedrock(exports);
      } catch (err) {
        warnOnce('genai-patch-bedrock', `@aws-sdk/client-bedrock-runtime is not instrumented: ${describeError(err)}`);
      }
      return exports;
    };
    const unpatchBedrock = (exports: unknown): void => {
      const proto = (exports as { BedrockRuntimeClient?: { prototype: { send?: AnyFunction } } } | undefined)?.BedrockRuntimeClient?.prototype;
      if (proto !== undefined && Object.prototype.hasOwnProperty.call(proto, 'send') && (proto.send as unknown as Record<symbol, unknown>)[BEDROCK_PATCHED] === true) {
        delete proto.send;
      }
    };
    return [
      new InstrumentationNodeModuleDefinition('openai', ['>=4.0.0 <5'], patch, unpatch),
      new InstrumentationNodeModuleDefinition('openai-v4', ['>=4.0.0 <5'], patch, unpatch),
      new InstrumentationNodeModuleDefinition('@aws-sdk/client-bedrock-runtime', ['>=3.0.0 <4'], patchBedrock, unpatchBedrock),
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
      const models = c.modelEndpoints ?? new ModelEndpointPolicy();
      s = this._settings = {
        prices: c.prices ?? new PriceTable(),
        endpoints: models,
        usageHosts: new HostPolicy((c.openaiUsageHosts ?? []).filter((p) => p !== 'private' && p !== '*')),
        capture: c.captureMessageContent === true,
        bodyTimeoutMs: c.bodyTimeoutMs ?? 30_000,
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
    if (!(p instanceof Promise)) {
      tracker.end();
      return p;
    }
    // The caller gets the response through the tracker: a fetch Response comes back with its body observed at
    // the transport (see CallTracker); errors pass through unchanged.
    return p.then(
      (res: unknown) => tracker.onResponse(res),
      (err: unknown) => {
        tracker.fail(err);
        throw err;
      }
    );
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
    const ep = classify(url, method as string, headers, s);
    if (ep === undefined) return undefined;

    const text = init !== undefined ? bodyText(init.body) : undefined;
    const json = parseJsonObject(text);
    const requestModel = ep.pathModel !== '' ? ep.pathModel : typeof json?.model === 'string' ? json.model : '';
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

    let msgs: unknown;
    if (s.capture && json !== undefined) {
      msgs =
        ep.kind === 'responses' ? json.input : ep.kind === 'embeddings' || ep.kind === 'gemini_embed' ? undefined : ep.kind === 'gemini' ? json.contents : (json.messages ?? json.prompt);
    }
    const port = url.port !== '' ? Number(url.port) : url.protocol === 'http:' ? 80 : 443;
    const { tracker, ctx } = this._open(ep, requestModel, url.hostname, port, msgs, hide);
    return { tracker, ctx, args: callArgs };
  }

  /**
   * Starts the span of one model call (or adopts the GenAI client span another instrumentation started for it)
   * and its tracker; the returned context makes it active and marks the model call.
   */
  private _open(ep: ModelEndpoint, requestModel: string, host: string | undefined, port: number | undefined, msgs: unknown, hide: boolean): Opened {
    const s = this._resolved();
    const active = trace.getSpan(context.active());
    const scope = active !== undefined ? adoptableScope(active, ep.provider === BEDROCK_PROVIDER && ep.pathModel !== '') : undefined;
    let span: Span;
    const spanName = requestModel !== '' ? `${ep.operation} ${requestModel}` : ep.operation;
    if (scope !== undefined) {
      span = active as Span;
      const attrs = (active as unknown as { attributes: Attributes }).attributes;
      if (attrs[ATTR_GEN_AI_PROVIDER_NAME] === undefined) span.setAttribute(ATTR_GEN_AI_PROVIDER_NAME, ep.provider);
      if (attrs[ATTR_GEN_AI_OPERATION_NAME] === undefined) span.setAttribute(ATTR_GEN_AI_OPERATION_NAME, ep.operation);
      if (attrs[ATTR_GEN_AI_REQUEST_MODEL] === undefined && requestModel !== '') span.setAttribute(ATTR_GEN_AI_REQUEST_MODEL, requestModel);
      // The semantic-convention name, whoever started the span (the Anthropic SDK names it anthropic.messages.create).
      if ((active as unknown as { name?: string }).name !== spanName) span.updateName(spanName);
    } else {
      const attributes: Attributes = {
        [ATTR_GEN_AI_OPERATION_NAME]: ep.operation,
        [ATTR_GEN_AI_PROVIDER_NAME]: ep.provider,
      };
      if (host !== undefined) attributes[ATTR_SERVER_ADDRESS] = host;
      if (port !== undefined) attributes[ATTR_SERVER_PORT] = port;
      if (requestModel !== '') attributes[ATTR_GEN_AI_REQUEST_MODEL] = requestModel;
      span = this.tracer.startSpan(spanName, { kind: SpanKind.CLIENT, attributes });
    }
    try {
      // Upstream instrumentations that record their own gen_ai.client.* metrics: only the seed families here.
      const call = new ModelCall(ep.provider, ep.operation, requestModel, scope !== UPSTREAM_OPENAI_SCOPE && scope !== UPSTREAM_AWS_SCOPE);
      setModelCall(span, call);
      if (msgs !== undefined) span.setAttribute(ATTR_GEN_AI_INPUT_MESSAGES, clipContent(JSON.stringify(msgs)));
      const tracker = new CallTracker(span, scope === undefined, call, ep, s, hide);
      const ctx = trace.setSpan(context.active(), span).setValue(MODEL_CALL_CONTEXT_KEY, true);
      return { tracker, ctx };
    } catch (err) {
      // The request goes on untraced (see _traced); a span we started is ended, never left open.
      if (scope === undefined) span.end();
      throw err;
    }
  }

  /** The Bedrock middleware's entry: a traced call for `ep`, unless one is already in flight. */
  private _startBedrock(ep: ModelEndpoint, input: Record<string, unknown>): { tracker: CallTracker; run<T>(fn: () => T): T } | undefined {
    if (context.active().getValue(MODEL_CALL_CONTEXT_KEY) !== undefined) return undefined;
    const s = this._resolved();
    let msgs: unknown;
    if (s.capture) msgs = input.messages ?? (typeof input.body === 'string' ? input.body : undefined);
    const { tracker, ctx } = this._open(ep, ep.pathModel, undefined, undefined, msgs, false);
    return { tracker, run: (fn) => context.with(ctx, fn) };
  }

  private _patchBedrock(exports: unknown): void {
    const cls = (exports as { BedrockRuntimeClient?: { prototype: { send?: AnyFunction } } } | undefined)?.BedrockRuntimeClient;
    const proto = cls?.prototype;
    if (proto === undefined || typeof proto.send !== 'function') throw new Error('BedrockRuntimeClient.prototype.send not found');
    if (Object.prototype.hasOwnProperty.call(proto, 'send')) return;
    const middleware = bedrockMiddleware({ start: (ep, input) => this._startBedrock(ep, input) });
    const clients = this._bedrockClients;
    const inherited = proto.send;
    // An own property shadowing the inherited `send` (the base Client's, which upstream aws-sdk may have wrapped
    // itself): shimmer's re-wrap would unwrap upstream's wrapper on the base class, so it is not used here.
    const send = function send(this: { middlewareStack?: { add?: AnyFunction } }): unknown {
      try {
        // Once per client, on its first send (the constructor is left alone): an initialize-step middleware.
        if (!clients.has(this) && typeof this.middlewareStack?.add === 'function') {
          clients.add(this);
          this.middlewareStack.add(middleware, { step: 'initialize', name: BEDROCK_MIDDLEWARE, override: true });
        }
      } catch (err) {
        warnOnce('genai-bedrock-patch', `a Bedrock client is not instrumented: ${describeError(err)}`);
      }
      // Looked up per call: whoever wraps the base class's `send` later is still called.
      const base = (Object.getPrototypeOf(proto) as { send?: unknown }).send;
      return (typeof base === 'function' ? (base as AnyFunction) : inherited).apply(this, arguments as unknown as unknown[]);
    };
    Object.defineProperty(send, BEDROCK_PATCHED, { value: true });
    Object.defineProperty(proto, 'send', { value: send, writable: true, configurable: true, enumerable: false });
  }


  private _asksUsage(url: URL, s: Settings): boolean {
    return url.hostname === OPENAI_HOST || s.usageHosts.isInternal(url.host) || s.usageHosts.isInternal(url.hostname);
  }
}

interface Opened {
  tracker: CallTracker;
  ctx: ReturnType<typeof context.active>;
}
interface Started extends Opened {
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
function adoptableScope(span: Span, bedrock: boolean): string | undefined {
  if (!span.isRecording()) return undefined;
  const s = span as unknown as { attributes?: Attributes; kind?: SpanKind; instrumentationScope?: { name?: string } };
  if (s.kind !== SpanKind.CLIENT || s.attributes === undefined) return undefined;
  const scope = s.instrumentationScope?.name ?? 'unknown';
  // Upstream aws-sdk's span of a Bedrock call (the Bedrock middleware runs inside it).
  if (s.attributes[ATTR_GEN_AI_OPERATION_NAME] === undefined && !(bedrock && scope === UPSTREAM_AWS_SCOPE)) return undefined;
  return scope;
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
