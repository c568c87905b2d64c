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
import { JsonTail } from './JsonTail';
import { observedNodeStream, observedWebStream, type StreamObserver } from './stream';
import {
  clipContent,
  obj,
  parseJsonObject,
  priceCall,
  readAnthropicUsage,
  readBedrockCounts,
  readBedrockUsage,
  readGeminiUsage,
  readOpenAIUsage,
  readResponsesUsage,
  SseSplitter,
  type ModelEndpoint,
} from './utils';

const encoder = new TextEncoder();

/**
 * Follows one request's response and ends (or, when enriched, leaves) the span. The body is observed at the
 * transport: a fetch `Response` is handed to the caller as a new `Response` whose body stream passes every
 * chunk through this tracker as the caller (or a `clone()`, `json()`, `text()`, `getReader()`…) pulls it, so
 * every way of reading it ends the span with usage; nothing is read ahead of the caller. A body left unread
 * (or no longer read) for `TENANTSCOPE_MODEL_BODY_TIMEOUT_MS` ends the span without usage. openai 4's
 * node-fetch responses are observed through their read methods and body iterator instead.
 */
export class CallTracker implements StreamObserver {
  private _ended = false;
  private _completed = false;
  private _sse = false;
  private _decoder: TextDecoder | undefined;
  private _splitter: SseSplitter | undefined;
  private _json: JsonTail | undefined;
  private readonly _startedAt = performance.now();
  private _lastChunkAt = 0;
  private readonly _finishReasons: string[] = [];
  private _sawId = false;
  /** Idle timer of an unread body; `_reading` while the caller waits on a read, `_touched` once it read. */
  private _timer: NodeJS.Timeout | undefined;
  private _reading = false;
  private _touched = false;
  private _lastActivity = 0;

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

  /** The response the caller gets for `res`: `res` itself, or a fetch Response whose body is observed. */
  onResponse(res: unknown): unknown {
    try {
      const r = res as { status?: unknown; headers?: { get?: (n: string) => string | null }; body?: unknown } | null;
      if (r === null || typeof r !== 'object' || typeof r.status !== 'number') {
        this.end();
        return res;
      }
      if (r.status >= 400) {
        this._call.errorType = String(r.status);
        this.end();
        return res;
      }
      const ct = typeof r.headers?.get === 'function' ? (r.headers.get('content-type') ?? '') : '';
      this._sse = ct.includes('text/event-stream');
      if (this._sse) this._splitter = new SseSplitter((event, data) => this._onEvent(event, data), this._hide);
      else this._json = new JsonTail();
      this._lastActivity = performance.now();
      let out: unknown = res;
      if (typeof Response === 'function' && res instanceof Response) {
        if (res.body === null) {
          this.end();
          return res;
        }
        out = observedResponse(res, this);
      } else if (this._sse) {
        if (!this._observeNodeStream(r as object)) return res;
      } else {
        this._observeNodeJson(r as object);
      }
      if (!this._ended) this._arm(this._s.bodyTimeoutMs);
      return out;
    } catch (err) {
      warnOnce('genai-response', `a model response was not observed: ${describeError(err)}`);
      this.end();
      return res;
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

  /** Ends the call (at `endTime`, a performance.now() value, when given): last attributes, then the span (when
   * ours), which is ended even if the attributes fail. */
  end(endTime?: number): void {
    if (this._ended) return;
    this._ended = true;
    if (this._timer !== undefined) clearTimeout(this._timer);
    this._timer = undefined;
    this._json = undefined;
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
      span.end(endTime);
    } catch (err) {
      warnOnce('genai-span-end', `a model call span did not end: ${describeError(err)}`);
    }
  }

  // --- parsed responses (the AWS SDK hands them over as objects) ---

  /** A complete non-streamed result; ends the call. */
  result(o: Record<string, unknown>, headers?: Record<string, unknown>): void {
    try {
      this._onResult(o);
      if (!this._call.usageKnown && headers !== undefined) {
        if (readBedrockCounts(headers['x-amzn-bedrock-input-token-count'], headers['x-amzn-bedrock-output-token-count'], this._call)) this._usageChanged();
      }
      this._completed = true;
    } catch (err) {
      warnOnce('genai-result', `a model result was not read: ${describeError(err)}`);
    }
    this.end();
  }

  /** One streamed event object. */
  streamEvent(o: Record<string, unknown>): void {
    if (this._ended) return;
    try {
      this._onStreamObject('', o);
    } catch (err) {
      warnOnce('genai-event', `a model stream event was not read: ${describeError(err)}`);
    }
  }

  /** An object stream ended (its iterator is done). */
  streamEnded(): void {
    if (this._ended) return;
    if (!this._completed) this._span.setAttribute(ATTR_MODEL_STREAM_END, 'truncated');
    this.end();
  }

  /** Starts the unread-body timer for a stream handed to the caller. */
  watchIdle(): void {
    this._lastActivity = performance.now();
    if (!this._ended && this._timer === undefined) this._arm(this._s.bodyTimeoutMs);
  }

  // --- the idle timer ---

  reading(on: boolean): void {
    this._reading = on;
    this._touched = true;
    this._lastActivity = performance.now();
  }

  private _arm(ms: number): void {
    const t = setTimeout(() => this._onIdle(), ms);
    t.unref();
    this._timer = t;
  }

  private _onIdle(): void {
    this._timer = undefined;
    if (this._ended) return;
    try {
      const limit = this._s.bodyTimeoutMs;
      // Waiting on the network is the provider being slow, not the app leaving the body unread.
      if (this._reading) return this._arm(limit);
      const idle = performance.now() - this._lastActivity;
      if (idle < limit) return this._arm(limit - idle);
      this._span.setAttribute(ATTR_MODEL_STREAM_END, this._touched ? 'abandoned' : 'unread');
    } catch {
      // never throw from a timer
    }
    // The span ends when the body was last touched, so an unread body does not inflate the call's duration.
    this.end(this._lastActivity);
  }

  // --- chunks, from the transport (stream.ts) ---

  chunk(bytes: Uint8Array): Uint8Array {
    if (this._ended) return bytes;
    try {
      if (!this._sse) {
        this._json?.push(bytes);
        return bytes;
      }
      this._decoder ??= new TextDecoder();
      const kept = (this._splitter as SseSplitter).push(this._decoder.decode(bytes, { stream: true }));
      return kept === undefined ? bytes : encoder.encode(kept);
    } catch (err) {
      warnOnce('genai-chunk', `a model response chunk was not read: ${describeError(err)}`);
      return bytes;
    }
  }

  streamDone(): Uint8Array | undefined {
    if (this._ended) return undefined;
    if (!this._sse) {
      this._jsonDone();
      return undefined;
    }
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

  private _jsonDone(): void {
    try {
      const o = this._json?.result();
      if (o !== undefined) this._onResult(o);
      this._completed = true;
    } catch (err) {
      warnOnce('genai-body', `a model response body was not read: ${describeError(err)}`);
    }
    this.end();
  }

  // --- openai 4 (node-fetch) responses ---

  /** A node-fetch body: observed when the caller's json()/text()/arrayBuffer() resolves. */
  private _observeNodeJson(r: object): void {
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
          self.reading(true);
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

  /** A node-fetch event stream: its body iterator is observed. */
  private _observeNodeStream(r: object): boolean {
    const original = (r as { body?: unknown }).body;
    if (original === null || original === undefined || typeof original !== 'object' || !(Symbol.asyncIterator in original)) {
      this.end();
      return false;
    }
    const replacement = observedNodeStream(original as AsyncIterable<Uint8Array>, this);
    Object.defineProperty(r, 'body', { configurable: true, enumerable: false, get: () => replacement });
    return true;
  }

  // --- what the response says ---

  /** A complete non-streamed result object. */
  private _onResult(o: Record<string, unknown>): void {
    const call = this._call;
    const capture = this._s.capture;
    switch (this._ep.kind) {
      case 'converse': {
        if (typeof o.stopReason === 'string') this._finishReasons.push(o.stopReason);
        const usage = obj(o.usage);
        if (usage !== undefined && readBedrockUsage(usage, call)) this._usageChanged();
        if (capture && obj(o.output)?.message !== undefined) this._span.setAttribute(ATTR_GEN_AI_OUTPUT_MESSAGES, clipContent(JSON.stringify(obj(o.output)?.message)));
        break;
      }
      case 'bedrock_invoke':
        break;
      case 'messages': {
        this._ids(o.id, o.model);
        if (typeof o.stop_reason === 'string') this._finishReasons.push(o.stop_reason);
        const usage = obj(o.usage);
        if (usage !== undefined && readAnthropicUsage(usage, call)) this._usageChanged();
        if (capture && o.content !== undefined) this._span.setAttribute(ATTR_GEN_AI_OUTPUT_MESSAGES, clipContent(JSON.stringify(o.content)));
        break;
      }
      case 'responses': {
        this._ids(o.id, o.model);
        if (typeof o.service_tier === 'string') this._tier(o.service_tier);
        this._responsesStatus(o);
        const usage = obj(o.usage);
        if (usage !== undefined && readResponsesUsage(usage, call)) this._usageChanged();
        if (capture && o.output !== undefined) this._span.setAttribute(ATTR_GEN_AI_OUTPUT_MESSAGES, clipContent(JSON.stringify(o.output)));
        break;
      }
      case 'gemini':
      case 'gemini_embed': {
        this._gemini(o);
        if (capture && Array.isArray(o.candidates)) {
          const out: unknown[] = [];
          for (const c of o.candidates) out.push(obj(c)?.content);
          this._span.setAttribute(ATTR_GEN_AI_OUTPUT_MESSAGES, clipContent(JSON.stringify(out)));
        }
        break;
      }
      default: {
        this._ids(o.id, o.model);
        if (typeof o.service_tier === 'string') this._tier(o.service_tier);
        this._choices(o);
        const usage = obj(o.usage) ?? obj(obj(o.x_groq)?.usage);
        if (usage !== undefined && readOpenAIUsage(usage, call)) this._usageChanged();
        if (capture && Array.isArray(o.choices)) {
          const out: unknown[] = [];
          for (const c of o.choices) out.push(obj(c)?.message ?? obj(c)?.text);
          this._span.setAttribute(ATTR_GEN_AI_OUTPUT_MESSAGES, clipContent(JSON.stringify(out)));
        }
      }
    }
  }

  /** A Gemini GenerateContentResponse (whole, or one streamed chunk) or EmbedContentResponse. */
  private _gemini(o: Record<string, unknown>): void {
    this._ids(o.responseId, o.modelVersion);
    const candidates = o.candidates;
    if (Array.isArray(candidates)) {
      for (const c of candidates) {
        const r = obj(c)?.finishReason;
        if (typeof r === 'string' && this._finishReasons.length < 16) {
          this._finishReasons.push(r);
          this._completed = true;
        }
      }
    }
    const u = obj(o.usageMetadata);
    if (u !== undefined && readGeminiUsage(u, this._call)) this._usageChanged();
  }

  private _ids(id: unknown, model: unknown): void {
    if (!this._sawId && typeof id === 'string') {
      this._sawId = true;
      this._span.setAttribute(ATTR_GEN_AI_RESPONSE_ID, id);
    }
    if (typeof model === 'string' && model !== '' && this._call.responseModel !== model) {
      if (this._ep.priceByRequest !== true) this._call.responseModel = model;
      this._span.setAttribute(ATTR_GEN_AI_RESPONSE_MODEL, model);
    }
  }

  private _tier(tier: string): void {
    if (this._call.serviceTier === tier) return;
    this._call.serviceTier = tier;
    if (this._ep.kind !== 'messages') this._span.setAttribute(ATTR_OPENAI_RESPONSE_SERVICE_TIER, tier);
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
    if (c.cacheWrite5m + c.cacheWrite1h > 0 || this._ep.kind === 'messages') {
      span.setAttribute(ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, c.cacheWrite5m + c.cacheWrite1h);
    }
    if (c.reasoning > 0) span.setAttribute(ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, c.reasoning);
    const usd = priceCall(c, this._s.prices);
    if (usd !== undefined) span.setAttribute(ATTR_MODEL_COST_USD, usd);
  }

  /** A chunk of output arrived: time to the first one, gaps between the later ones. */
  private _outputChunk(): void {
    const now = performance.now();
    if (this._call.firstChunkSeconds === undefined) {
      const s = (now - this._startedAt) / 1000;
      this._call.firstChunkSeconds = s;
      this._span.setAttribute(ATTR_GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, s);
    } else {
      this._call.chunkGap((now - this._lastChunkAt) / 1000);
    }
    this._lastChunkAt = now;
  }

  /** One server-sent event; returns true to hide it from the caller. */
  private _onEvent(event: string, data: string): boolean {
    if (data === '[DONE]') {
      this._completed = true;
      return false;
    }
    const o = parseJsonObject(data);
    if (o === undefined) return false;
    return this._onStreamObject(event, o);
  }

  /** One streamed event, parsed; returns true to hide it from the caller. */
  private _onStreamObject(event: string, o: Record<string, unknown>): boolean {
    const call = this._call;
    switch (this._ep.kind) {
      case 'converse': {
        if (obj(o.contentBlockDelta) !== undefined) this._outputChunk();
        const stop = obj(o.messageStop)?.stopReason;
        if (typeof stop === 'string') this._finishReasons.push(stop);
        const meta = obj(o.metadata);
        if (meta !== undefined) {
          this._completed = true;
          const u = obj(meta.usage);
          if (u !== undefined && readBedrockUsage(u, call)) this._usageChanged();
        }
        return false;
      }
      case 'bedrock_invoke': {
        this._outputChunk();
        const m = obj(o['amazon-bedrock-invocationMetrics']);
        if (m !== undefined) {
          this._completed = true;
          if (readBedrockCounts(m.inputTokenCount, m.outputTokenCount, call)) this._usageChanged();
        }
        return false;
      }
      case 'messages': {
        const type = typeof o.type === 'string' ? o.type : event;
        if (type === 'message_start') {
          const m = obj(o.message);
          if (m !== undefined) {
            this._ids(m.id, m.model);
            const u = obj(m.usage);
            if (u !== undefined && readAnthropicUsage(u, call)) this._usageChanged();
          }
        } else if (type === 'content_block_delta') {
          this._outputChunk();
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
          this._ids(resp.id, resp.model);
          if (typeof resp.service_tier === 'string') this._tier(resp.service_tier);
        }
        if (typeof type === 'string' && type.endsWith('.delta')) this._outputChunk();
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
      case 'gemini':
      case 'gemini_embed':
        this._outputChunk();
        this._gemini(o);
        if (obj(o.error) !== undefined) call.errorType ??= String(obj(o.error)?.status ?? 'error');
        return false;
      default: {
        this._ids(o.id, o.model);
        if (typeof o.service_tier === 'string') this._tier(o.service_tier);
        const choices = o.choices;
        if (Array.isArray(choices) && choices.length > 0) this._outputChunk();
        this._choices(o);
        const u = obj(o.usage) ?? obj(obj(o.x_groq)?.usage);
        if (u !== undefined && readOpenAIUsage(u, call)) {
          this._usageChanged();
          // The extra chunk we asked for: usage and no choices. The caller did not ask for it, so it never sees it.
          return this._hide && Array.isArray(choices) && choices.length === 0;
        }
        return false;
      }
    }
  }
}

/**
 * A fetch Response like `res` whose body is `res.body` observed by `obs`: same status, headers, url,
 * `redirected` and `type`; the original body is read only as the new one is.
 */
function observedResponse(res: Response, obs: CallTracker): Response {
  const out = new Response(observedWebStream(res.body as ReadableStream<Uint8Array>, obs), {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
  });
  Object.defineProperty(out, 'url', { value: res.url, enumerable: false, configurable: true });
  Object.defineProperty(out, 'redirected', { value: res.redirected, enumerable: false, configurable: true });
  Object.defineProperty(out, 'type', { value: res.type, enumerable: false, configurable: true });
  return out;
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'APIUserAbortError');
}

function errorName(err: unknown): string {
  if (err instanceof Error) return err.name === 'Error' ? err.constructor.name : err.name;
  return typeof err;
}
