import { SpanStatusCode, type Span } from '@opentelemetry/api';
import { TextDecoder } from 'node:util';
import { describeError, warnOnce } from '../../src/core/log';
import type { ModelCall } from '../../src/core/ModelCall';
import {
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_OUTPUT_MESSAGES,
  ATTR_GEN_AI_RESPONSE_FINISH_REASONS,
  ATTR_GEN_AI_RESPONSE_ID,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
  ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
  ATTR_MODEL_COST_USD,
  ATTR_MODEL_STREAM_END,
  ATTR_MODEL_USAGE_MISSING,
  ATTR_OPENAI_RESPONSE_SERVICE_TIER,
} from '../../src/core/semconv';
import type { AnyFunction, Settings } from './internal-types';
import { observedNodeStream, observedWebStream, type StreamObserver } from './stream';
import {
  clipContent,
  obj,
  parseJsonObject,
  priceCall,
  readAnthropicUsage,
  readOpenAIUsage,
  readResponsesUsage,
  SseSplitter,
  type ModelEndpoint,
} from './utils';

const encoder = new TextEncoder();

/** Follows one request's response, as the caller reads it, and ends (or, when enriched, leaves) the span. */
export class CallTracker implements StreamObserver {
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
    } catch (e) {
      warnOnce('genai-fail', `a failed model call was not fully recorded: ${describeError(e)}`);
    }
    this.end();
  }

  /** Ends the call: last attributes, then the span (when ours), which is ended even if the attributes fail. */
  end(): void {
    if (this._ended) return;
    this._ended = true;
    const span = this._span;
    try {
      if (this._finishReasons.length > 0) span.setAttribute(ATTR_GEN_AI_RESPONSE_FINISH_REASONS, this._finishReasons);
      if (!this._call.usageKnown && this._call.errorType === undefined) span.setAttribute(ATTR_MODEL_USAGE_MISSING, true);
      if (this._call.errorType !== undefined) span.setAttribute(ATTR_ERROR_TYPE, this._call.errorType);
      if (this._own && this._call.errorType !== undefined) span.setStatus({ code: SpanStatusCode.ERROR });
    } catch (err) {
      warnOnce('genai-end', `a model call span ended without its last attributes: ${describeError(err)}`);
    }
    if (!this._own) return;
    try {
      span.end();
    } catch (err) {
      warnOnce('genai-span-end', `a model call span did not end: ${describeError(err)}`);
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

  // --- streams (see stream.ts) ---

  private _observeStream(r: object): void {
    const original = (r as { body?: unknown }).body;
    if (original === null || original === undefined || typeof original !== 'object') {
      this.end();
      return;
    }
    this._splitter = new SseSplitter((event, data) => this._onEvent(event, data), this._hide);
    let replacement: unknown;
    if (typeof (original as ReadableStream).getReader === 'function') replacement = observedWebStream(original as ReadableStream<Uint8Array>, this);
    else if (Symbol.asyncIterator in original) replacement = observedNodeStream(original as AsyncIterable<Uint8Array>, this);
    else {
      this.end();
      return;
    }
    Object.defineProperty(r, 'body', { configurable: true, enumerable: false, get: () => replacement });
  }


  chunk(bytes: Uint8Array): Uint8Array {
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

  streamDone(): Uint8Array | undefined {
    let tail: string | undefined;
    try {
      const splitter = this._splitter as SseSplitter;
      const rest = this._decoder?.decode() ?? '';
      const a = rest !== '' ? splitter.push(rest) : this._hide ? '' : undefined;
      const b = splitter.end();
      tail = a === undefined && b === undefined ? undefined : (a ?? '') + (b ?? '');
      if (!this._completed && !this._ended) this._span.setAttribute(ATTR_MODEL_STREAM_END, 'truncated');
    } catch (err) {
      warnOnce('genai-stream-end', `the end of a model stream was not read: ${describeError(err)}`);
    }
    this.end();
    return tail !== undefined && tail !== '' ? encoder.encode(tail) : undefined;
  }

  abandoned(): void {
    if (this._ended) return;
    try {
      if (!this._completed) this._span.setAttribute(ATTR_MODEL_STREAM_END, 'abandoned');
    } catch (err) {
      warnOnce('genai-abandoned', `an abandoned model stream was not marked: ${describeError(err)}`);
    }
    this.end();
    if (!this._own) {
      // An enriched span whose owner does not end it when the caller stops reading (upstream
      // instrumentation-openai leaves it open) is ended here, with what was known.
      const span = this._span;
      setImmediate(() => {
        try {
          if (span.isRecording()) span.end();
        } catch (err) {
          warnOnce('genai-span-end', `a model call span did not end: ${describeError(err)}`);
        }
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


function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'APIUserAbortError');
}

function errorName(err: unknown): string {
  if (err instanceof Error) return err.name === 'Error' ? err.constructor.name : err.name;
  return typeof err;
}

/** The GenAI instrumentation as the environment configures it (price file, hosts, content capture). */