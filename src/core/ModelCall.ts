/** Where a model-call span keeps its {@link ModelCall} record. */
const RECORD = Symbol('tenantscope.modelCall');
/** Marks a span started inside a model call (the HTTP request under a GenAI span). */
const INSIDE = Symbol('tenantscope.insideModelCall');

/** API dialects tenantscope understands (the `provider` label and `gen_ai.provider.name`). */
export type Provider = 'openai' | 'anthropic';

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
  /** Cost in pico-dollars, set by the GenAI instrumentation when the model is priced. */
  costPico: number | undefined = undefined;

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
