import { describeError, warnOnce } from '../../src/core/log';
import { PriceTable } from '../../src/core/pricing/PriceTable';
import { ModelCall, type Provider } from '../../src/core/ModelCall';
import { OPERATION_CHAT, OPERATION_EMBEDDINGS, OPERATION_TEXT_COMPLETION } from '../../src/core/semconv';
import type { Settings } from './internal-types';

/** Hosts that speak the OpenAI API and accept `stream_options`. */
export const OPENAI_HOST = 'api.openai.com';
export const ANTHROPIC_HOST = 'api.anthropic.com';
export const GEMINI_HOST = 'generativelanguage.googleapis.com';

/** Response wire formats tenantscope reads. */
export type WireFormat =
  | 'chat'
  | 'text'
  | 'responses'
  | 'embeddings'
  | 'messages'
  | 'gemini'
  | 'gemini_embed'
  /** Bedrock Converse / ConverseStream (parsed objects from the AWS SDK). */
  | 'converse'
  /** Bedrock InvokeModel of a model that is not Anthropic's: usage from headers / invocation metrics only. */
  | 'bedrock_invoke';

/** What a request is, when it is a model call. */
export interface ModelEndpoint {
  /** Wire format of the response. */
  readonly kind: WireFormat;
  /** Who bills it (see `Provider` in src/core/ModelCall.ts). */
  readonly provider: Provider;
  readonly operation: string;
  /** An OpenAI chat/text completion whose stream may be asked for usage. */
  readonly streamUsage: boolean;
  /** The model the URL names (Gemini: `/models/{model}:generateContent`); '' when the body names it. */
  readonly pathModel: string;
  /** Price by the requested model even when the response names another (Bedrock ids are the billing ids). */
  readonly priceByRequest?: boolean;
}

/** The Vercel AI SDK's user agent (`ai/7.0.0 ai-sdk-provider-utils/5.0.0 node.js/24`, older `ai-sdk/openai/…`). */
const AI_SDK_AGENT = /(?:^|\s)ai-sdk[-/]/;
/** Gemini API and Vertex AI paths: `…/models/{model}:{method}`. */
const GEMINI_PATH = /\/models\/([^/:]+):(generateContent|streamGenerateContent|embedContent|batchEmbedContents)$/;
/** Reads one request header whatever shape the headers come in (Headers, entries, plain object). */
export function headerOf(headers: unknown, name: string): string | undefined {
  if (headers === undefined || headers === null || typeof headers !== 'object') return undefined;
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  if (Array.isArray(headers)) {
    for (const e of headers) if (Array.isArray(e) && String(e[0]).toLowerCase() === name) return String(e[1]);
    return undefined;
  }
  for (const k of Object.keys(headers)) {
    if (k.toLowerCase() === name) {
      const v = (headers as Record<string, unknown>)[k];
      return v === undefined || v === null ? undefined : String(v);
    }
  }
  return undefined;
}

/**
 * Classifies a request. A model call is a POST to a model path (OpenAI chat completions, Responses, embeddings,
 * completions; Anthropic messages; Gemini generateContent, streamGenerateContent, embedContent,
 * batchEmbedContents) on a provider host, on a gateway host (built-in or listed in `TENANTSCOPE_MODEL_HOSTS`),
 * or one an official SDK marks as its own (`x-stainless-lang`, `anthropic-version`, `x-goog-api-client`, the
 * Vercel AI SDK's user agent): a plain POST to `/messages` on some internal service is not mistaken
 * for Anthropic. The provider is the one the host is named for, else the API's own.
 */
export function classify(url: URL, method: string, headers: unknown, s: Settings): ModelEndpoint | undefined {
  if (method !== 'POST') return undefined;
  const path = url.pathname;
  const host = url.hostname;
  let kind: WireFormat;
  let operation = OPERATION_CHAT;
  let dialect: Provider;
  let pathModel = '';
  const g = GEMINI_PATH.exec(path);
  if (g !== null) {
    const embed = g[2] === 'embedContent' || g[2] === 'batchEmbedContents';
    kind = embed ? 'gemini_embed' : 'gemini';
    if (embed) operation = OPERATION_EMBEDDINGS;
    dialect = host.endsWith('aiplatform.googleapis.com') || path.includes('/publishers/') ? 'gcp.vertex_ai' : 'gcp.gemini';
    try {
      pathModel = decodeURIComponent(g[1]);
    } catch {
      pathModel = g[1];
    }
  } else {
    dialect = 'openai';
    if (path.endsWith('/chat/completions')) kind = 'chat';
    else if (path.endsWith('/responses')) kind = 'responses';
    else if (path.endsWith('/embeddings')) {
      kind = 'embeddings';
      operation = OPERATION_EMBEDDINGS;
    } else if (path.endsWith('/messages')) {
      kind = 'messages';
      dialect = 'anthropic';
    } else if (path.endsWith('/completions')) {
      kind = 'text';
      operation = OPERATION_TEXT_COMPLETION;
    } else return undefined;
  }
  const named = s.endpoints.providerOf(url.host, host);
  let known = named !== undefined;
  if (!known) {
    if (dialect === 'anthropic') known = host === ANTHROPIC_HOST || headerOf(headers, 'anthropic-version') !== undefined;
    else if (dialect === 'openai') {
      known =
        host === OPENAI_HOST ||
        host.endsWith('.openai.azure.com') ||
        host === GEMINI_HOST ||
        headerOf(headers, 'x-stainless-lang') !== undefined ||
        AI_SDK_AGENT.test(headerOf(headers, 'user-agent') ?? '');
    } else known = host.endsWith('.googleapis.com') || (headerOf(headers, 'x-goog-api-client') ?? '').includes('genai');
    known ||= s.endpoints.isListed(url.host, host) || s.usageHosts.isInternal(url.host) || s.usageHosts.isInternal(host);
  }
  if (!known) return undefined;
  // Gemini's OpenAI-compatible endpoint is still Gemini.
  const provider = named ?? (host === GEMINI_HOST ? 'gcp.gemini' : host.endsWith('aiplatform.googleapis.com') ? 'gcp.vertex_ai' : dialect);
  return { kind, provider, operation, streamUsage: kind === 'chat' || kind === 'text', pathModel };
}

/** The request body as text, when it is text we can read without consuming anything. */
export function bodyText(body: unknown): string | undefined {
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array && body.byteLength <= 4 * 1024 * 1024) return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  return undefined;
}

/** Request JSON, or undefined when the body is not a JSON object. */
export function parseJsonObject(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The body with `stream_options.include_usage: true` added, or undefined when the caller already decided
 * (either way). Adds the field textually when `stream_options` is absent, so the rest of the body is sent
 * byte for byte as the app built it.
 */
export function withStreamUsage(text: string, json: Record<string, unknown>): string | undefined {
  const so = json.stream_options;
  if (so === undefined || so === null) {
    const end = text.lastIndexOf('}');
    if (end === -1) return undefined;
    const sep = /^\s*\{\s*$/.test(text.slice(0, end)) ? '' : ',';
    return `${text.slice(0, end)}${sep}"stream_options":{"include_usage":true}${text.slice(end)}`;
  }
  if (typeof so !== 'object' || Array.isArray(so)) return undefined;
  if ((so as Record<string, unknown>).include_usage !== undefined) return undefined;
  return JSON.stringify({ ...json, stream_options: { ...(so as object), include_usage: true } });
}

/** A token count from a provider, or undefined; a value that is present but not a count is logged once. */
function count(v: unknown, field: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  warnOnce(`bad-usage:${field}`, `a model response had a ${field} that is not a token count; it was ignored`);
  return undefined;
}

/** `v` as a plain object, or undefined. */
export function obj(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** Field names of one OpenAI usage shape: input (cached included), its details, output (reasoning included), its details. */
interface OpenAIUsageFields {
  readonly input: string;
  readonly inputDetails: string;
  readonly output: string;
  readonly outputDetails: string;
}
const CHAT_USAGE: OpenAIUsageFields = {
  input: 'prompt_tokens',
  inputDetails: 'prompt_tokens_details',
  output: 'completion_tokens',
  outputDetails: 'completion_tokens_details',
};
const RESPONSES_USAGE: OpenAIUsageFields = {
  input: 'input_tokens',
  inputDetails: 'input_tokens_details',
  output: 'output_tokens',
  outputDetails: 'output_tokens_details',
};

function readUsage(u: Record<string, unknown>, call: ModelCall, f: OpenAIUsageFields): boolean {
  const input = count(u[f.input], f.input);
  if (input === undefined) return false;
  const details = obj(u[f.inputDetails]);
  const cached = Math.min(input, count(details?.cached_tokens, 'cached_tokens') ?? 0);
  // Prompt-cache writes, where the API reports them (part of the input, like cached reads).
  const written = Math.min(input - cached, count(details?.cache_write_tokens, 'cache_write_tokens') ?? 0);
  call.input = input - cached - written;
  call.cacheRead = cached;
  call.cacheWrite5m = written;
  call.output = count(u[f.output], f.output) ?? 0;
  call.reasoning = count(obj(u[f.outputDetails])?.reasoning_tokens, 'reasoning_tokens') ?? 0;
  call.usageKnown = true;
  return true;
}

/** OpenAI chat / text completion / embeddings usage: `prompt_tokens` includes cached tokens. */
export function readOpenAIUsage(u: Record<string, unknown>, call: ModelCall): boolean {
  return readUsage(u, call, CHAT_USAGE);
}

/** OpenAI Responses API usage: `input_tokens` includes cached tokens, `output_tokens` reasoning ones. */
export function readResponsesUsage(u: Record<string, unknown>, call: ModelCall): boolean {
  return readUsage(u, call, RESPONSES_USAGE);
}

/**
 * Anthropic usage: `input_tokens` excludes cache reads and writes. Fields present replace what is known, so a
 * stream's `message_delta` (cumulative counts) completes its `message_start`. Cache writes go to the 1-hour
 * rate only when the response says so (`cache_creation.ephemeral_1h_input_tokens`); the rest is 5-minute.
 */
export function readAnthropicUsage(u: Record<string, unknown>, call: ModelCall): boolean {
  let any = false;
  const input = count(u.input_tokens, 'input_tokens');
  if (input !== undefined) {
    call.input = input;
    any = true;
  }
  const read = count(u.cache_read_input_tokens, 'cache_read_input_tokens');
  if (read !== undefined) {
    call.cacheRead = read;
    any = true;
  }
  const write = count(u.cache_creation_input_tokens, 'cache_creation_input_tokens');
  const detail = obj(u.cache_creation);
  const w1h = count(detail?.ephemeral_1h_input_tokens, 'ephemeral_1h_input_tokens');
  const w5m = count(detail?.ephemeral_5m_input_tokens, 'ephemeral_5m_input_tokens');
  if (write !== undefined || w1h !== undefined || w5m !== undefined) {
    const oneHour = w1h ?? 0;
    const total = write ?? oneHour + (w5m ?? 0);
    call.cacheWrite1h = Math.min(oneHour, total);
    call.cacheWrite5m = total - call.cacheWrite1h;
    any = true;
  }
  const output = count(u.output_tokens, 'output_tokens');
  if (output !== undefined) {
    call.output = output;
    any = true;
  }
  const thinking = count(obj(u.output_tokens_details)?.thinking_tokens, 'thinking_tokens');
  if (thinking !== undefined) call.reasoning = thinking;
  if (typeof u.service_tier === 'string') call.serviceTier = u.service_tier;
  if (any) call.usageKnown = true;
  return any;
}

/**
 * Gemini `usageMetadata`: `promptTokenCount` includes `cachedContentTokenCount`; tool-use prompt tokens are
 * input too; `thoughtsTokenCount` is billed as output (reasoning) on top of `candidatesTokenCount`. Streamed
 * chunks repeat a growing object: each replaces what is known, the last is final.
 */
export function readGeminiUsage(u: Record<string, unknown>, call: ModelCall): boolean {
  const prompt = count(u.promptTokenCount, 'promptTokenCount');
  const candidates = count(u.candidatesTokenCount, 'candidatesTokenCount');
  if (prompt === undefined && candidates === undefined) return false;
  const p = prompt ?? 0;
  const cached = Math.min(p, count(u.cachedContentTokenCount, 'cachedContentTokenCount') ?? 0);
  const thoughts = count(u.thoughtsTokenCount, 'thoughtsTokenCount') ?? 0;
  call.input = p - cached + (count(u.toolUsePromptTokenCount, 'toolUsePromptTokenCount') ?? 0);
  call.cacheRead = cached;
  call.output = (candidates ?? 0) + thoughts;
  call.reasoning = thoughts;
  call.usageKnown = true;
  return true;
}

/**
 * Bedrock Converse usage: `inputTokens` excludes `cacheReadInputTokens` and `cacheWriteInputTokens` (as
 * Anthropic's does); cache writes are billed at the 5-minute rate.
 */
export function readBedrockUsage(u: Record<string, unknown>, call: ModelCall): boolean {
  const input = count(u.inputTokens, 'inputTokens');
  const output = count(u.outputTokens, 'outputTokens');
  if (input === undefined && output === undefined) return false;
  call.input = input ?? 0;
  call.cacheRead = count(u.cacheReadInputTokens, 'cacheReadInputTokens') ?? 0;
  call.cacheWrite5m = count(u.cacheWriteInputTokens, 'cacheWriteInputTokens') ?? 0;
  call.cacheWrite1h = 0;
  call.output = output ?? 0;
  call.usageKnown = true;
  return true;
}

/** Bedrock InvokeModel token counts of any model: response headers, or a stream's `amazon-bedrock-invocationMetrics`. */
export function readBedrockCounts(input: unknown, output: unknown, call: ModelCall): boolean {
  const i = typeof input === 'string' ? Number(input) : input;
  const o = typeof output === 'string' ? Number(output) : output;
  const ic = count(i, 'inputTokenCount');
  const oc = count(o, 'outputTokenCount');
  if (ic === undefined && oc === undefined) return false;
  call.input = ic ?? 0;
  call.output = oc ?? 0;
  call.usageKnown = true;
  return true;
}

/**
 * Prices `call` with `table`: sets `call.costPico` (undefined when the provider/model pair is unpriced, logged
 * once per pair) and returns the cost in USD for the span, or undefined. Integer pico-dollar arithmetic: the
 * per-token prices that apply (condition, service tier, long-context tier) times the billed tokens.
 */
export function priceCall(call: ModelCall, table: PriceTable): number | undefined {
  if (!call.usageKnown) return undefined;
  const model = call.pricedModel;
  const entry = model === '' ? undefined : table.lookup(call.provider, model);
  if (entry === undefined) {
    call.costPico = undefined;
    const m = model.slice(0, 128);
    warnOnce(`unpriced:${call.provider}:${m}`, `model "${m}" of provider "${call.provider}" has no price in ${table.version}: its tokens are counted, its cost is not`);
    return undefined;
  }
  const tier = call.serviceTier;
  if (tier !== undefined && tier !== 'default' && tier !== 'standard' && tier !== 'auto' && tier !== 'standard_only' && !PriceTable.hasTier(entry, tier)) {
    warnOnce(`tier:${entry.model}:${tier.slice(0, 32)}`, `no "${tier.slice(0, 32)}" tier price for model "${entry.model}"; billed at its standard price`);
  }
  // The clock only matters for prices that change by date or time of day (few models).
  const pico = PriceTable.costOf(entry, call, tier, entry.flat !== undefined || entry.variants.length === 1 ? 0 : Date.now());
  call.costPico = pico;
  return pico / 1e12;
}

/**
 * Incremental server-sent-events splitter: feeds text, calls `onEvent(event, data)` for every complete event,
 * and, when `filter` is on, returns the text of the complete events `onEvent` did not ask to hide (the tail of
 * an incomplete event waits for its end). With `filter` off it returns undefined and the caller passes the
 * original bytes on.
 */
export class SseSplitter {
  private _buf = '';

  constructor(
    private readonly _onEvent: (event: string, data: string) => boolean,
    private readonly _filter: boolean
  ) {}

  /** Feeds text; returns what to pass on when filtering. */
  push(text: string): string | undefined {
    this._buf += text;
    let out = this._filter ? '' : undefined;
    for (;;) {
      const m = /\r\n\r\n|\n\n|\r\r/.exec(this._buf);
      if (m === null) break;
      const block = this._buf.slice(0, m.index);
      const sep = m[0];
      this._buf = this._buf.slice(m.index + sep.length);
      const hide = this._event(block);
      if (out !== undefined && !hide) out += block + sep;
    }
    // One event never grows past this while unfinished (a protocol violation): stop holding it.
    if (this._buf.length > 8 * 1024 * 1024) {
      if (out !== undefined) out += this._buf;
      this._buf = '';
    }
    return out;
  }

  /** Ends the stream: a last event without its blank line is still read; returns the held tail when filtering. */
  end(): string | undefined {
    const rest = this._buf;
    this._buf = '';
    if (rest.trim() === '') return this._filter ? rest : undefined;
    const hide = this._event(rest);
    return this._filter && !hide ? rest : this._filter ? '' : undefined;
  }

  private _event(block: string): boolean {
    let event = '';
    let data: string | undefined;
    for (const line of block.split(/\r\n|\n|\r/)) {
      if (line.startsWith('data:')) {
        const v = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
        data = data === undefined ? v : data + '\n' + v;
      } else if (line.startsWith('event:')) {
        event = line.slice(line.charCodeAt(6) === 32 ? 7 : 6);
      }
    }
    if (data === undefined) return false;
    try {
      return this._onEvent(event, data);
    } catch (err) {
      // One unreadable event: the stream goes on, the event reaches the caller.
      warnOnce('genai-event', `a model stream event was not read: ${describeError(err)}`);
      return false;
    }
  }
}

/** Clips captured content to a bounded size. */
export function clipContent(s: string): string {
  return s.length > 65536 ? s.slice(0, 65536) : s;
}
