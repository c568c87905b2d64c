/**
 * The one catalog of attribute keys, metric names, label names, buckets and reserved label values.
 * Prometheus names follow the seed's metric catalog (our contract with users' dashboards) and the
 * names the OpenTelemetry Collector's spanmetrics connector produces (what Jaeger's Monitor tab queries).
 */

/** Span attribute carrying the (validated, possibly hashed) tenant id. */
export const ATTR_TENANT_ID = 'tenant.id';
/** W3C baggage entry that carries the tenant between services. */
export const BAGGAGE_TENANT_ID = 'tenant.id';

// Stable semantic-convention keys, from the upstream package.
export {
  ATTR_ERROR_TYPE,
  ATTR_EXCEPTION_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_PATH,
} from '@opentelemetry/semantic-conventions';
/**
 * Development-status keys, copied rather than imported: the package's incubating entry is not a stable API
 * (and loading it costs start-up time).
 */
export const ATTR_HTTP_REQUEST_BODY_SIZE = 'http.request.body.size';
export const EVENT_EXCEPTION = 'exception';

// GenAI semantic-convention attribute keys (released v1.37–v1.41; development status, copied as above).
export const ATTR_GEN_AI_OPERATION_NAME = 'gen_ai.operation.name';
export const ATTR_GEN_AI_PROVIDER_NAME = 'gen_ai.provider.name';
/** Deprecated predecessor of `gen_ai.provider.name`, still written by upstream instrumentation-openai. */
export const ATTR_GEN_AI_SYSTEM = 'gen_ai.system';
export const ATTR_GEN_AI_REQUEST_MODEL = 'gen_ai.request.model';
export const ATTR_GEN_AI_RESPONSE_MODEL = 'gen_ai.response.model';
export const ATTR_GEN_AI_RESPONSE_ID = 'gen_ai.response.id';
export const ATTR_GEN_AI_RESPONSE_FINISH_REASONS = 'gen_ai.response.finish_reasons';
export const ATTR_GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = 'gen_ai.response.time_to_first_chunk';
export const ATTR_GEN_AI_USAGE_INPUT_TOKENS = 'gen_ai.usage.input_tokens';
export const ATTR_GEN_AI_USAGE_OUTPUT_TOKENS = 'gen_ai.usage.output_tokens';
export const ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = 'gen_ai.usage.cache_read.input_tokens';
export const ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = 'gen_ai.usage.cache_creation.input_tokens';
export const ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = 'gen_ai.usage.reasoning.output_tokens';
export const ATTR_GEN_AI_INPUT_MESSAGES = 'gen_ai.input.messages';
export const ATTR_GEN_AI_OUTPUT_MESSAGES = 'gen_ai.output.messages';
export const ATTR_OPENAI_RESPONSE_SERVICE_TIER = 'openai.response.service_tier';
/** `gen_ai.operation.name` values. */
export const OPERATION_CHAT = 'chat';
export const OPERATION_EMBEDDINGS = 'embeddings';
export const OPERATION_TEXT_COMPLETION = 'text_completion';

/** True when usage was expected but the response ended without it (never estimated). */
export const ATTR_MODEL_USAGE_MISSING = 'tenantscope.model.usage_missing';
/** How a streamed response ended when it did not complete: `abandoned` (the caller stopped reading) or `truncated`. */
export const ATTR_MODEL_STREAM_END = 'tenantscope.model.stream_end';

/**
 * Computed cost of a model call in USD, set on model-call spans (issue 3); read by the keep-by-cost export rule.
 */
export const ATTR_MODEL_COST_USD = 'tenantscope.cost.usd';
/** Set on exported spans of a local trace that was exported by a keep rule although the sampler dropped it. */
export const ATTR_KEPT_BY = 'tenantscope.kept_by';

/** Reserved tenant label values, the same in every metric family. */
export const TENANT_UNKNOWN = 'unknown';
export const TENANT_INVALID = 'invalid';
export const TENANT_OVERFLOW = 'overflow';

/** Reserved endpoint label values. Real endpoints always start with `/`, so these cannot collide. */
export const ENDPOINT_UNMATCHED = 'unmatched';
export const ENDPOINT_OVERFLOW = 'overflow';
/** Value used for a bounded label whose distinct values ran out (semconv spelling for "other"). */
export const VALUE_OTHER = '_OTHER';

/** A metric family of the catalog: OTLP name and unit, and the Prometheus name both export paths produce. */
export interface MetricSpec {
  /** Instrument name as exported over OTLP. */
  readonly name: string;
  /** Name Prometheus shows, in-process or after the Collector (unit and `_total` suffixes applied). */
  readonly promName: string;
  readonly description: string;
  readonly unit: string;
  /** Data-point attribute keys over OTLP; Prometheus label names are these with `.` turned into `_`. */
  readonly labels: readonly string[];
  /** Histogram bucket boundaries; absent for counters and gauges. */
  readonly boundaries?: readonly number[];
  /** `gauge` for an observed value (served through the SDK meter); absent for counters and histograms. */
  readonly type?: 'gauge';
}

// --- Seed catalog (RED) ---
export const METRIC_HTTP_REQUESTS: MetricSpec = {
  name: 'http_requests',
  promName: 'http_requests_total',
  description: 'Total HTTP requests',
  unit: '',
  labels: ['method', 'endpoint', 'status', 'tenant_id', 'service'],
};
export const METRIC_HTTP_REQUEST_DURATION: MetricSpec = {
  name: 'http_request_duration_seconds',
  promName: 'http_request_duration_seconds',
  description: 'HTTP request duration in seconds',
  unit: 's',
  labels: ['method', 'endpoint', 'tenant_id', 'service'],
  boundaries: [0.1, 0.25, 0.5, 1, 2.5, 5, 10],
};
export const METRIC_HTTP_REQUEST_SIZE: MetricSpec = {
  name: 'http_request_size_bytes',
  promName: 'http_request_size_bytes',
  description: 'HTTP request size in bytes',
  unit: 'By',
  labels: ['method', 'endpoint', 'service'],
  boundaries: [100, 1000, 10000, 100000, 1000000],
};
export const METRIC_ERRORS: MetricSpec = {
  name: 'errors',
  promName: 'errors_total',
  description: 'Total errors by type',
  unit: '',
  labels: ['error_type', 'service', 'tenant_id'],
};

// --- Collector spanmetrics-compatible (Jaeger Monitor tab) ---
export const METRIC_SPAN_CALLS: MetricSpec = {
  name: 'traces.span.metrics.calls',
  promName: 'traces_span_metrics_calls_total',
  description: 'Number of spans, as the spanmetrics connector counts them',
  unit: '',
  labels: ['service.name', 'span.name', 'span.kind', 'status.code', 'tenant.id'],
};
export const METRIC_SPAN_DURATION: MetricSpec = {
  name: 'traces.span.metrics.duration',
  promName: 'traces_span_metrics_duration_milliseconds',
  description: 'Span duration, as the spanmetrics connector measures it',
  unit: 'ms',
  labels: ['service.name', 'span.name', 'span.kind', 'status.code', 'tenant.id'],
  boundaries: [2, 4, 6, 8, 10, 50, 100, 200, 400, 800, 1000, 1400, 2000, 5000, 10000, 15000],
};

// --- tenantscope's own health metrics ---
export const METRIC_TENANTS_FOLDED: MetricSpec = {
  name: 'tenantscope.tenants.folded',
  promName: 'tenantscope_tenants_folded_total',
  description: 'Requests whose tenant was folded into "overflow" because the distinct-tenant limit was reached',
  unit: '',
  labels: [],
};
export const METRIC_ENDPOINTS_FOLDED: MetricSpec = {
  name: 'tenantscope.endpoints.folded',
  promName: 'tenantscope_endpoints_folded_total',
  description: 'Requests whose endpoint was folded into "overflow" because the distinct-endpoint limit was reached',
  unit: '',
  labels: [],
};
export const METRIC_LABELS_FOLDED: MetricSpec = {
  name: 'tenantscope.labels.folded',
  promName: 'tenantscope_labels_folded_total',
  description: 'Spans whose span name or error type was folded into "_OTHER" by a cardinality limit',
  unit: '',
  labels: ['label'],
};

// --- Sampling and export (issue 4) ---
export const METRIC_SPANS_SEEN: MetricSpec = {
  name: 'tenantscope.spans.seen',
  promName: 'tenantscope_spans_seen_total',
  description: 'Spans that ended in this process (all of them feed the span-derived metrics, whatever the sampler decided)',
  unit: '',
  labels: [],
};
export const METRIC_SPANS_EXPORTED: MetricSpec = {
  name: 'tenantscope.spans.exported',
  promName: 'tenantscope_spans_exported_total',
  description: 'Spans handed to the trace exporters, by why: "sampled" by the sampler, or kept by a rule ("error", "slow", "cost")',
  unit: '',
  labels: ['reason'],
};
export const METRIC_SPANS_DROPPED: MetricSpec = {
  name: 'tenantscope.spans.dropped',
  promName: 'tenantscope_spans_dropped_total',
  description: 'Spans not exported, by why: "not_sampled" (the sampler dropped them and no rule kept them) or "export_off" (no trace exporter, or always_off)',
  unit: '',
  labels: ['reason'],
};
export const METRIC_TRACES_FLUSHED_EARLY: MetricSpec = {
  name: 'tenantscope.local_traces.flushed_early',
  promName: 'tenantscope_local_traces_flushed_early_total',
  description: 'Local traces decided before their root ended because a buffer bound was hit ("max_spans", "max_age", "max_buffered")',
  unit: '',
  labels: ['reason'],
};

// --- Seed catalog (AI model calls) and GenAI semantic-convention client metrics ---
/** Reserved `model` label value for a model past the distinct-model limit (and for no model at all). */
export const MODEL_OTHER = VALUE_OTHER;
export const METRIC_MODEL_API_CALLS: MetricSpec = {
  name: 'model_api_calls',
  promName: 'model_api_calls_total',
  description: 'Total model API calls',
  unit: '',
  labels: ['provider', 'model', 'tenant_id', 'operation_type', 'status'],
};
export const METRIC_MODEL_API_DURATION: MetricSpec = {
  name: 'model_api_duration_seconds',
  promName: 'model_api_duration_seconds',
  description: 'Model API call duration in seconds',
  unit: 's',
  labels: ['provider', 'model', 'tenant_id', 'operation_type'],
  boundaries: [0.5, 1, 2, 5, 10, 30, 60],
};
export const METRIC_MODEL_API_TOKENS: MetricSpec = {
  name: 'model_api_tokens',
  promName: 'model_api_tokens_total',
  description: 'Total tokens used, by billing class (input = uncached input; the four classes sum to the billed total)',
  unit: '{token}',
  labels: ['provider', 'model', 'tenant_id', 'token_type'],
};
export const METRIC_MODEL_API_COST: MetricSpec = {
  name: 'model_api_cost_cents',
  promName: 'model_api_cost_cents_total',
  description: 'Total model API cost in US cents, from the price table in force',
  unit: '{cent}',
  labels: ['provider', 'model', 'tenant_id'],
};
export const METRIC_GEN_AI_TOKEN_USAGE: MetricSpec = {
  name: 'gen_ai.client.token.usage',
  promName: 'gen_ai_client_token_usage',
  description: 'Number of input and output tokens used (GenAI semantic conventions)',
  unit: '{token}',
  labels: ['gen_ai.operation.name', 'gen_ai.provider.name', 'gen_ai.token.type', 'gen_ai.request.model'],
  boundaries: [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864],
};
export const METRIC_GEN_AI_OPERATION_DURATION: MetricSpec = {
  name: 'gen_ai.client.operation.duration',
  promName: 'gen_ai_client_operation_duration_seconds',
  description: 'GenAI operation duration (GenAI semantic conventions); error.type is empty on success',
  unit: 's',
  labels: ['gen_ai.operation.name', 'gen_ai.provider.name', 'gen_ai.request.model', 'error.type'],
  boundaries: [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92],
};
/** GenAI semantic-convention latency buckets (seconds), shared by the duration and time-to-first-chunk histograms. */
const GEN_AI_LATENCY_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];
export const METRIC_GEN_AI_TIME_TO_FIRST_CHUNK: MetricSpec = {
  name: 'gen_ai.client.operation.time_to_first_chunk',
  promName: 'gen_ai_client_operation_time_to_first_chunk_seconds',
  description: 'Time from the request to the first chunk of a streamed response (GenAI semantic conventions; streamed calls only)',
  unit: 's',
  labels: ['gen_ai.operation.name', 'gen_ai.provider.name', 'gen_ai.request.model'],
  boundaries: GEN_AI_LATENCY_BUCKETS,
};
export const METRIC_GEN_AI_TIME_PER_OUTPUT_CHUNK: MetricSpec = {
  name: 'gen_ai.client.operation.time_per_output_chunk',
  promName: 'gen_ai_client_operation_time_per_output_chunk_seconds',
  description: 'Time between consecutive chunks of a streamed response, one observation per chunk after the first (GenAI semantic conventions)',
  unit: 's',
  labels: ['gen_ai.operation.name', 'gen_ai.provider.name', 'gen_ai.request.model'],
  // The conventions' per-token buckets (gen_ai.server.time_per_output_token).
  boundaries: [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5],
};
export const METRIC_MODEL_API_TIME_TO_FIRST_TOKEN: MetricSpec = {
  name: 'model_api_time_to_first_token_seconds',
  promName: 'model_api_time_to_first_token_seconds',
  description: 'Time from a streamed model call to the first chunk of its response, per tenant: the wait a chat user feels',
  unit: 's',
  labels: ['provider', 'model', 'tenant_id'],
  boundaries: METRIC_MODEL_API_DURATION.boundaries,
};
export const METRIC_MODELS_UNPRICED: MetricSpec = {
  name: 'tenantscope.models.unpriced',
  promName: 'tenantscope_models_unpriced_total',
  description: 'Model calls whose model has no price in the price table: tokens are counted, cost is not',
  unit: '',
  labels: ['model'],
};

// --- Prices and budgets (observed gauges) ---
export const METRIC_PRICES_INFO: MetricSpec = {
  name: 'tenantscope.prices.info',
  promName: 'tenantscope_prices_info',
  description: 'The price data in force (value 1): the source package and its version, and the version of the TENANTSCOPE_PRICES_FILE override merged over it',
  unit: '',
  labels: ['source', 'version', 'override'],
  type: 'gauge',
};
export const METRIC_TENANT_MODEL_BUDGET: MetricSpec = {
  name: 'tenant_model_budget_cents',
  promName: 'tenant_model_budget_cents',
  description: 'Monthly model budget per tenant in US cents, from TENANTSCOPE_BUDGETS_FILE (its default for every tenant seen and not listed)',
  unit: '{cent}',
  labels: ['tenant_id'],
  type: 'gauge',
};
