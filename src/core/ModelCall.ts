import { histogramSlots, newSeriesData, recordHistogram, type SeriesData } from './metrics/MetricFamily';
import { METRIC_GEN_AI_TIME_PER_OUTPUT_CHUNK } from './semconv';

/** Buckets of the per-call chunk-gap histogram (those of `gen_ai.client.operation.time_per_output_chunk`). */
export const CHUNK_GAP_BOUNDARIES: readonly number[] = METRIC_GEN_AI_TIME_PER_OUTPUT_CHUNK.boundaries ?? [];

/** Where a model-call span keeps its {@link ModelCall} record. */
const RECORD = Symbol('tenantscope.modelCall');
/** Marks a span started inside a model call (the HTTP request under a GenAI span). */
const INSIDE = Symbol('tenantscope.insideModelCall');

/**
 * The provider a call is billed by (the `provider` label and `gen_ai.provider.name`): `openai`, `anthropic`,
 * `gcp.gemini`, `gcp.vertex_ai`, `aws.bedrock`, an OpenAI-compatible gateway named from its host (`openrouter`,
 * `groq`, `deepseek`, `together`, `mistral`…) or the name an operator gave a host in `TENANTSCOPE_MODEL_HOSTS`.
 */
export type Provider = string;

/**
 * What one model API request told us, kept on its span (ours, or the SDK's / upstream's span we enriched)
 * for the model-usage metric processor, which turns it into metrics when the span ends. The GenAI
 * instrumentation prices the call as usage arrives (so the cost is on the span before it ends).
 * Token fields follow billing classes: `input` is uncached input only, so the four classes sum to the
 * billed total with no double counting.
 */
export class ModelCall {
  responseModel: string | undefined = undefined;
  /** True once a usage object was read from the response. */
  usageKnown = false;
  input = 0;
  cacheRead = 0;
  cacheWrite5m = 0;
  cacheWrite1h = 0;
  output = 0;
  reasoning = 0;
  /** Service tier the response names (`default`, `flex`, `priority`, `batch`, `standard`…). */
  serviceTier: string | undefined = undefined;
  /** `error.type` of a failed call; undefined on success. */
  errorType: string | undefined = undefined;
  /** Cost in pico-dollars, set when usage arrives and the model is priced. */
  costPico: number | undefined = undefined;
  /** Streamed calls: seconds from the request to the first chunk of the response stream. */
  firstChunkSeconds: number | undefined = undefined;
  /**
   * Streamed calls: the gaps between consecutive chunks after the first, as a histogram over
   * {@link CHUNK_GAP_BOUNDARIES} (a `SeriesData` at offset 0), so a long stream costs one small array.
   */
  chunkGaps: SeriesData | undefined = undefined;

  constructor(
    readonly provider: Provider,
    /** `gen_ai.operation.name`: `chat`, `embeddings`, `text_completion`. */
    readonly operation: string,
    /** The requested model ('' when the request named none we could read). */
    readonly requestModel: string,
    /**
     * False when the span belongs to an instrumentation that records its own `gen_ai.client.*` metrics
     * (upstream `@opentelemetry/instrumentation-openai`): we then record only the seed families.
     */
    readonly semconvMetrics: boolean
  ) {}

  /** Records one gap between chunks, in seconds. */
  chunkGap(seconds: number): void {
    const d = (this.chunkGaps ??= newSeriesData(histogramSlots(CHUNK_GAP_BOUNDARIES), [0]));
    recordHistogram(d, 0, CHUNK_GAP_BOUNDARIES, seconds);
  }

  /** Input tokens as the GenAI conventions count them: cached reads and cache writes included. */
  get inputTotal(): number {
    return this.input + this.cacheRead + this.cacheWrite5m + this.cacheWrite1h;
  }

  /** The model that prices the call: the one the response reports, else the requested one. */
  get pricedModel(): string {
    return this.responseModel ?? this.requestModel;
  }
}

/** The model-call record a span carries, if it is a model-call span. */
export function modelCallOf(span: object): ModelCall | undefined {
  return (span as { [RECORD]?: ModelCall })[RECORD];
}

/** Attaches `call` to `span`. */
export function setModelCall(span: object, call: ModelCall): void {
  (span as { [RECORD]?: ModelCall })[RECORD] = call;
}

/** Marks `span` as started inside a model call (TenantSpanProcessor does, from the context it starts in). */
export function markInsideModelCall(span: object): void {
  (span as { [INSIDE]?: true })[INSIDE] = true;
}

/** True when `span` was started inside a model call: its request is part of that call, not an integration. */
export function isInsideModelCall(span: object): boolean {
  return (span as { [INSIDE]?: true })[INSIDE] === true;
}
