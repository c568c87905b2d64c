import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { DiagLogLevel, diag, type DiagLogger } from '@opentelemetry/api';
import { INSTRUMENTATION_NAMES, loadConfig, type Env, type TenantScopeConfig } from '../../src/core/config';

let warnings: string[] = [];
const logger: DiagLogger = {
  error: (m: string) => warnings.push(`error ${m}`),
  warn: (m: string) => warnings.push(m),
  info: () => undefined,
  debug: () => undefined,
  verbose: () => undefined,
};

beforeEach(() => {
  warnings = [];
  diag.setLogger(logger, { logLevel: DiagLogLevel.ALL, suppressOverrideMessage: true });
});
afterEach(() => diag.disable());

const DEFAULTS = loadConfig({});

test('an empty environment gives the documented defaults and no warning', () => {
  assert.deepEqual(warnings, []);
  const c = loadConfig({});
  assert.deepEqual(warnings, []);
  assert.equal(c.disabled, false);
  assert.equal(c.logLevel, DiagLogLevel.INFO);
  assert.deepEqual(c.tracesExporters, ['otlp']);
  assert.deepEqual(c.metricsExporters, ['otlp']);
  assert.equal(c.otlpTracesProtocol, 'http/protobuf');
  assert.equal(c.otlpMetricsProtocol, 'http/protobuf');
  assert.equal(c.otlpMetricsTemporality, 'cumulative');
  assert.equal(c.prometheusHost, '0.0.0.0');
  assert.equal(c.prometheusPort, 9464);
  assert.equal(c.metricExportIntervalMillis, 60000);
  assert.deepEqual(c.propagators, ['tracecontext', 'baggage']);
  assert.equal(c.enabledInstrumentations, undefined);
  assert.deepEqual(c.disabledInstrumentations, []);
  assert.deepEqual(c.sampler, { name: 'parentbased_always_on', ratio: 1 });
  assert.equal(c.tenantHeader, 'x-tenant-id');
  assert.equal(c.maxTenants, 1000);
  assert.equal(c.tenantHashKey, undefined);
  assert.equal(c.maxEndpoints, 200);
  assert.deepEqual(c.endpointTemplates, []);
  assert.equal(c.maxSpanNames, 500);
  assert.equal(c.maxErrorTypes, 100);
  assert.deepEqual(c.baggageHosts, ['private']);
  assert.equal(c.upstreamMetrics, false);
  assert.equal(c.httpServer, 'channel');
  assert.equal(c.maxLabelValues, 50);
  assert.equal(c.queueDepthTimeoutMs, 1000);
  assert.equal(c.otlpTraceEncoder, 'lean');
});

test('TENANTSCOPE_OTLP_TRACE_ENCODER picks upstream\'s serializer, case-insensitively', () => {
  assert.equal(loadConfig({ TENANTSCOPE_OTLP_TRACE_ENCODER: ' Upstream ' }).otlpTraceEncoder, 'upstream');
  assert.equal(loadConfig({ TENANTSCOPE_OTLP_TRACE_ENCODER: 'lean' }).otlpTraceEncoder, 'lean');
  assert.deepEqual(warnings, []);
});

test('good values are taken, lists normalised and de-duplicated', () => {
  const c = loadConfig({
    OTEL_SDK_DISABLED: 'TRUE',
    OTEL_LOG_LEVEL: 'debug',
    OTEL_TRACES_EXPORTER: 'console, otlp, console',
    OTEL_METRICS_EXPORTER: 'prometheus,none',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/protobuf',
    OTEL_EXPORTER_PROMETHEUS_PORT: '0',
    OTEL_PROPAGATORS: 'tracecontext,b3',
    OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,PG',
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: '0.25',
    TENANTSCOPE_TENANT_HEADER: 'X-Org-ID',
    TENANTSCOPE_MAX_TENANTS: '50',
    TENANTSCOPE_TENANT_HASH_KEY: 'a-long-enough-secret-key',
    TENANTSCOPE_BAGGAGE_HOSTS: 'private, *.corp.example, Billing.svc',
  });
  assert.deepEqual(warnings, []);
  assert.equal(c.disabled, true);
  assert.equal(c.logLevel, DiagLogLevel.DEBUG);
  assert.deepEqual(c.tracesExporters, ['console', 'otlp']);
  assert.deepEqual(c.metricsExporters, ['prometheus']);
  assert.equal(c.otlpTracesProtocol, 'http/json');
  assert.equal(c.otlpMetricsProtocol, 'http/protobuf');
  assert.equal(c.prometheusPort, 0);
  assert.deepEqual(c.propagators, ['tracecontext', 'b3']);
  assert.deepEqual(c.enabledInstrumentations, ['http', 'pg']);
  assert.deepEqual(c.sampler, { name: 'parentbased_traceidratio', ratio: 0.25 });
  assert.equal(c.tenantHeader, 'x-org-id');
  assert.equal(c.maxTenants, 50);
  assert.equal(c.tenantHashKey, 'a-long-enough-secret-key');
  assert.deepEqual(c.baggageHosts, ['private', '*.corp.example', 'billing.svc']);
});

/** [variable, bad value, the config field it sets]: each must give the default and exactly one warning naming it. */
const BAD: [string, string, keyof TenantScopeConfig][] = [
  ['OTEL_SDK_DISABLED', 'yes', 'disabled'],
  ['OTEL_LOG_LEVEL', 'loud', 'logLevel'],
  ['OTEL_TRACES_EXPORTER', 'zipkin', 'tracesExporters'],
  ['OTEL_METRICS_EXPORTER', 'statsd', 'metricsExporters'],
  ['OTEL_EXPORTER_OTLP_PROTOCOL', 'grpc', 'otlpTracesProtocol'],
  ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'grpc', 'otlpTracesProtocol'],
  ['OTEL_EXPORTER_OTLP_METRICS_PROTOCOL', 'thrift', 'otlpMetricsProtocol'],
  ['OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE', 'hourly', 'otlpMetricsTemporality'],
  ['OTEL_EXPORTER_PROMETHEUS_PORT', '99999', 'prometheusPort'],
  ['OTEL_EXPORTER_PROMETHEUS_PORT', 'ninety', 'prometheusPort'],
  ['OTEL_METRIC_EXPORT_INTERVAL', '-5', 'metricExportIntervalMillis'],
  ['OTEL_PROPAGATORS', 'xray', 'propagators'],
  ['OTEL_NODE_ENABLED_INSTRUMENTATIONS', 'fastify', 'enabledInstrumentations'],
  ['OTEL_NODE_DISABLED_INSTRUMENTATIONS', 'kafka', 'disabledInstrumentations'],
  ['OTEL_TRACES_SAMPLER', 'sometimes', 'sampler'],
  ['TENANTSCOPE_TENANT_HEADER', 'x tenant', 'tenantHeader'],
  ['TENANTSCOPE_TENANT_HEADER', 'x-tenant\u00e9', 'tenantHeader'],
  ['TENANTSCOPE_MAX_TENANTS', '0', 'maxTenants'],
  ['TENANTSCOPE_MAX_TENANTS', '1.5', 'maxTenants'],
  ['TENANTSCOPE_MAX_ENDPOINTS', 'lots', 'maxEndpoints'],
  ['TENANTSCOPE_MAX_SPAN_NAMES', '-1', 'maxSpanNames'],
  ['TENANTSCOPE_MAX_ERROR_TYPES', '1e9', 'maxErrorTypes'],
  ['TENANTSCOPE_ENDPOINT_TEMPLATES', 'chats/:id', 'endpointTemplates'],
  ['TENANTSCOPE_BAGGAGE_HOSTS', 'http://evil/', 'baggageHosts'],
  ['OTEL_LOGS_EXPORTER', 'fluentd', 'logsExporters'],
  ['TENANTSCOPE_UPSTREAM_METRICS', 'yes please', 'upstreamMetrics'],
  ['TENANTSCOPE_HTTP_SERVER', 'patched', 'httpServer'],
  ['TENANTSCOPE_PG', 'fast', 'pg'],
  ['TENANTSCOPE_LEAN_SPANS', 'maybe', 'leanSpans'],
  ['TENANTSCOPE_LEAN_UNSAMPLED', 'maybe', 'leanSpans'],
  ['OTEL_EXPORTER_OTLP_LOGS_PROTOCOL', 'grpc', 'otlpLogsProtocol'],
  ['OTEL_BLRP_SCHEDULE_DELAY', '0', 'batchLogRecordProcessor'],
  ['OTEL_BLRP_EXPORT_TIMEOUT', 'soon', 'batchLogRecordProcessor'],
  ['OTEL_BLRP_MAX_QUEUE_SIZE', '-1', 'batchLogRecordProcessor'],
  ['OTEL_BLRP_MAX_EXPORT_BATCH_SIZE', '0.5', 'batchLogRecordProcessor'],
  ['TENANTSCOPE_MAX_LABEL_VALUES', '0', 'maxLabelValues'],
  ['TENANTSCOPE_QUEUE_DEPTH_TIMEOUT_MS', '5', 'queueDepthTimeoutMs'],
  ['TENANTSCOPE_QUEUE_DEPTH_TIMEOUT_MS', 'soon', 'queueDepthTimeoutMs'],
  ['OTEL_EXPORTER_OTLP_ENDPOINT', 'not-a-url', 'otlpTracesUrl'],
  ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'ftp://collector/v1/traces', 'otlpTracesUrl'],
  ['OTEL_EXPORTER_OTLP_METRICS_ENDPOINT', 'collector:4318', 'otlpMetricsUrl'],
  ['OTEL_EXPORTER_OTLP_TIMEOUT', 'soon', 'otlpTracesTimeoutMillis'],
  ['OTEL_EXPORTER_OTLP_COMPRESSION', 'zip', 'otlpMetricsCompression'],
  ['OTEL_EXPORTER_OTLP_LOGS_TIMEOUT', 'soon', 'otlpLogsTimeoutMillis'],
  ['OTEL_EXPORTER_OTLP_LOGS_COMPRESSION', 'zip', 'otlpLogsCompression'],
  ['TENANTSCOPE_SHUTDOWN_TIMEOUT_MS', '-1', 'shutdownTimeoutMillis'],
  ['TENANTSCOPE_MAX_SERIES', '5', 'maxSeries'],
  ['TENANTSCOPE_OTLP_TRACE_ENCODER', 'fast', 'otlpTraceEncoder'],
];

test('OTLP URLs: the signal variable as given, else the general one with v1/<signal> appended, else localhost:4318', () => {
  assert.equal(DEFAULTS.otlpTracesUrl, 'http://localhost:4318/v1/traces');
  assert.equal(DEFAULTS.otlpMetricsUrl, 'http://localhost:4318/v1/metrics');
  const c = loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/', OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'https://m.example/ingest' });
  assert.equal(c.otlpTracesUrl, 'http://collector:4318/v1/traces');
  assert.equal(c.otlpMetricsUrl, 'https://m.example/ingest');
  assert.deepEqual(warnings, []);
});

test('the OTLP logs URL resolves as the others do, only when logs are shipped over OTLP', () => {
  assert.equal(DEFAULTS.otlpLogsUrl, '');
  assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).otlpLogsUrl, 'http://collector:4318/v1/logs');
  assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'https://l.example/ingest' }).otlpLogsUrl, 'https://l.example/ingest');
  assert.deepEqual(warnings, []);
  const c = loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'collector:4318' });
  assert.equal(c.otlpLogsUrl, 'http://collector:4318/v1/logs');
  assert.deepEqual(warnings, ['tenantscope: OTEL_EXPORTER_OTLP_LOGS_ENDPOINT="collector:4318" is not an http(s) URL; using "http://collector:4318/v1/logs"']);
});

test('a bad OTLP endpoint names the variable and the URL used instead', () => {
  loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'not-a-url' });
  assert.deepEqual(warnings, ['tenantscope: OTEL_EXPORTER_OTLP_ENDPOINT="not-a-url" is not an http(s) URL; using "http://localhost:4318"']);
});

for (const [name, value, field] of BAD) {
  test(`${name}=${JSON.stringify(value)} falls back to the default with exactly one warning naming it`, () => {
    const c = loadConfig({ [name]: value });
    // An enabled-list that names nothing usable enables every instrumentation, as leaving it unset does.
    const expected = field === 'enabledInstrumentations' ? [...INSTRUMENTATION_NAMES] : DEFAULTS[field];
    assert.deepEqual(c[field], expected);
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.ok(warnings[0].includes(name), warnings[0]);
    assert.ok(warnings[0].startsWith('tenantscope: '), warnings[0]);
  });
}

test('a list with one bad item keeps the good ones and warns once about the bad one', () => {
  const c = loadConfig({ OTEL_METRICS_EXPORTER: 'prometheus,statsd' });
  assert.deepEqual(c.metricsExporters, ['prometheus']);
  assert.equal(warnings.length, 1);
  assert.ok(warnings[0].includes('OTEL_METRICS_EXPORTER') && warnings[0].includes('statsd'), warnings[0]);
});

test('a sampler ratio out of range falls back to 1 with one warning', () => {
  const c = loadConfig({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' });
  assert.deepEqual(c.sampler, { name: 'traceidratio', ratio: 1 });
  assert.equal(warnings.length, 1);
  assert.ok(warnings[0].includes('OTEL_TRACES_SAMPLER_ARG'));
});

test('a short hash key is used and warned about once, without echoing the key', () => {
  const c = loadConfig({ TENANTSCOPE_TENANT_HASH_KEY: 'sekrit' });
  assert.equal(c.tenantHashKey, 'sekrit');
  assert.equal(warnings.length, 1);
  assert.ok(warnings[0].includes('TENANTSCOPE_TENANT_HASH_KEY'));
  assert.ok(!warnings[0].includes('sekrit'));
});

test('bad values are echoed clipped and printable', () => {
  loadConfig({ TENANTSCOPE_MAX_TENANTS: 'x'.repeat(500) + '\u0007' });
  assert.equal(warnings.length, 1);
  assert.ok(warnings[0].length < 200, warnings[0]);
  assert.ok(!/[^\x20-\x7e]/.test(warnings[0]), warnings[0]);
});

test('blank values count as unset', () => {
  const env: Env = { OTEL_TRACES_EXPORTER: '  ', TENANTSCOPE_MAX_TENANTS: '' };
  const c = loadConfig(env);
  assert.deepEqual(c.tracesExporters, ['otlp']);
  assert.equal(c.maxTenants, 1000);
  assert.deepEqual(warnings, []);
});

test('logs ship over OTLP by default only when a Collector endpoint is configured', () => {
  assert.deepEqual(DEFAULTS.logsExporters, []);
  assert.deepEqual(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).logsExporters, ['otlp']);
  assert.deepEqual(loadConfig({ OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'http://collector:4318/v1/logs' }).logsExporters, ['otlp']);
  // A traces-only endpoint says nothing about where logs should go.
  assert.deepEqual(loadConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }).logsExporters, []);
  assert.deepEqual(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: '  ' }).logsExporters, []);
  assert.deepEqual(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_LOGS_EXPORTER: 'none' }).logsExporters, []);
  assert.deepEqual(loadConfig({ OTEL_LOGS_EXPORTER: 'console,otlp,console' }).logsExporters, ['console', 'otlp']);
  assert.deepEqual(warnings, []);
});

test('OTEL_BLRP_* defaults are the specification\'s, and set values are taken', () => {
  assert.deepEqual(DEFAULTS.batchLogRecordProcessor, { scheduledDelayMillis: 1000, exportTimeoutMillis: 30000, maxQueueSize: 2048, maxExportBatchSize: 512 });
  const c = loadConfig({
    OTEL_BLRP_SCHEDULE_DELAY: '50',
    OTEL_BLRP_EXPORT_TIMEOUT: '700',
    OTEL_BLRP_MAX_QUEUE_SIZE: '100',
    OTEL_BLRP_MAX_EXPORT_BATCH_SIZE: '10',
  });
  assert.deepEqual(c.batchLogRecordProcessor, { scheduledDelayMillis: 50, exportTimeoutMillis: 700, maxQueueSize: 100, maxExportBatchSize: 10 });
  assert.deepEqual(warnings, []);
});

test('a log batch larger than the log queue is cut to the queue size with one warning naming both variables', () => {
  const c = loadConfig({ OTEL_BLRP_MAX_QUEUE_SIZE: '100', OTEL_BLRP_MAX_EXPORT_BATCH_SIZE: '512' });
  assert.equal(c.batchLogRecordProcessor.maxExportBatchSize, 100);
  assert.equal(warnings.length, 1, warnings.join('\n'));
  assert.match(warnings[0], /OTEL_BLRP_MAX_EXPORT_BATCH_SIZE=512 .*OTEL_BLRP_MAX_QUEUE_SIZE=100; using 100/);
});

test('the logs endpoint named in log lines has no credentials and no query', () => {
  assert.equal(DEFAULTS.otlpLogsTarget, 'http://localhost:4318/v1/logs');
  assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://u:secret@collector:4318/' }).otlpLogsTarget, 'https://collector:4318/v1/logs');
  assert.equal(
    loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'http://tok:en@b:9999/custom?key=secret' }).otlpLogsTarget,
    'http://b:9999/custom'
  );
  assert.ok(!loadConfig({ OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'not a url secret' }).otlpLogsTarget.includes('secret'));
});

test('pino and winston are instrumentation names', () => {
  assert.deepEqual(loadConfig({ OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'pino,winston' }).disabledInstrumentations, ['pino', 'winston']);
  assert.deepEqual(warnings, []);
});

test('TENANTSCOPE_LEAN_SPANS: lean spans by default; false turns them off', () => {
  assert.equal(DEFAULTS.leanSpans, true);
  assert.equal(loadConfig({ TENANTSCOPE_LEAN_SPANS: 'false' }).leanSpans, false);
  assert.equal(loadConfig({ TENANTSCOPE_LEAN_SPANS: 'TRUE' }).leanSpans, true);
  assert.deepEqual(warnings, []);
});

test('TENANTSCOPE_LEAN_UNSAMPLED, the former name, still turns lean spans off; TENANTSCOPE_LEAN_SPANS wins when both are set', () => {
  assert.equal(loadConfig({ TENANTSCOPE_LEAN_UNSAMPLED: 'false' }).leanSpans, false);
  assert.equal(loadConfig({ TENANTSCOPE_LEAN_UNSAMPLED: 'TRUE' }).leanSpans, true);
  assert.equal(loadConfig({ TENANTSCOPE_LEAN_UNSAMPLED: 'false', TENANTSCOPE_LEAN_SPANS: 'true' }).leanSpans, true);
  assert.equal(loadConfig({ TENANTSCOPE_LEAN_UNSAMPLED: 'true', TENANTSCOPE_LEAN_SPANS: 'false' }).leanSpans, false);
  assert.equal(loadConfig({ TENANTSCOPE_LEAN_UNSAMPLED: 'false', TENANTSCOPE_LEAN_SPANS: ' ' }).leanSpans, false);
  assert.deepEqual(warnings, []);
});

test('TENANTSCOPE_UPSTREAM_METRICS=true gives the upstream instrumentations their own histograms back', () => {
  assert.equal(loadConfig({ TENANTSCOPE_UPSTREAM_METRICS: 'true' }).upstreamMetrics, true);
  assert.equal(loadConfig({ TENANTSCOPE_UPSTREAM_METRICS: 'false' }).upstreamMetrics, false);
  assert.deepEqual(warnings, []);
});

test('OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE is taken in any case when metrics go over OTLP, and not read otherwise', () => {
  assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'Delta' }).otlpMetricsTemporality, 'delta');
  assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'lowmemory' }).otlpMetricsTemporality, 'lowmemory');
  assert.equal(
    loadConfig({ OTEL_METRICS_EXPORTER: 'prometheus', OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'hourly' }).otlpMetricsTemporality,
    'cumulative'
  );
  assert.deepEqual(warnings, []);
});

test('TENANTSCOPE_PG picks whose patches of pg run; a bad value is one warning and the default', () => {
  assert.equal(loadConfig({}).pg, 'lean');
  assert.equal(loadConfig({ TENANTSCOPE_PG: 'upstream' }).pg, 'upstream');
  assert.equal(loadConfig({ TENANTSCOPE_PG: 'Lean' }).pg, 'lean');
  warnings.length = 0;
  assert.equal(loadConfig({ TENANTSCOPE_PG: 'native' }).pg, 'lean');
  assert.deepEqual(warnings, ['tenantscope: TENANTSCOPE_PG="native" is not one of lean, upstream; using "lean"']);
});

test('TENANTSCOPE_HTTP_SERVER picks who makes the HTTP server spans; a bad value is one warning and the default', () => {
  assert.equal(loadConfig({ TENANTSCOPE_HTTP_SERVER: 'upstream' }).httpServer, 'upstream');
  assert.equal(loadConfig({ TENANTSCOPE_HTTP_SERVER: 'Channel' }).httpServer, 'channel');
  warnings.length = 0;
  assert.equal(loadConfig({ TENANTSCOPE_HTTP_SERVER: 'emit' }).httpServer, 'channel');
  assert.deepEqual(warnings, ['tenantscope: TENANTSCOPE_HTTP_SERVER="emit" is not one of channel, upstream; using "channel"']);
});
