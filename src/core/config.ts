import { DiagLogLevel } from '@opentelemetry/api';
import { clip, warn, warnOnce } from './log';

/** Everything tenantscope reads from the environment, validated. */
export interface TenantScopeConfig {
  readonly disabled: boolean;
  readonly logLevel: DiagLogLevel;
  readonly tracesExporters: readonly ('otlp' | 'console')[];
  readonly metricsExporters: readonly ('otlp' | 'prometheus' | 'console')[];
  readonly otlpTracesProtocol: OtlpProtocol;
  readonly otlpMetricsProtocol: OtlpProtocol;
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

export const INSTRUMENTATION_NAMES = ['http', 'undici', 'express', 'pg', 'ioredis', 'mongodb'] as const;

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
const PROPAGATORS = ['tracecontext', 'baggage', 'b3', 'b3multi', 'none'];
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/;

/** Reads the log level alone, so the logger can be set before anything else is parsed. */
export function loadLogLevel(env: Env): DiagLogLevel {
  const raw = str(env, 'OTEL_LOG_LEVEL');
  if (raw === undefined) return DiagLogLevel.INFO;
  const level = LOG_LEVELS[raw.toLowerCase()];
  if (level === undefined) {
    warnOnce('OTEL_LOG_LEVEL', `OTEL_LOG_LEVEL="${clip(raw)}" is not one of ${Object.keys(LOG_LEVELS).join(', ')}; using "info"`);
    return DiagLogLevel.INFO;
  }
  return level;
}

/**
 * Parses the environment. Never throws: a bad value logs one line naming the variable and takes the default.
 */
export function loadConfig(env: Env = process.env): TenantScopeConfig {
  const tracesExporters = list(env, 'OTEL_TRACES_EXPORTER', ['otlp'], ['otlp', 'console', 'none']).filter(
    (e): e is 'otlp' | 'console' => e !== 'none'
  );
  const metricsExporters = list(env, 'OTEL_METRICS_EXPORTER', ['otlp'], ['otlp', 'prometheus', 'console', 'none']).filter(
    (e): e is 'otlp' | 'prometheus' | 'console' => e !== 'none'
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
  const hashKey = str(env, 'TENANTSCOPE_TENANT_HASH_KEY');
  if (hashKey !== undefined && hashKey.length < 16) {
    warn('TENANTSCOPE_TENANT_HASH_KEY is shorter than 16 characters; it is used, but a longer random key is safer');
  }
  return {
    disabled: bool(env, 'OTEL_SDK_DISABLED', false),
    logLevel: loadLogLevel(env),
    tracesExporters: [...new Set(tracesExporters)],
    metricsExporters: [...new Set(metricsExporters)],
    otlpTracesProtocol: protocol(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', otlpProtocol),
    otlpMetricsProtocol: protocol(env, 'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL', otlpProtocol),
    prometheusHost: str(env, 'OTEL_EXPORTER_PROMETHEUS_HOST') ?? '0.0.0.0',
    prometheusPort: int(env, 'OTEL_EXPORTER_PROMETHEUS_PORT', 9464, 0, 65535),
    metricExportIntervalMillis: int(env, 'OTEL_METRIC_EXPORT_INTERVAL', 60000, 100, 86_400_000),
    batchSpanProcessor: {
      scheduledDelayMillis: int(env, 'OTEL_BSP_SCHEDULE_DELAY', 5000, 1, 86_400_000),
      exportTimeoutMillis: int(env, 'OTEL_BSP_EXPORT_TIMEOUT', 30000, 1, 86_400_000),
      maxQueueSize: int(env, 'OTEL_BSP_MAX_QUEUE_SIZE', 2048, 1, 10_000_000),
      maxExportBatchSize: int(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 512, 1, 10_000_000),
    },
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
    modelBodyTimeoutMs: int(env, 'TENANTSCOPE_MODEL_BODY_TIMEOUT_MS', 30_000, 100, 3_600_000),
    budgetsFile: str(env, 'TENANTSCOPE_BUDGETS_FILE'),
    keepErrors: bool(env, 'TENANTSCOPE_KEEP_ERRORS', true),
    keepSlowMs: int(env, 'TENANTSCOPE_KEEP_SLOW_MS', 2000, 0, 86_400_000),
    keepModelCostUsd: num(env, 'TENANTSCOPE_KEEP_MODEL_COST_USD', 0.05, 0, 1_000_000),
    traceMaxSpans: int(env, 'TENANTSCOPE_TRACE_MAX_SPANS', 1000, 1, 1_000_000),
    bufferMaxSpans: int(env, 'TENANTSCOPE_BUFFER_MAX_SPANS', 20_000, 1, 10_000_000),
    traceMaxAgeMs: int(env, 'TENANTSCOPE_TRACE_MAX_AGE_MS', 60_000, 100, 86_400_000),
  };
}

const PROTOCOLS = ['http/protobuf', 'http/json'];

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
