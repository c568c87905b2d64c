/**
 * Issue 8 in process: the cache-type rule, the SQL statement summary, the integration policy, their configuration,
 * and DependencyMetricsSpanProcessor / errors_total through a real TracerProvider (tenant processor in front, and
 * the local-trace processor where the request's exception matters), read back through the MetricStore.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { DataPointType, type Histogram } from '@opentelemetry/sdk-metrics';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { DependencyMetricsSpanProcessor } from '../../processors/DependencyMetricsSpanProcessor';
import { LocalTraceSpanProcessor } from '../../processors/LocalTraceSpanProcessor';
import { RedMetricsSpanProcessor } from '../../processors/RedMetricsSpanProcessor';
import { TenantSpanProcessor } from '../../processors/TenantSpanProcessor';
import { CacheMetrics } from '../../src/core/cache/CacheMetrics';
import { CacheTypes, compileCacheTypePattern } from '../../src/core/cache/CacheTypes';
import { loadConfig } from '../../src/core/config';
import { summarizeStatement } from '../../src/core/db/statement';
import { EndpointNormalizer } from '../../src/core/EndpointNormalizer';
import { captureExceptionClasses } from '../../src/core/ErrorType';
import { IntegrationPolicy } from '../../src/core/IntegrationPolicy';
import { MetricStore } from '../../src/core/metrics/MetricStore';
import { METRIC_LABELS_FOLDED } from '../../src/core/semconv';
import { HostPolicy } from '../../src/core/tenant/HostPolicy';
import { MODEL_CALL_CONTEXT_KEY, ModelEndpointPolicy } from '../../src/core/tenant/ModelEndpointPolicy';
import { TENANT_CONTEXT_KEY, TenantCell } from '../../src/core/tenant/TenantCell';
import { TenantRegistry } from '../../src/core/tenant/TenantRegistry';

test('cache types: the default pattern takes the segment before the first ":"; ids, unmatched keys and keys past the limit are _OTHER', () => {
  const store = new MetricStore(resourceFromAttributes({}));
  const folded = store.counter(METRIC_LABELS_FOLDED).get(['cache_type']);
  const t = new CacheTypes({ pattern: '{type}:*', maxTypes: 2, folded });
  assert.equal(t.fromKey('conversation_context:42'), 'conversation_context');
  assert.equal(t.fromKey(Buffer.from('user_session:abc:1')), 'user_session');
  assert.equal(t.fromKey('42:conversation'), '_OTHER'); // a number is no type
  assert.equal(t.fromKey('conv_8f3k2j1x:1'), '_OTHER'); // a generated id is no type
  assert.equal(t.fromKey('0123456789abcdef0123:1'), '_OTHER');
  assert.equal(t.fromKey('no-separator'), '_OTHER');
  assert.equal(t.fromKey(':empty-type'), '_OTHER');
  assert.equal(t.fromKey(42), '_OTHER');
  assert.equal(folded.value, 0);
  assert.equal(t.fromKey('model_response:9'), '_OTHER'); // the third type, past maxTypes=2
  assert.equal(folded.value, 1);
  assert.equal(t.fromKey('conversation_context:43'), 'conversation_context');
  assert.equal(t.fromName('conversation_context'), 'conversation_context');
  assert.equal(t.fromName({}), 'invalid');
  assert.equal(t.fromName('bad name!'), 'invalid');
});

test('cache-type patterns: "{type}" once, "*" anywhere, separated by literal text', () => {
  const t = new CacheTypes({ pattern: '*:{type}:*', maxTypes: 10 });
  assert.equal(t.fromKey('tenant-a:user_session:9'), 'user_session');
  assert.equal(t.fromKey('user_session'), '_OTHER');
  const app = new CacheTypes({ pattern: 'app/{type}/*', maxTypes: 10 });
  assert.equal(app.fromKey('app/prompts/7'), 'prompts');
  assert.equal(app.fromKey('other/prompts/7'), '_OTHER');
  assert.equal(typeof compileCacheTypePattern('{type}*'), 'string');
  assert.equal(typeof compileCacheTypePattern('*'), 'string');
  assert.equal(typeof compileCacheTypePattern('{type}:{type}'), 'string');
  assert.equal(typeof compileCacheTypePattern('{type}.*'), 'object');
});

test('SQL statements give their operation and first table, never a literal', () => {
  const s = (text: string): string => {
    const r = summarizeStatement(text);
    return `${r.operation}|${r.table}`;
  };
  assert.equal(s('SELECT count(*) FROM messages WHERE id = $1'), 'SELECT|messages');
  assert.equal(s('  select a, (select 1 from inner_t) from Chat.Messages m'), 'SELECT|chat.messages');
  assert.equal(s('INSERT INTO "Audit Log" (a) VALUES ($1)'), 'INSERT|Audit Log');
  assert.equal(s('UPDATE ONLY users SET name = $1'), 'UPDATE|users');
  assert.equal(s('DELETE FROM sessions WHERE t < now()'), 'DELETE|sessions');
  assert.equal(s("SELECT 'from secret_table' AS x"), 'SELECT|');
  assert.equal(s('SELECT pg_sleep($1)'), 'SELECT|');
  assert.equal(s('/* hi */ -- c\nSELECT * FROM (SELECT 1) AS s'), 'SELECT|');
  assert.equal(s('BEGIN'), 'BEGIN|');
  assert.equal(s(''), '|');
  assert.equal(s('SELECT * FROM ' + 'x'.repeat(100)), 'SELECT|');
});

test('integrations: listed hosts get their type, wildcards their suffix as id; other public hosts are "http"; internal and model hosts are none', () => {
  const p = new IntegrationPolicy({
    rules: [
      { type: 'crm', hosts: ['api.hubspot.com', '*.salesforce.com'] },
      { type: 'webhook', hosts: ['127.0.0.1:9999'] },
    ],
    maxIntegrations: 4,
    internal: new HostPolicy(['private']),
    models: new ModelEndpointPolicy(['llm.example.com']),
  });
  const of = (host: string, port?: number): string => {
    const i = p.integrationOf(host, port);
    return i === undefined ? 'none' : `${i.type}/${i.id}`;
  };
  assert.equal(of('api.hubspot.com', 443), 'crm/api.hubspot.com');
  assert.equal(of('acme.my.salesforce.com', 443), 'crm/salesforce.com');
  assert.equal(of('127.0.0.1', 9999), 'webhook/127.0.0.1:9999');
  assert.equal(of('127.0.0.1', 8080), 'none'); // loopback, not listed: internal
  assert.equal(of('redis', 6379), 'none');
  assert.equal(of('api.openai.com', 443), 'none');
  assert.equal(of('llm.example.com', 443), 'none');
  assert.equal(of('api.stripe.com', 443), 'http/api.stripe.com');
  assert.equal(of('api.github.com', 443), '_OTHER/_OTHER'); // the fifth integration, past the limit of 4
});

test('config: TENANTSCOPE_INTEGRATIONS, cache pattern, slow-query and runtime switches; bad values fall back', () => {
  const c = loadConfig({
    TENANTSCOPE_INTEGRATIONS: 'crm=api.hubspot.com, *.salesforce.com;webhook=hooks.slack.com;bad entry;x=not a host',
    TENANTSCOPE_CACHE_TYPE_PATTERN: '*:{type}:*',
    TENANTSCOPE_SLOW_QUERY_MS: '250',
    TENANTSCOPE_RUNTIME_METRICS: 'false',
  });
  assert.deepEqual(c.integrations, [
    { type: 'crm', hosts: ['api.hubspot.com', '*.salesforce.com'] },
    { type: 'webhook', hosts: ['hooks.slack.com'] },
  ]);
  assert.equal(c.cacheTypePattern, '*:{type}:*');
  assert.equal(c.slowQueryMs, 250);
  assert.equal(c.runtimeMetrics, false);
  assert.equal(c.processMetrics, true);
  const d = loadConfig({ TENANTSCOPE_CACHE_TYPE_PATTERN: '{type}*', TENANTSCOPE_SLOW_QUERY_MS: '-1' });
  assert.equal(d.cacheTypePattern, '{type}:*');
  assert.equal(d.slowQueryMs, 1000);
});

function pipeline(o: { maxTables?: number; integrations?: string[] } = {}) {
  const tenants = new TenantRegistry({ maxTenants: 100 });
  const store = new MetricStore(resourceFromAttributes({ 'service.name': 'svc' }));
  const caches = new CacheMetrics(store, tenants, new CacheTypes({ pattern: '{type}:*', maxTypes: 10 }));
  const deps = new DependencyMetricsSpanProcessor({
    store,
    tenants,
    caches,
    integrations: new IntegrationPolicy({
      rules: [{ type: 'crm', hosts: o.integrations ?? ['api.hubspot.com'] }],
      maxIntegrations: 10,
      internal: new HostPolicy(['private']),
      models: new ModelEndpointPolicy(),
    }),
    slowQueryMs: 1000,
    maxTables: o.maxTables ?? 100,
  });
  const provider = new TracerProvider({ spanProcessors: [new TenantSpanProcessor(), deps] });
  const tracer = provider.getTracer('test');
  const request = (tenant: string): Context => ROOT_CONTEXT.setValue(TENANT_CONTEXT_KEY, new TenantCell(tenants, tenant));
  const span = (name: string, tenant: string, attributes: Attributes, ms = 5, ctx?: Context): void => {
    const s = tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes, startTime: [1000, 0] }, ctx ?? request(tenant));
    s.end([1000 + Math.floor(ms / 1000), (ms % 1000) * 1e6]);
  };
  const read = async (name: string): Promise<Record<string, number>> => {
    const { resourceMetrics } = await store.collect();
    const out: Record<string, number> = {};
    for (const m of resourceMetrics.scopeMetrics[0].metrics) {
      if (m.descriptor.name !== name) continue;
      for (const p of m.dataPoints) {
        const key = Object.values(p.attributes).map(String).join('|');
        out[key] = m.dataPointType === DataPointType.HISTOGRAM ? (p.value as Histogram).count : (p.value as number);
      }
    }
    return out;
  };
  return { span, read, request, tenants };
}

const PG = { 'db.system.name': 'postgresql' };

test('database spans: one duration per (type, operation, table), slow ones per tenant; connects are no queries', async () => {
  const p = pipeline();
  p.span('pg.query:SELECT', 'acme', { ...PG, 'db.query.text': 'SELECT * FROM messages WHERE id = $1' }, 20);
  p.span('pg.query:SELECT', 'acme', { ...PG, 'db.query.text': 'SELECT * FROM messages WHERE id = $1' }, 1500);
  p.span('pg.query:INSERT', 'globex', { ...PG, 'db.query.text': 'INSERT INTO messages (a) VALUES ($1)' }, 2500);
  p.span('pg.connect', 'acme', { ...PG });
  p.span('find messages', 'acme', { 'db.system.name': 'mongodb', 'db.operation.name': 'find', 'db.collection.name': 'messages' });
  p.span('get', 'acme', { 'db.system.name': 'redis', 'db.operation.name': 'PIPELINE get', 'db.query.text': 'get k' });
  p.span('mysql', 'acme', { 'db.system': 'mysql', 'db.statement': 'DELETE FROM carts' }); // older attribute names
  assert.deepEqual(await p.read('database_query_duration_seconds'), {
    'postgresql|SELECT|messages': 2,
    'postgresql|INSERT|messages': 1,
    'mongodb|find|messages': 1,
    'redis|get|': 1,
    'mysql|DELETE|carts': 1,
  });
  assert.deepEqual(await p.read('database_slow_queries'), {
    'postgresql|SELECT|messages|acme': 1,
    'postgresql|INSERT|messages|globex': 1,
  });
});

test('tables past TENANTSCOPE_MAX_DB_TABLES fold into _OTHER, counted', async () => {
  const p = pipeline({ maxTables: 2 });
  for (const t of ['a', 'b', 'c', 'd']) p.span('q', 'acme', { ...PG, 'db.query.text': `SELECT 1 FROM t_${t}` });
  assert.deepEqual(await p.read('database_query_duration_seconds'), {
    'postgresql|SELECT|t_a': 1,
    'postgresql|SELECT|t_b': 1,
    'postgresql|SELECT|_OTHER': 2,
  });
  assert.equal((await p.read('tenantscope.labels.folded'))['table'], 2);
});

test('cache attributes on Redis spans count one lookup per key, by tenant', async () => {
  const p = pipeline();
  const redis = { 'db.system.name': 'redis', 'db.operation.name': 'get' };
  p.span('get', 'acme', { ...redis, 'cache.type': 'session', 'cache.hit': true });
  p.span('get', 'acme', { ...redis, 'cache.type': 'session', 'cache.hit': false });
  p.span('mget', 'globex', { ...redis, 'db.operation.name': 'mget', 'cache.type': 'session', 'cache.hits': 3, 'cache.misses': 1 });
  p.span('get', 'acme', { ...redis, 'cache.type': 'conv_8f3k2j1x', 'cache.hit': true }); // set by hand, an id: re-bounded
  // A tenant's hit and miss series are created together: a zero is no traffic.
  const nonZero = (t: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(t).filter(([, v]) => v !== 0));
  assert.deepEqual(nonZero(await p.read('cache_requests')), {
    'session|redis|hit|acme': 1,
    'session|redis|miss|acme': 1,
    'session|redis|hit|globex': 3,
    'session|redis|miss|globex': 1,
    '_OTHER|redis|hit|acme': 1,
  });
});

test('HTTP client spans: listed hosts and public hosts are integrations; model calls and internal hosts are not', async () => {
  const p = pipeline();
  const http = (host: string, status: number): Attributes => ({ 'http.request.method': 'POST', 'server.address': host, 'server.port': 443, 'http.response.status_code': status });
  p.span('POST', 'acme', http('api.hubspot.com', 200), 300);
  p.span('POST', 'acme', http('api.hubspot.com', 502), 700);
  p.span('POST', 'globex', http('api.stripe.com', 200));
  p.span('POST', 'acme', http('10.0.0.8', 200));
  p.span('POST', 'acme', http('api.openai.com', 200));
  // A request made inside a model call (e.g. an OpenAI-compatible gateway the policy does not list).
  p.span('POST', 'acme', http('api.groq.com', 200), 5, p.request('acme').setValue(MODEL_CALL_CONTEXT_KEY, true));
  assert.deepEqual(await p.read('integration_calls'), {
    'acme|api.hubspot.com|crm|success': 1,
    'acme|api.hubspot.com|crm|error': 1,
    'globex|api.stripe.com|http|success': 1,
  });
  assert.deepEqual(await p.read('integration_duration_seconds'), { 'acme|api.hubspot.com|crm': 2, 'globex|api.stripe.com|http': 1 });
});

test('errors_total: the class name of the exception that escaped into the framework, also for a 4xx; else the status code', async () => {
  captureExceptionClasses();
  class QuotaExceededError extends Error {}
  const tenants = new TenantRegistry({ maxTenants: 100 });
  const store = new MetricStore(resourceFromAttributes({}));
  const red = new RedMetricsSpanProcessor({ store, tenants, endpoints: new EndpointNormalizer({ maxEndpoints: 10 }), serviceName: 'svc', maxSpanNames: 100, maxErrorTypes: 100 });
  const local = new LocalTraceSpanProcessor({
    metricProcessors: [red],
    exportProcessors: [],
    exportEnabled: false,
    keep: { errors: false, slowServerMs: 0, modelCostUsd: 0 },
    bounds: { maxSpansPerTrace: 100, maxBufferedSpans: 100, maxAgeMs: 60_000 },
    store,
  });
  const provider = new TracerProvider({ spanProcessors: [new TenantSpanProcessor(), local] });
  const tracer = provider.getTracer('test');
  const request = (status: number, thrown: Error | undefined, clientError?: Error): void => {
    const ctx = ROOT_CONTEXT.setValue(TENANT_CONTEXT_KEY, new TenantCell(tenants, 'acme'));
    const server = tracer.startSpan('GET /x', { kind: SpanKind.SERVER, attributes: { 'http.request.method': 'GET', 'http.route': '/x' } }, ctx);
    const inner = trace.setSpan(ctx, server);
    if (clientError !== undefined) {
      // A failed query the app handled: never the request's error.
      const c = tracer.startSpan('pg.query', { kind: SpanKind.CLIENT }, inner);
      c.recordException(clientError);
      c.setStatus({ code: SpanStatusCode.ERROR });
      c.end();
    }
    const handler = tracer.startSpan('request handler - /x', { kind: SpanKind.INTERNAL }, inner);
    if (thrown !== undefined) {
      handler.recordException(thrown);
      handler.setStatus({ code: SpanStatusCode.ERROR });
    }
    handler.end();
    server.setAttribute('http.response.status_code', status);
    if (status >= 500) {
      server.setAttribute('error.type', String(status));
      server.setStatus({ code: SpanStatusCode.ERROR });
    }
    server.end();
  };
  request(429, new QuotaExceededError('quota'));
  request(500, new TypeError('boom'), new RangeError('handled'));
  request(503, undefined);
  request(200, undefined, new RangeError('handled'));
  const { resourceMetrics } = await store.collect();
  const errors = resourceMetrics.scopeMetrics[0].metrics.find((m) => m.descriptor.name === 'errors');
  const got = Object.fromEntries((errors?.dataPoints ?? []).map((d) => [String(d.attributes.error_type), d.value]));
  assert.deepEqual(got, { QuotaExceededError: 1, TypeError: 1, '503': 1 });
  await provider.shutdown();
});
