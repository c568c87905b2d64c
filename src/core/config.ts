import { DiagLogLevel } from '@opentelemetry/api';
import { accessSync, constants, statSync } from 'node:fs';
import { DEFAULT_CACHE_TYPE_PATTERN, compileCacheTypePattern } from './cache/CacheTypes';
import type { IntegrationRule } from './IntegrationPolicy';
import { clip, warn } from './log';

/** Everything tenantscope reads from the environment, validated. */
export interface TenantScopeConfig {
  readonly disabled: boolean;
  readonly logLevel: DiagLogLevel;
  readonly tracesExporters: readonly ('otlp' | 'console')[];
  readonly metricsExporters: readonly ('otlp' | 'prometheus' | 'console')[];
  /**
   * Where pino and winston records are shipped (`OTEL_LOGS_EXPORTER`). Unset, it is `otlp` when a Collector
   * endpoint is configured (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT` set and not
   * empty) and empty otherwise. Empty: nothing is shipped, the log lines still carry trace and tenant fields.
   */
  readonly logsExporters: readonly ('otlp' | 'console')[];
  /** Where OTLP traces, metrics and logs go (resolved and validated here; '' when that exporter is off). */
  readonly otlpTracesUrl: string;
  readonly otlpMetricsUrl: string;
  readonly otlpLogsUrl: string;
  /** Per-export timeout and compression of each OTLP signal (`OTEL_EXPORTER_OTLP_[SIGNAL_]TIMEOUT` / `_COMPRESSION`). */
  readonly otlpTracesTimeoutMillis: number;
  readonly otlpMetricsTimeoutMillis: number;
  readonly otlpLogsTimeoutMillis: number;
  readonly otlpTracesCompression: 'gzip' | 'none';
  readonly otlpMetricsCompression: 'gzip' | 'none';
  readonly otlpLogsCompression: 'gzip' | 'none';
  readonly otlpTracesProtocol: OtlpProtocol;
  readonly otlpMetricsProtocol: OtlpProtocol;
  /** `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` (cumulative, delta, lowmemory) of the OTLP metric exporter. */
  readonly otlpMetricsTemporality: 'cumulative' | 'delta' | 'lowmemory';
  readonly otlpLogsProtocol: OtlpProtocol;
  /**
   * `TENANTSCOPE_OTLP_TRACE_ENCODER`: what writes OTLP/protobuf trace requests: `lean` (tenantscope's encoder,
   * src/export/LeanTraceEncoder.ts, the same bytes for less CPU) or `upstream` (otlp-transformer's serializer).
   */
  readonly otlpTraceEncoder: 'lean' | 'upstream';
  /** The OTLP logs URL as it may appear in a log line: scheme, host and path only (no credentials, no query). */
  readonly otlpLogsTarget: string;
  readonly prometheusHost: string;
  readonly prometheusPort: number;
  readonly metricExportIntervalMillis: number;
  /** Batch span processor settings from the standard `OTEL_BSP_*` variables (SDK 3.x no longer reads them itself). */
  readonly batchSpanProcessor: {
    readonly scheduledDelayMillis: number;
    readonly exportTimeoutMillis: number;
    readonly maxQueueSize: number;
    readonly maxExportBatchSize: number;
  };
  /** Batch log record processor settings from the standard `OTEL_BLRP_*` variables. */
  readonly batchLogRecordProcessor: {
    readonly scheduledDelayMillis: number;
    readonly exportTimeoutMillis: number;
    readonly maxQueueSize: number;
    readonly maxExportBatchSize: number;
  };
  readonly propagators: readonly string[];
  readonly enabledInstrumentations: readonly string[] | undefined;
  readonly disabledInstrumentations: readonly string[];
  readonly sampler: SamplerConfig;
  /** Lower-case name of the incoming header that names the tenant. */
  readonly tenantHeader: string;
  readonly maxTenants: number;
  /** Key for HMAC-SHA256 of tenant ids on metrics and spans; undefined leaves ids as they are. */
  readonly tenantHashKey: string | undefined;
  readonly maxEndpoints: number;
  readonly endpointTemplates: readonly string[];
  readonly maxSpanNames: number;
  readonly maxErrorTypes: number;
  /** Keep rules: export a local trace whole when it has an error, a slow server span, or a costly model call. */
  readonly keepErrors: boolean;
  readonly keepSlowMs: number;
  readonly keepModelCostUsd: number;
  /** One deadline (ms) for flush-at-exit and shutdown(); what is left then is counted as dropped. */
  readonly shutdownTimeoutMillis: number;
  /** Prometheus series (a histogram label set counts its buckets, sum and count) per metric family. */
  readonly maxSeries: number;
  /** Bounds on spans held until their local root ends. */
  readonly traceMaxSpans: number;
  readonly bufferMaxSpans: number;
  readonly traceMaxAgeMs: number;
  /** Host patterns that receive the tenant as W3C baggage (`private` = loopback, private ranges, cluster names). */
  readonly baggageHosts: readonly string[];
  /** JSON price file merged over the shipped table (model entries replace shipped ones). */
  readonly pricesFile: string | undefined;
  /** Distinct model names on model metrics before they fold into `_OTHER`. */
  readonly maxModels: number;
  /** OpenAI-compatible hosts that accept `stream_options` (usage is requested for their streams). */
  readonly openaiUsageHosts: readonly string[];
  /** Internal model gateways: their OpenAI/Anthropic-format calls are model calls, and get no tenant baggage. */
  readonly modelHosts: readonly string[];
  /** OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: record prompts and completions on spans. */
  readonly captureMessageContent: boolean;
  /**
   * TENANTSCOPE_UPSTREAM_METRICS: let the upstream instrumentations record the histograms our span processors
   * already derive (http/undici request durations, pg operation duration). Off by default: work done twice.
   */
  readonly upstreamMetrics: boolean;
  /**
   * TENANTSCOPE_HTTP_SERVER: who makes the HTTP server spans. `channel`: our instrumentation on Node's
   * `http.server.request.start` diagnostics channel (instrumentations/httpserver/); `upstream`: instrumentation-http's
   * wrapper around `Server.prototype.emit`. The client side is upstream's either way.
   */
  readonly httpServer: HttpServerMode;
  /**
   * TENANTSCOPE_PG: who patches `pg`'s per-request calls. `lean`: instrumentations/pg/ (upstream instrumentation-pg
   * with leaner `Client.query` and `Pool.connect` patches, same spans); `upstream`: instrumentation-pg as published.
   */
  readonly pg: PgMode;
  /**
   * TENANTSCOPE_LEAN_SPANS: record every span, sampled or not, as a lean span (src/trace/LeanTracer.ts) instead of
   * sdk-trace's span; same metrics, same exported spans. `false`: sdk-trace's span for every span. Default true.
   * Its former name, TENANTSCOPE_LEAN_UNSAMPLED (whose `false` meant the same), is read when it is not set.
   */
  readonly leanSpans: boolean;
  /** How a Redis key names its cache type: literal text, one `{type}`, `*` wildcards. */
  readonly cacheTypePattern: string;
  /** Distinct cache types before later ones fold into `_OTHER`. */
  readonly maxCacheTypes: number;
  /** Database operations slower than this (ms) count in `database_slow_queries_total`; 0 turns it off. */
  readonly slowQueryMs: number;
  /** Distinct database tables (collections) on database metrics before later ones fold into `_OTHER`. */
  readonly maxDbTables: number;
  /** `TENANTSCOPE_INTEGRATIONS`: integration types and their hosts. */
  readonly integrations: readonly IntegrationRule[];
  /** Distinct integrations before later ones fold into `_OTHER`. */
  readonly maxIntegrations: number;
  /** Node runtime metrics (event loop, heap, GC) from instrumentation-runtime-node. */
  readonly runtimeMetrics: boolean;
  /** Process CPU and memory from host-metrics (process groups only). */
  readonly processMetrics: boolean;
  /** Distinct values per application-given label (channel, direction, message type, resolution status, queue name). */
  readonly maxLabelValues: number;
  /** Longest a queue-depth source may take at a collection. */
  readonly queueDepthTimeoutMs: number;
  /** A model response body the app leaves unread (or stops reading) this long ends its span without usage. */
  readonly modelBodyTimeoutMs: number;
  /** JSON file of monthly model budgets per tenant in USD (`{"default": 100, "tenants": {"acme": 500}}`). */
  readonly budgetsFile: string | undefined;
}

export type OtlpProtocol = 'http/protobuf' | 'http/json';

export interface SamplerConfig {
  readonly name: 'always_on' | 'always_off' | 'traceidratio' | 'parentbased_always_on' | 'parentbased_always_off' | 'parentbased_traceidratio';
  readonly ratio: number;
}

export type Env = Record<string, string | undefined>;

export const INSTRUMENTATION_NAMES = ['http', 'undici', 'express', 'pg', 'ioredis', 'mongodb', 'amqplib', 'pino', 'winston'] as const;

const LOG_LEVELS: Record<string, DiagLogLevel> = {
  none: DiagLogLevel.NONE,
  error: DiagLogLevel.ERROR,
  warn: DiagLogLevel.WARN,
  info: DiagLogLevel.INFO,
  debug: DiagLogLevel.DEBUG,
  verbose: DiagLogLevel.VERBOSE,
  all: DiagLogLevel.ALL,
};
const SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'];
const PROPAGATORS = ['tracecontext', 'baggage', 'b3', 'b3multi', 'jaeger', 'none'];
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/;

/**
 * Reads the log level alone, so the logger can be set before anything else is parsed. Silent: a bad value is
 * reported by {@link loadConfig}, which runs once the logger is in place (a warning before it would be lost).
 */
export function loadLogLevel(env: Env): DiagLogLevel {
  const raw = str(env, 'OTEL_LOG_LEVEL');
  return raw === undefined ? DiagLogLevel.INFO : (LOG_LEVELS[raw.toLowerCase()] ?? DiagLogLevel.INFO);
}

function logLevel(env: Env): DiagLogLevel {
  const raw = str(env, 'OTEL_LOG_LEVEL');
  if (raw !== undefined && LOG_LEVELS[raw.toLowerCase()] === undefined) {
    warn(`OTEL_LOG_LEVEL="${clip(raw)}" is not one of ${Object.keys(LOG_LEVELS).join(', ')}; using "info"`);
  }
  return loadLogLevel(env);
}

/** The OTLP/HTTP default base URL (specification). */
export const OTLP_DEFAULT_ENDPOINT = 'http://localhost:4318';

/**
 * The URL one signal's OTLP exporter posts to, as the specification resolves it: the signal's own variable used as
 * given, else the general one with `v1/<signal>` appended, else the default. A value that is not an http(s) URL logs
 * one line naming the variable and the URL used instead (the upstream exporter's own warning names neither).
 */
function otlpUrl(env: Env, signal: 'TRACES' | 'METRICS' | 'LOGS', general: string | undefined): string {
  const path = `v1/${signal.toLowerCase()}`;
  const fallback = (general ?? OTLP_DEFAULT_ENDPOINT).replace(/\/?$/, '/') + path;
  const name = `OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`;
  const own = str(env, name);
  if (own === undefined) return fallback;
  if (isHttpUrl(own)) return own;
  warn(`${name}="${clip(own)}" is not an http(s) URL; using "${fallback}"`);
  return fallback;
}

function otlpBase(env: Env): string | undefined {
  const v = str(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  if (v === undefined) return undefined;
  if (isHttpUrl(v)) return v;
  warn(`OTEL_EXPORTER_OTLP_ENDPOINT="${clip(v)}" is not an http(s) URL; using "${OTLP_DEFAULT_ENDPOINT}"`);
  return undefined;
}

function isHttpUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}

/**
 * Parses the environment. Never throws: a bad value logs one line naming the variable and takes the default.
 */
/** TENANTSCOPE_HTTP_SERVER values. */
export const HTTP_SERVER_MODES = ['channel', 'upstream'] as const;
export type HttpServerMode = (typeof HTTP_SERVER_MODES)[number];
const DEFAULT_HTTP_SERVER: HttpServerMode = 'channel';
/** TENANTSCOPE_PG values. */
export const PG_MODES = ['lean', 'upstream'] as const;
export type PgMode = (typeof PG_MODES)[number];

export function loadConfig(env: Env = process.env): TenantScopeConfig {
  const tracesExporters = list(env, 'OTEL_TRACES_EXPORTER', ['otlp'], ['otlp', 'console', 'none']).filter(
    (e): e is 'otlp' | 'console' => e !== 'none'
  );
  const metricsExporters = list(env, 'OTEL_METRICS_EXPORTER', ['otlp'], ['otlp', 'prometheus', 'console', 'none']).filter(
    (e): e is 'otlp' | 'prometheus' | 'console' => e !== 'none'
  );
  const logsExporters = list(env, 'OTEL_LOGS_EXPORTER', defaultLogsExporters(env), ['otlp', 'console', 'none']).filter(
    (e): e is 'otlp' | 'console' => e !== 'none'
  );
  const enabled = str(env, 'OTEL_NODE_ENABLED_INSTRUMENTATIONS');
  const sampler = loadSampler(env);
  const header = str(env, 'TENANTSCOPE_TENANT_HEADER');
  let tenantHeader = 'x-tenant-id';
  if (header !== undefined) {
    if (HEADER_NAME.test(header)) tenantHeader = header.toLowerCase();
    else warn(`TENANTSCOPE_TENANT_HEADER="${clip(header)}" is not a valid HTTP header name; using "x-tenant-id"`);
  }
  // Read once: both signals fall back to it, and a bad value must log one line, not one per signal.
  const otlpProtocol = oneOf<OtlpProtocol>(env, 'OTEL_EXPORTER_OTLP_PROTOCOL', 'http/protobuf', PROTOCOLS);
  const otlpGeneral =
    tracesExporters.includes('otlp') || metricsExporters.includes('otlp') || logsExporters.includes('otlp') ? otlpBase(env) : undefined;
  const otlpLogsUrl = logsExporters.includes('otlp') ? otlpUrl(env, 'LOGS', otlpGeneral) : '';
  const otlpTimeout = int(env, 'OTEL_EXPORTER_OTLP_TIMEOUT', 10_000, 1, 600_000);
  const otlpCompression = oneOf<'gzip' | 'none'>(env, 'OTEL_EXPORTER_OTLP_COMPRESSION', 'none', COMPRESSIONS);
  for (const name of CERTIFICATE_VARIABLES) readableFile(env, name);
  for (const name of HEADER_VARIABLES) headerList(env, name);
  resourceAttributes(env);
  const hashKey = str(env, 'TENANTSCOPE_TENANT_HASH_KEY');
  if (hashKey !== undefined && hashKey.length < 16) {
    warn('TENANTSCOPE_TENANT_HASH_KEY is shorter than 16 characters; it is used, but a longer random key is safer');
  }
  return {
    disabled: bool(env, 'OTEL_SDK_DISABLED', false),
    logLevel: logLevel(env),
    tracesExporters: [...new Set(tracesExporters)],
    metricsExporters: [...new Set(metricsExporters)],
    otlpTracesUrl: tracesExporters.includes('otlp') ? otlpUrl(env, 'TRACES', otlpGeneral) : '',
    otlpMetricsUrl: metricsExporters.includes('otlp') ? otlpUrl(env, 'METRICS', otlpGeneral) : '',
    otlpLogsUrl,
    otlpTracesTimeoutMillis: int(env, 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', otlpTimeout, 1, 600_000),
    otlpMetricsTimeoutMillis: int(env, 'OTEL_EXPORTER_OTLP_METRICS_TIMEOUT', otlpTimeout, 1, 600_000),
    otlpLogsTimeoutMillis: int(env, 'OTEL_EXPORTER_OTLP_LOGS_TIMEOUT', otlpTimeout, 1, 600_000),
    otlpTracesCompression: oneOf(env, 'OTEL_EXPORTER_OTLP_TRACES_COMPRESSION', otlpCompression, COMPRESSIONS),
    otlpMetricsCompression: oneOf(env, 'OTEL_EXPORTER_OTLP_METRICS_COMPRESSION', otlpCompression, COMPRESSIONS),
    otlpLogsCompression: oneOf(env, 'OTEL_EXPORTER_OTLP_LOGS_COMPRESSION', otlpCompression, COMPRESSIONS),
    otlpTracesProtocol: protocol(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', otlpProtocol),
    otlpMetricsProtocol: protocol(env, 'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL', otlpProtocol),
    otlpMetricsTemporality: metricsExporters.includes('otlp')
      ? oneOf(env, 'OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE', 'cumulative', TEMPORALITIES)
      : 'cumulative',
    logsExporters: [...new Set(logsExporters)],
    otlpLogsProtocol: protocol(env, 'OTEL_EXPORTER_OTLP_LOGS_PROTOCOL', otlpProtocol),
    otlpTraceEncoder: oneOf<'lean' | 'upstream'>(env, 'TENANTSCOPE_OTLP_TRACE_ENCODER', 'lean', TRACE_ENCODERS),
    otlpLogsTarget: logsTarget(otlpLogsUrl),
    prometheusHost: str(env, 'OTEL_EXPORTER_PROMETHEUS_HOST') ?? '0.0.0.0',
    prometheusPort: int(env, 'OTEL_EXPORTER_PROMETHEUS_PORT', 9464, 0, 65535),
    metricExportIntervalMillis: int(env, 'OTEL_METRIC_EXPORT_INTERVAL', 60000, 100, 86_400_000),
    batchSpanProcessor: batchSettings(env),
    batchLogRecordProcessor: batchLogRecordProcessor(env),
    propagators: list(env, 'OTEL_PROPAGATORS', ['tracecontext', 'baggage'], PROPAGATORS),
    enabledInstrumentations:
      enabled === undefined ? undefined : list(env, 'OTEL_NODE_ENABLED_INSTRUMENTATIONS', [...INSTRUMENTATION_NAMES], INSTRUMENTATION_NAMES),
    disabledInstrumentations: list(env, 'OTEL_NODE_DISABLED_INSTRUMENTATIONS', [], INSTRUMENTATION_NAMES),
    sampler,
    tenantHeader,
    maxTenants: int(env, 'TENANTSCOPE_MAX_TENANTS', 1000, 1, 1_000_000),
    tenantHashKey: hashKey,
    maxEndpoints: int(env, 'TENANTSCOPE_MAX_ENDPOINTS', 200, 1, 100_000),
    endpointTemplates: templates(env),
    maxSpanNames: int(env, 'TENANTSCOPE_MAX_SPAN_NAMES', 500, 1, 100_000),
    maxErrorTypes: int(env, 'TENANTSCOPE_MAX_ERROR_TYPES', 100, 1, 10_000),
    baggageHosts: hostPatterns(env),
    pricesFile: str(env, 'TENANTSCOPE_PRICES_FILE'),
    maxModels: int(env, 'TENANTSCOPE_MAX_MODELS', 100, 1, 10_000),
    openaiUsageHosts: modelHostPatterns(env, 'TENANTSCOPE_OPENAI_USAGE_HOSTS', false),
    modelHosts: modelHostPatterns(env, 'TENANTSCOPE_MODEL_HOSTS', true),
    captureMessageContent: bool(env, 'OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT', false),
    upstreamMetrics: bool(env, 'TENANTSCOPE_UPSTREAM_METRICS', false),
    httpServer: oneOf(env, 'TENANTSCOPE_HTTP_SERVER', DEFAULT_HTTP_SERVER, HTTP_SERVER_MODES),
    pg: oneOf<PgMode>(env, 'TENANTSCOPE_PG', 'lean', PG_MODES),
    leanSpans: bool(env, str(env, 'TENANTSCOPE_LEAN_SPANS') === undefined ? 'TENANTSCOPE_LEAN_UNSAMPLED' : 'TENANTSCOPE_LEAN_SPANS', true),
    maxLabelValues: int(env, 'TENANTSCOPE_MAX_LABEL_VALUES', 50, 1, 10_000),
    queueDepthTimeoutMs: int(env, 'TENANTSCOPE_QUEUE_DEPTH_TIMEOUT_MS', 1000, 10, 60_000),
    modelBodyTimeoutMs: int(env, 'TENANTSCOPE_MODEL_BODY_TIMEOUT_MS', 30_000, 100, 3_600_000),
    budgetsFile: str(env, 'TENANTSCOPE_BUDGETS_FILE'),
    keepErrors: bool(env, 'TENANTSCOPE_KEEP_ERRORS', true),
    keepSlowMs: int(env, 'TENANTSCOPE_KEEP_SLOW_MS', 2000, 0, 86_400_000),
    keepModelCostUsd: num(env, 'TENANTSCOPE_KEEP_MODEL_COST_USD', 0.05, 0, 1_000_000),
    traceMaxSpans: int(env, 'TENANTSCOPE_TRACE_MAX_SPANS', 1000, 1, 1_000_000),
    bufferMaxSpans: int(env, 'TENANTSCOPE_BUFFER_MAX_SPANS', 20_000, 1, 10_000_000),
    traceMaxAgeMs: int(env, 'TENANTSCOPE_TRACE_MAX_AGE_MS', 60_000, 100, 86_400_000),
    cacheTypePattern: cacheTypePattern(env),
    maxCacheTypes: int(env, 'TENANTSCOPE_MAX_CACHE_TYPES', 50, 1, 10_000),
    slowQueryMs: int(env, 'TENANTSCOPE_SLOW_QUERY_MS', 1000, 0, 86_400_000),
    maxDbTables: int(env, 'TENANTSCOPE_MAX_DB_TABLES', 200, 1, 10_000),
    integrations: integrations(env),
    maxIntegrations: int(env, 'TENANTSCOPE_MAX_INTEGRATIONS', 100, 1, 10_000),
    runtimeMetrics: bool(env, 'TENANTSCOPE_RUNTIME_METRICS', true),
    processMetrics: bool(env, 'TENANTSCOPE_PROCESS_METRICS', true),
    shutdownTimeoutMillis: int(env, 'TENANTSCOPE_SHUTDOWN_TIMEOUT_MS', 5000, 0, 600_000),
    maxSeries: int(env, 'TENANTSCOPE_MAX_SERIES', 20_000, 100, 10_000_000),
  };
}

function cacheTypePattern(env: Env): string {
  const p = str(env, 'TENANTSCOPE_CACHE_TYPE_PATTERN');
  if (p === undefined) return DEFAULT_CACHE_TYPE_PATTERN;
  const compiled = compileCacheTypePattern(p);
  if (typeof compiled !== 'string') return p;
  warn(`TENANTSCOPE_CACHE_TYPE_PATTERN="${clip(p)}" ${compiled}; using "${DEFAULT_CACHE_TYPE_PATTERN}"`);
  return DEFAULT_CACHE_TYPE_PATTERN;
}

const INTEGRATION_TYPE = /^[A-Za-z][A-Za-z0-9_.-]{0,31}$/;
const INTEGRATION_HOST = /^(\*\.)?[a-z0-9.-]+(:[0-9]{1,5})?$/;

/** `crm=api.hubspot.com,*.salesforce.com;webhook=hooks.slack.com`: one line per bad entry, the rest are kept. */
function integrations(env: Env): IntegrationRule[] {
  const v = str(env, 'TENANTSCOPE_INTEGRATIONS');
  if (v === undefined) return [];
  const out: IntegrationRule[] = [];
  for (const entry of v.split(';')) {
    const e = entry.trim();
    if (e === '') continue;
    const eq = e.indexOf('=');
    const type = eq === -1 ? '' : e.slice(0, eq).trim();
    if (!INTEGRATION_TYPE.test(type)) {
      warn(`TENANTSCOPE_INTEGRATIONS: "${clip(e)}" is not "type=host,host" with a type of letters, digits, ".", "_", "-"; ignored`);
      continue;
    }
    const hosts: string[] = [];
    for (const h of e.slice(eq + 1).split(',')) {
      const host = h.trim().toLowerCase();
      if (host === '') continue;
      if (INTEGRATION_HOST.test(host) && host.length <= 253) hosts.push(host);
      else warn(`TENANTSCOPE_INTEGRATIONS: "${clip(h.trim())}" (type ${type}) is not a host, "host:port" or "*.suffix"; ignored`);
    }
    if (hosts.length > 0) out.push({ type, hosts });
  }
  return out;
}

const PROTOCOLS = ['http/protobuf', 'http/json'];
const TRACE_ENCODERS = ['lean', 'upstream'];

/**
 * `OTEL_LOGS_EXPORTER` when unset: ship logs only to a Collector the user named. Unlike traces (which default to
 * `localhost:4318`), shipping costs the app a parse of every log line, so it is not done towards a guess.
 */
function defaultLogsExporters(env: Env): string[] {
  const configured = str(env, 'OTEL_EXPORTER_OTLP_LOGS_ENDPOINT') !== undefined || str(env, 'OTEL_EXPORTER_OTLP_ENDPOINT') !== undefined;
  return configured ? ['otlp'] : ['none'];
}

/**
 * The logs URL (validated by `otlpUrl`; the default when the OTLP logs exporter is off), rendered without userinfo
 * or query for log lines.
 */
function logsTarget(url: string): string {
  try {
    const u = new URL(url === '' ? `${OTLP_DEFAULT_ENDPOINT}/v1/logs` : url);
    return clip(`${u.protocol}//${u.host}${u.pathname}`);
  } catch {
    return 'the OTLP logs endpoint';
  }
}

function batchLogRecordProcessor(env: Env): TenantScopeConfig['batchLogRecordProcessor'] {
  const maxQueueSize = int(env, 'OTEL_BLRP_MAX_QUEUE_SIZE', 2048, 1, 10_000_000);
  let maxExportBatchSize = int(env, 'OTEL_BLRP_MAX_EXPORT_BATCH_SIZE', 512, 1, 10_000_000);
  if (maxExportBatchSize > maxQueueSize) {
    warn(`OTEL_BLRP_MAX_EXPORT_BATCH_SIZE=${maxExportBatchSize} is larger than OTEL_BLRP_MAX_QUEUE_SIZE=${maxQueueSize}; using ${maxQueueSize}`);
    maxExportBatchSize = maxQueueSize;
  }
  return {
    scheduledDelayMillis: int(env, 'OTEL_BLRP_SCHEDULE_DELAY', 1000, 1, 86_400_000),
    exportTimeoutMillis: int(env, 'OTEL_BLRP_EXPORT_TIMEOUT', 30000, 1, 86_400_000),
    maxQueueSize,
    maxExportBatchSize,
  };
}

function batchSettings(env: Env): TenantScopeConfig['batchSpanProcessor'] {
  const maxQueueSize = int(env, 'OTEL_BSP_MAX_QUEUE_SIZE', 2048, 1, 10_000_000);
  let maxExportBatchSize = int(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 512, 1, 10_000_000);
  if (maxExportBatchSize > maxQueueSize) {
    warn(`OTEL_BSP_MAX_EXPORT_BATCH_SIZE="${maxExportBatchSize}" is more than OTEL_BSP_MAX_QUEUE_SIZE; using ${maxQueueSize}`);
    maxExportBatchSize = maxQueueSize;
  }
  return {
    scheduledDelayMillis: int(env, 'OTEL_BSP_SCHEDULE_DELAY', 5000, 1, 86_400_000),
    exportTimeoutMillis: int(env, 'OTEL_BSP_EXPORT_TIMEOUT', 30000, 1, 86_400_000),
    maxQueueSize,
    maxExportBatchSize,
  };
}
const COMPRESSIONS = ['gzip', 'none'];
const TEMPORALITIES = ['cumulative', 'delta', 'lowmemory'];
const CERTIFICATE_VARIABLES = ['', 'TRACES_', 'METRICS_', 'LOGS_'].flatMap((s) =>
  ['CERTIFICATE', 'CLIENT_CERTIFICATE', 'CLIENT_KEY'].map((k) => `OTEL_EXPORTER_OTLP_${s}${k}`)
);

const HEADER_VARIABLES = [
  'OTEL_EXPORTER_OTLP_HEADERS',
  'OTEL_EXPORTER_OTLP_TRACES_HEADERS',
  'OTEL_EXPORTER_OTLP_METRICS_HEADERS',
  'OTEL_EXPORTER_OTLP_LOGS_HEADERS',
];

/**
 * One line for the entries of an OTLP headers variable that the exporter will skip (not `key=value`, or not
 * percent-decodable). Values are never echoed: headers carry credentials.
 */
function headerList(env: Env, name: string): void {
  const v = str(env, name);
  if (v === undefined) return;
  const bad: string[] = [];
  v.split(',').forEach((entry, i) => {
    const pair = entry.split(';')[0];
    const eq = pair.indexOf('=');
    const key = pair.slice(0, Math.max(0, eq)).trim();
    const value = pair.slice(eq + 1).trim();
    let ok = eq > 0 && key !== '' && value !== '';
    if (ok) {
      try {
        decodeURIComponent(key);
        decodeURIComponent(value);
      } catch {
        ok = false;
      }
    }
    if (!ok) bad.push(`entry ${i + 1}`);
  });
  if (bad.length > 0) warn(`${name}: ${bad.join(', ')} not "key=value" (values are not shown); those entries are skipped`);
}

/** One line when OTEL_RESOURCE_ATTRIBUTES is malformed: the resource detector then ignores the whole variable. */
function resourceAttributes(env: Env): void {
  const v = str(env, 'OTEL_RESOURCE_ATTRIBUTES');
  if (v === undefined) return;
  for (const entry of v.split(',')) {
    if (entry.trim() === '') continue;
    const kv = entry.split('=');
    let ok = kv.length === 2 && kv[0].trim() !== '';
    if (ok) {
      try {
        ok = decodeURIComponent(kv[0].trim()).length <= 255 && decodeURIComponent(kv[1].trim()).length <= 255;
      } catch {
        ok = false;
      }
    }
    if (!ok) {
      warn(`OTEL_RESOURCE_ATTRIBUTES: "${clip(entry)}" is not key=value (percent-encoded, at most 255 characters each); the whole variable is ignored`);
      return;
    }
  }
}

/** Warns (one line) when a certificate variable names no readable regular file; the exporter then goes without it. */
function readableFile(env: Env, name: string): void {
  const v = str(env, name);
  if (v === undefined) return;
  try {
    if (statSync(v).isFile()) {
      accessSync(v, constants.R_OK);
      return;
    }
  } catch {
    // reported below
  }
  warn(`${name}="${clip(v)}" is not a readable file; the OTLP exporter goes without it`);
}

function protocol(env: Env, signalName: string, general: OtlpProtocol): OtlpProtocol {
  return oneOf<OtlpProtocol>(env, signalName, general, PROTOCOLS);
}

function loadSampler(env: Env): SamplerConfig {
  const name = oneOf(env, 'OTEL_TRACES_SAMPLER', 'parentbased_always_on', SAMPLERS) as SamplerConfig['name'];
  let ratio = 1;
  if (name === 'traceidratio' || name === 'parentbased_traceidratio') {
    const raw = str(env, 'OTEL_TRACES_SAMPLER_ARG');
    if (raw !== undefined) {
      const n = Number(raw);
      if (Number.isFinite(n) && n >= 0 && n <= 1) ratio = n;
      else warn(`OTEL_TRACES_SAMPLER_ARG="${clip(raw)}" is not a number from 0 to 1; using 1`);
    }
  }
  return { name, ratio };
}

function templates(env: Env): string[] {
  const out: string[] = [];
  for (const t of list(env, 'TENANTSCOPE_ENDPOINT_TEMPLATES', [], undefined)) {
    if (t.startsWith('/') && t.length <= 256) out.push(t);
    else warn(`TENANTSCOPE_ENDPOINT_TEMPLATES: "${clip(t)}" is not a path template starting with "/"; ignored`);
  }
  return out;
}

function hostPatterns(env: Env): string[] {
  const out: string[] = [];
  const bad: string[] = [];
  for (const p of list(env, 'TENANTSCOPE_BAGGAGE_HOSTS', ['private'], undefined)) {
    if (/^(\*\.)?[a-z0-9.:_-]+$/i.test(p) || p === '*') out.push(p.toLowerCase());
    else bad.push(`"${clip(p)}"`);
  }
  if (bad.length === 0) return out;
  // Nothing usable left: the default, like every other bad value (one line either way).
  const fallback = out.length === 0;
  warn(
    `TENANTSCOPE_BAGGAGE_HOSTS: ${bad.join(', ')} not a host name, "*.suffix", "private" or "*"; ${fallback ? 'using "private"' : 'ignored'}`
  );
  return fallback ? ['private'] : out;
}

/**
 * Host patterns (`host`, `host:port`, `*.suffix`) for model endpoints; `private` and `*` are not accepted. With
 * `named`, an entry may name the provider its calls are counted under: `ollama=localhost:11434`.
 */
function modelHostPatterns(env: Env, name: string, named: boolean): string[] {
  const out: string[] = [];
  const bad: string[] = [];
  const pattern = named ? /^([a-z][a-z0-9._-]{0,31}=)?(\*\.)?[a-z0-9.:_-]+$/i : /^(\*\.)?[a-z0-9.:_-]+$/i;
  for (const p of list(env, name, [], undefined)) {
    const host = p.slice(p.indexOf('=') + 1).toLowerCase();
    if (pattern.test(p) && host !== 'private') out.push(p.toLowerCase());
    else bad.push(`"${clip(p)}"`);
  }
  if (bad.length > 0) warn(`${name}: ${bad.join(', ')} not a ${named ? '[provider=]' : ''}host, "host:port" or "*.suffix"; ignored`);
  return out;
}

function str(env: Env, name: string): string | undefined {
  const v = env[name];
  if (v === undefined) return undefined;
  const t = v.trim();
  return t === '' ? undefined : t;
}

function bool(env: Env, name: string, dflt: boolean): boolean {
  const v = str(env, name);
  if (v === undefined) return dflt;
  const l = v.toLowerCase();
  if (l === 'true') return true;
  if (l === 'false') return false;
  warn(`${name}="${clip(v)}" is not "true" or "false"; using "${dflt}"`);
  return dflt;
}

function int(env: Env, name: string, dflt: number, min: number, max: number): number {
  const v = str(env, name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (Number.isInteger(n) && n >= min && n <= max) return n;
  warn(`${name}="${clip(v)}" is not a whole number from ${min} to ${max}; using ${dflt}`);
  return dflt;
}

function num(env: Env, name: string, dflt: number, min: number, max: number): number {
  const v = str(env, name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (Number.isFinite(n) && n >= min && n <= max) return n;
  warn(`${name}="${clip(v)}" is not a number from ${min} to ${max}; using ${dflt}`);
  return dflt;
}

function oneOf<T extends string>(env: Env, name: string, dflt: T, allowed: readonly string[]): T {
  const v = str(env, name);
  if (v === undefined) return dflt;
  const l = v.toLowerCase();
  if (allowed.includes(l)) return l as T;
  warn(`${name}="${clip(v)}" is not one of ${allowed.join(', ')}; using "${dflt}"`);
  return dflt;
}

function list(env: Env, name: string, dflt: string[], allowed: readonly string[] | undefined): string[] {
  const v = str(env, name);
  if (v === undefined) return dflt;
  const items = v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (allowed === undefined) return items;
  const good: string[] = [];
  const bad: string[] = [];
  for (const item of items) {
    const l = item.toLowerCase();
    if (allowed.includes(l)) good.push(l);
    else bad.push(`"${clip(item)}"`);
  }
  // One line per bad value, whatever it contains.
  if (good.length === 0 && items.length > 0) {
    warn(`${name}="${clip(v)}" names nothing usable (allowed: ${allowed.join(', ')}); using "${dflt.join(',')}"`);
    return dflt;
  }
  if (bad.length > 0) warn(`${name}: ${bad.join(', ')} not one of ${allowed.join(', ')}; ignored`);
  return good;
}

/** Keeps log lines short and printable when echoing a bad value back. */
