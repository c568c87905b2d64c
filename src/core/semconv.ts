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
  /** `gauge` for a value that goes up and down; absent for counters and histograms (told apart by `boundaries`). */
  readonly kind?: 'gauge';
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

// --- Export health (issue 12): what happened to what was handed to the exporters ---
/** `outcome` values of the export families. */
export const OUTCOME_DELIVERED = 'delivered';
export const OUTCOME_FAILED = 'failed';
export const OUTCOME_DROPPED = 'dropped';
/** `reason` values: why an export failed (besides `http_<status>`) or why items were dropped before one. */
export const REASON_REFUSED = 'refused';
export const REASON_TIMEOUT = 'timeout';
export const REASON_NETWORK = 'network';
export const REASON_OTHER = 'other';
export const REASON_QUEUE_FULL = 'queue_full';
export const REASON_SHUTDOWN_DEADLINE = 'shutdown_deadline';
export const REASON_AFTER_SHUTDOWN = 'after_shutdown';
export const METRIC_EXPORT_SPANS_ATTEMPTED: MetricSpec = {
  name: 'tenantscope.export.spans.attempted',
  promName: 'tenantscope_export_spans_attempted_total',
  description: 'Spans handed to the trace exporter in an export call (a span retried within one export counts once)',
  unit: '',
  labels: [],
};
export const METRIC_EXPORT_SPANS: MetricSpec = {
  name: 'tenantscope.export.spans',
  promName: 'tenantscope_export_spans_total',
  description:
    'Spans by what became of them at the trace exporter: "delivered", "failed" (reason: refused, timeout, network, http_<status>, shutdown_deadline, other) or "dropped" before an export (reason: queue_full, shutdown_deadline, after_shutdown)',
  unit: '',
  labels: ['outcome', 'reason'],
};
export const METRIC_EXPORT_QUEUE: MetricSpec = {
  name: 'tenantscope.export.queue.spans',
  promName: 'tenantscope_export_queue_spans',
  description: 'Spans waiting in the trace export queue (OTEL_BSP_MAX_QUEUE_SIZE bounds it)',
  unit: '{span}',
  labels: [],
  kind: 'gauge',
};
export const METRIC_EXPORT_POINTS_ATTEMPTED: MetricSpec = {
  name: 'tenantscope.export.metric_points.attempted',
  promName: 'tenantscope_export_metric_points_attempted_total',
  description: 'Metric data points handed to the OTLP metric exporter in an export call',
  unit: '',
  labels: [],
};
export const METRIC_EXPORT_POINTS: MetricSpec = {
  name: 'tenantscope.export.metric_points',
  promName: 'tenantscope_export_metric_points_total',
  description: 'Metric data points by what became of them at the OTLP metric exporter: "delivered", "failed" (reason as for spans) or "dropped" (reason: shutdown_deadline)',
  unit: '',
  labels: ['outcome', 'reason'],
};

// --- Series budget (issue 12) ---
export const METRIC_SERIES_FOLDED: MetricSpec = {
  name: 'tenantscope.series.folded',
  promName: 'tenantscope_series_folded_total',
  description: 'Label sets folded by the per-family series budget (TENANTSCOPE_MAX_SERIES): endpoint, then tenant into "overflow"',
  unit: '',
  labels: ['metric'],
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
export const METRIC_MODELS_UNPRICED: MetricSpec = {
  name: 'tenantscope.models.unpriced',
  promName: 'tenantscope_models_unpriced_total',
  description: 'Model calls whose model has no price in the price table: tokens are counted, cost is not',
  unit: '',
  labels: ['model'],
};
