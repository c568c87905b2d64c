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
import { bodyText, classify, clipContent, headerOf, OPENAI_HOST, parseJsonObject, withStreamUsage } from './utils';

/** Upstream's scope: its span is enriched, and it records its own gen_ai.client.* metrics. */
const UPSTREAM_OPENAI_SCOPE = '@opentelemetry/instrumentation-openai';

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
      const msgs =
        ep.kind === 'responses' ? json.input : ep.kind === 'embeddings' || ep.kind === 'gemini_embed' ? undefined : ep.kind === 'gemini' ? json.contents : (json.messages ?? json.prompt);
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
