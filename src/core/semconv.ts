/**
 * The one catalog of attribute keys, metric names, label names, buckets and reserved label values.
 * Prometheus names follow the seed's metric catalog (our contract with users' dashboards) and the
 * names the OpenTelemetry Collector's spanmetrics connector produces (what Jaeger's Monitor tab queries).
 */

/** Span attribute carrying the (validated, possibly hashed) tenant id. */
export const ATTR_TENANT_ID = 'tenant.id';
/** W3C baggage entry that carries the tenant between services. */
export const BAGGAGE_TENANT_ID = 'tenant.id';
/**
 * Field that the pino and winston log hooks add to a record written inside a request, beside the `trace_id`,
 * `span_id` and `trace_flags` fields upstream's log instrumentations add (snake_case like theirs).
 */
export const LOG_FIELD_TENANT_ID = 'tenant_id';

// Stable semantic-convention keys, from the upstream package.
export {
  ATTR_CLIENT_ADDRESS,
  ATTR_ERROR_TYPE,
  ATTR_EXCEPTION_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_METHOD_ORIGINAL,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_NETWORK_PEER_PORT,
  ATTR_NETWORK_PROTOCOL_VERSION,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_PATH,
  ATTR_URL_QUERY,
  ATTR_URL_SCHEME,
  ATTR_USER_AGENT_ORIGINAL,
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
  /**
   * Set for the two kinds of gauge (absent: a counter, or a histogram when `boundaries` are given). `gauge`: a value
   * observed at collection time, exported over OTLP as a gauge. `updowncounter`: a live count that goes up and down,
   * exported over OTLP as a non-monotonic sum. Prometheus shows both as gauges.
   */
  readonly kind?: 'gauge' | 'updowncounter';
  /**
   * A histogram whose buckets carry exemplars: the trace and span id of the latest exported span that fell in each
   * bucket (OpenMetrics on /metrics, OTLP exemplars). See `HistogramFamily.exemplar`.
   */
  readonly exemplars?: true;
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
  exemplars: true,
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
  exemplars: true,
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

// --- Log export (issue 13) ---
export const METRIC_LOGS_EXPORTED: MetricSpec = {
  name: 'tenantscope.logs.exported',
  promName: 'tenantscope_logs_exported_total',
  description: 'Log records the log exporter accepted (OTEL_LOGS_EXPORTER=otlp)',
  unit: '',
  labels: [],
};
export const METRIC_LOGS_DROPPED: MetricSpec = {
  name: 'tenantscope.logs.dropped',
  promName: 'tenantscope_logs_dropped_total',
  description:
    'Log records not delivered, by why: "queue_full" (OTEL_BLRP_MAX_QUEUE_SIZE records were waiting), "export_failed" (the exporter failed or did not answer within OTEL_BLRP_EXPORT_TIMEOUT) or "shutdown" (still queued when shutdown gave up)',
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

/**
 * Histograms the upstream instrumentations record that our span processors already derive, per tenant, from the
 * same spans: http (server and client request duration, stable and pre-stable names), undici (client request
 * duration), pg (operation duration). They get a no-op instrument unless `TENANTSCOPE_UPSTREAM_METRICS=true`
 * (`src/core/metrics/SpanDerivedMetricsFilter.ts`).
 */
export const UPSTREAM_SPAN_DERIVED_HISTOGRAMS: ReadonlySet<string> = new Set([
  'http.server.request.duration',
  'http.client.request.duration',
  'http.server.duration',
  'http.client.duration',
  'db.client.operation.duration',
]);
// --- Caches (issue 8) ---
/** On a Redis read command's span: true when the (single) key was found. Never the value itself. */
export const ATTR_CACHE_HIT = 'cache.hit';
/** On a multi-key Redis read's span (`MGET`, `HMGET`, multi-key `EXISTS`): keys found and keys missing. */
export const ATTR_CACHE_HITS = 'cache.hits';
export const ATTR_CACHE_MISSES = 'cache.misses';
/** The cache a lookup went to, from the key by `TENANTSCOPE_CACHE_TYPE_PATTERN` (bounded; `_OTHER` otherwise). */
export const ATTR_CACHE_TYPE = 'cache.type';
/** Where a lookup was answered: `redis` for Redis spans, the app's level (`local`) for `cacheLookup`. */
export const ATTR_CACHE_LEVEL = 'cache.level';
/** Span event `cacheLookup()` adds to the current span. */
export const EVENT_CACHE_LOOKUP = 'cache.lookup';
/** `level` label value for lookups seen on Redis spans. */
export const CACHE_LEVEL_REDIS = 'redis';
/**
 * Reserved value for a label the app passed that is not a usable value (not a string, too long, odd characters):
 * cache types, channel, direction, message type, resolution status, queue name.
 */
export const VALUE_INVALID = 'invalid';

/** The seed's `cache_requests_total` (its `cache_hit_rate_percent{cache_type}` is a recording rule over it). */
export const METRIC_CACHE_REQUESTS: MetricSpec = {
  name: 'cache_requests',
  promName: 'cache_requests_total',
  description: 'Cache lookups by cache type, level and result (one per key for multi-key reads)',
  unit: '',
  labels: ['cache_type', 'level', 'result', 'tenant_id'],
};
export const METRIC_CACHE_EVICTIONS: MetricSpec = {
  name: 'cache_evictions',
  promName: 'cache_evictions_total',
  description: 'Entries evicted from an in-process cache, as the app reports them (cacheEviction)',
  unit: '',
  labels: ['cache_type', 'level'],
};

// --- Databases (issue 8) ---
/** Semantic-convention database keys: stable ones from the upstream package, older spellings copied. */
export {
  ATTR_DB_COLLECTION_NAME,
  ATTR_DB_NAMESPACE,
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_QUERY_TEXT,
  ATTR_DB_SYSTEM_NAME,
} from '@opentelemetry/semantic-conventions';
export const ATTR_DB_SYSTEM_OLD = 'db.system';
export const ATTR_DB_STATEMENT_OLD = 'db.statement';
export const ATTR_DB_OPERATION_OLD = 'db.operation';
export const ATTR_DB_MONGODB_COLLECTION_OLD = 'db.mongodb.collection';

export const METRIC_DB_QUERY_DURATION: MetricSpec = {
  name: 'database_query_duration_seconds',
  promName: 'database_query_duration_seconds',
  description: 'Database query duration in seconds (client side, from pg, mongodb and ioredis spans)',
  unit: 's',
  labels: ['database_type', 'operation', 'table'],
  boundaries: [0.01, 0.05, 0.1, 0.5, 1, 5, 10],
};
export const METRIC_DB_SLOW_QUERIES: MetricSpec = {
  name: 'database_slow_queries',
  promName: 'database_slow_queries_total',
  description: 'Database operations slower than TENANTSCOPE_SLOW_QUERY_MS',
  unit: '',
  labels: ['database_type', 'operation', 'table', 'tenant_id'],
};
/** Observable gauges read from the client pools (pg `Pool`, the mongodb driver's pool) at collection time. */
export const METRIC_DB_CONNECTIONS_ACTIVE: MetricSpec = {
  name: 'database_connections_active',
  promName: 'database_connections_active',
  description: 'Connections of this process\'s database client pools that are checked out (in use)',
  unit: '{connection}',
  labels: ['database_type', 'database_name'],
  kind: 'gauge',
};
export const METRIC_DB_CONNECTIONS_IDLE: MetricSpec = {
  name: 'database_connections_idle',
  promName: 'database_connections_idle',
  description: 'Open connections of this process\'s database client pools that are idle',
  unit: '{connection}',
  labels: ['database_type', 'database_name'],
  kind: 'gauge',
};
export const METRIC_DB_CONNECTIONS_WAITING: MetricSpec = {
  name: 'database_connections_waiting',
  promName: 'database_connections_waiting',
  description: 'Requests waiting for a connection from this process\'s database client pools',
  unit: '{request}',
  labels: ['database_type', 'database_name'],
  kind: 'gauge',
};

// --- Integrations (issue 8) ---
export const METRIC_INTEGRATION_CALLS: MetricSpec = {
  name: 'integration_calls',
  promName: 'integration_calls_total',
  description: 'Outbound HTTP calls to integrations (not model calls, not internal hosts)',
  unit: '',
  labels: ['tenant_id', 'integration_id', 'integration_type', 'status'],
};
export const METRIC_INTEGRATION_DURATION: MetricSpec = {
  name: 'integration_duration_seconds',
  promName: 'integration_duration_seconds',
  description: 'Integration call duration in seconds',
  unit: 's',
  labels: ['tenant_id', 'integration_id', 'integration_type'],
  boundaries: [0.1, 0.5, 1, 2, 5, 10, 30],
};
/** Default `integration_type` of a host not listed in `TENANTSCOPE_INTEGRATIONS`. */
export const INTEGRATION_TYPE_HTTP = 'http';
// --- Queues (issue 8): consumer spans and observed queue depths ---
/** Queue a CONSUMER span took its message from (set by tenantscope on upstream amqplib's consume spans). */
export const ATTR_QUEUE_NAME = 'tenantscope.queue.name';
/** The message's type (AMQP `type` property), set by tenantscope on upstream amqplib's consume spans. */
export const ATTR_MESSAGE_TYPE = 'tenantscope.message.type';
/** Semantic-convention destination name, the fallback queue name of other messaging instrumentations' consumer spans. */
export const ATTR_MESSAGING_DESTINATION_NAME = 'messaging.destination.name';
export const METRIC_QUEUE_PROCESSING_DURATION: MetricSpec = {
  name: 'queue_processing_duration_seconds',
  promName: 'queue_processing_duration_seconds',
  description: 'Queue item processing duration: a consumer span, from delivery until the message was acked or rejected',
  unit: 's',
  labels: ['queue_name', 'message_type'],
  // The seed gives none: prometheus_client's default buckets, which the seed's Python collector would have used.
  boundaries: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10],
};
export const METRIC_QUEUE_SIZE: MetricSpec = {
  name: 'queue_size',
  promName: 'queue_size',
  description: 'Number of items in queue, observed at collection time (observeQueueDepth)',
  unit: '{message}',
  labels: ['queue_name', 'tenant_id'],
  kind: 'gauge',
};

// --- Live connections and streamed replies (issue 8) ---
/** Request methods kept as the `method` label; any other is `_OTHER`. */
export const HTTP_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);
/** Seconds from the start of an HTTP server span to the first body byte its response wrote, on streamed responses. */
export const ATTR_HTTP_RESPONSE_TIME_TO_FIRST_BYTE = 'http.response.time_to_first_byte';
export const METRIC_WEBSOCKET_CONNECTIONS_ACTIVE: MetricSpec = {
  name: 'websocket_connections_active',
  promName: 'websocket_connections_active',
  description: 'Open WebSocket connections: HTTP upgrades answered 101 and not yet closed',
  unit: '{connection}',
  labels: ['tenant_id', 'service'],
  kind: 'updowncounter',
};
export const METRIC_HTTP_RESPONSE_FIRST_BYTE: MetricSpec = {
  name: 'http_response_first_byte_seconds',
  promName: 'http_response_first_byte_seconds',
  description: 'Time from the request to the first body byte of a streamed response (one written in pieces, e.g. server-sent events)',
  unit: 's',
  labels: ['method', 'endpoint', 'tenant_id', 'service'],
  boundaries: METRIC_HTTP_REQUEST_DURATION.boundaries,
};

// --- Conversations and messages (issue 8; the seed's BusinessMetricsCollector) ---
export const EVENT_CONVERSATION_STARTED = 'conversation.started';
export const EVENT_CONVERSATION_COMPLETED = 'conversation.completed';
export const EVENT_MESSAGE_PROCESSED = 'message.processed';
export const ATTR_CONVERSATION_CHANNEL = 'conversation.channel';
export const ATTR_CONVERSATION_RESOLUTION_STATUS = 'conversation.resolution_status';
export const ATTR_MESSAGE_DIRECTION = 'message.direction';
export const ATTR_MESSAGE_TYPE_EVENT = 'message.type';
export const METRIC_CONVERSATIONS_STARTED: MetricSpec = {
  name: 'conversations_started',
  promName: 'conversations_started_total',
  description: 'Total conversations started',
  unit: '{conversation}',
  labels: ['tenant_id', 'channel'],
};
export const METRIC_CONVERSATIONS_COMPLETED: MetricSpec = {
  name: 'conversations_completed',
  promName: 'conversations_completed_total',
  description: 'Total conversations completed',
  unit: '{conversation}',
  labels: ['tenant_id', 'channel', 'resolution_status'],
};
export const METRIC_CONVERSATIONS_ACTIVE: MetricSpec = {
  name: 'conversations_active_total',
  promName: 'conversations_active_total',
  description: 'Number of active conversations: started and not yet completed (never below zero)',
  unit: '{conversation}',
  labels: ['tenant_id', 'channel'],
  kind: 'updowncounter',
};
export const METRIC_MESSAGES_PROCESSED: MetricSpec = {
  name: 'messages_processed',
  promName: 'messages_processed_total',
  description: 'Total messages processed',
  unit: '{message}',
  labels: ['tenant_id', 'channel', 'direction', 'message_type'],
};

// --- Prices and budgets (observed gauges) ---
export const METRIC_PRICES_INFO: MetricSpec = {
  name: 'tenantscope.prices.info',
  promName: 'tenantscope_prices_info',
  description: 'The price data in force (value 1): the source package and its version, and the version of the TENANTSCOPE_PRICES_FILE override merged over it',
  unit: '',
  labels: ['source', 'version', 'override'],
  kind: 'gauge',
};
export const METRIC_TENANT_MODEL_BUDGET: MetricSpec = {
  name: 'tenant_model_budget_cents',
  promName: 'tenant_model_budget_cents',
  description: 'Monthly model budget per tenant in US cents, from TENANTSCOPE_BUDGETS_FILE (its default for every tenant seen and not listed)',
  unit: '{cent}',
  labels: ['tenant_id'],
  kind: 'gauge',
};
