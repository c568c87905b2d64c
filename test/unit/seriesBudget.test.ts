/**
 * The per-family series budget (TENANTSCOPE_MAX_SERIES, issue 12): fold order (endpoint, then tenant, into
 * `overflow`), counted folds, preserved sums, and the size of a scrape at the default limits.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ROOT_CONTEXT, SpanKind } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { RedMetricsSpanProcessor } from '../../processors/RedMetricsSpanProcessor';
import { TenantSpanProcessor } from '../../processors/TenantSpanProcessor';
import { EndpointNormalizer } from '../../src/core/EndpointNormalizer';
import { CounterFamily, HistogramFamily } from '../../src/core/metrics/MetricFamily';
import { MetricStore } from '../../src/core/metrics/MetricStore';
import { METRIC_HTTP_REQUEST_DURATION, METRIC_HTTP_REQUESTS, METRIC_SPAN_CALLS } from '../../src/core/semconv';
import { TENANT_CONTEXT_KEY, TenantCell } from '../../src/core/tenant/TenantCell';
import { TenantRegistry } from '../../src/core/tenant/TenantRegistry';
import { PrometheusServer } from '../../src/prometheus/PrometheusServer';
import { parseMetrics, sumOf } from '../helpers/fixture';
import { useTenantApi } from '../helpers/tenant';

const labelsOf = (f: CounterFamily | HistogramFamily): string[] => f.series.map((s) => `${s.attributes.endpoint}|${s.attributes.tenant_id}`);

test('past the budget a new label set folds its endpoint into overflow (a tenth more may be used), then its tenant too', () => {
  const folds: string[] = [];
  const f = new CounterFamily(METRIC_HTTP_REQUESTS, { maxSeries: 10, onFold: (s) => folds.push(s.name) });
  for (let i = 0; i < 10; i++) f.get(['GET', `/e${i}`, '200', 't0', 'svc']).value++;
  // Full: /e10 for t1 folds to (overflow, t1), created in the reserve (1 set).
  f.get(['GET', '/e10', '200', 't1', 'svc']).value++;
  // Reserve used: (overflow, t2) does not exist and cannot be made, so the tenant folds too.
  f.get(['GET', '/e11', '200', 't2', 'svc']).value++;
  // Existing folded sets are reused.
  f.get(['GET', '/e12', '200', 't1', 'svc']).value++;
  f.get(['GET', '/e13', '200', 't3', 'svc']).value++;
  // An existing label set is never folded.
  f.get(['GET', '/e0', '200', 't0', 'svc']).value++;
  assert.deepEqual(labelsOf(f).slice(10), ['overflow|t1', 'overflow|overflow']);
  assert.equal(f.series.length, 12);
  assert.deepEqual(
    f.series.map((s) => s.value),
    [2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2]
  );
  assert.equal(folds.length, 4);
});

test('a histogram label set counts as its buckets, +Inf, _sum and _count; families without endpoint fold the tenant', () => {
  // 7 buckets + 3 = 10 series per label set: a budget of 25 holds 2 sets.
  const h = new HistogramFamily(METRIC_HTTP_REQUEST_DURATION, { maxSeries: 25 });
  for (let i = 0; i < 4; i++) h.get(['GET', `/e${i}`, `t${i}`, 'svc']).record(0.2);
  assert.deepEqual(labelsOf(h), ['/e0|t0', '/e1|t1', 'overflow|t2', 'overflow|overflow']);
  assert.equal(h.series.reduce((n, s) => n + s.count, 0), 4);

  const calls = new CounterFamily(METRIC_SPAN_CALLS, { maxSeries: 2 });
  for (let i = 0; i < 5; i++) calls.get(['svc', 'GET /x', 'SPAN_KIND_SERVER', 'STATUS_CODE_UNSET', `t${i}`]).value++;
  assert.deepEqual(
    calls.series.map((s) => [s.attributes['tenant.id'], s.value]),
    [
      ['t0', 1],
      ['t1', 1],
      ['overflow', 3],
    ]
  );
});

/** Server spans for `tenants` × `routes`, `perPair` each, through a real provider into a RED processor. */
function drive(store: MetricStore, tenants: number, routes: number, maxTenants: number, maxEndpoints: number): number {
  const registry = new TenantRegistry({ maxTenants });
  useTenantApi(registry);
  const red = new RedMetricsSpanProcessor({
    store,
    tenants: registry,
    endpoints: new EndpointNormalizer({ maxEndpoints }),
    serviceName: 'chat-service',
    maxSpanNames: 500,
    maxErrorTypes: 100,
  });
  const tracer = new TracerProvider({ spanProcessors: [new TenantSpanProcessor(), red] }).getTracer('t');
  let n = 0;
  for (let t = 0; t < tenants; t++) {
    const ctx = ROOT_CONTEXT.setValue(TENANT_CONTEXT_KEY, new TenantCell(registry, `tenant-${String(t).padStart(4, '0')}`));
    for (let r = 0; r < routes; r++) {
      const route = `/api/v1/resource-${r}/:id`;
      const span = tracer.startSpan(
        `GET ${route}`,
        {
          kind: SpanKind.SERVER,
          startTime: [1000, 0],
          attributes: { 'http.request.method': 'GET', 'http.route': route, 'url.path': route, 'http.response.status_code': 200 },
        },
        ctx
      );
      span.end([1000, 150e6]);
      n++;
    }
  }
  return n;
}

async function exposition(store: MetricStore): Promise<string> {
  const server = new PrometheusServer({ host: '127.0.0.1', port: 0, store });
  new MeterProvider({ readers: [server] });
  let text = '';
  try {
    await server.serialize((chunk) => {
      text += chunk;
    });
  } finally {
    await server.shutdown();
  }
  return text;
}

test('RED through a real provider: sums preserved past the budget, folds counted, families bounded', async () => {
  const store = new MetricStore(resourceFromAttributes({ 'service.name': 'chat-service' }), { maxSeries: 200 });
  const sent = drive(store, 40, 20, 1000, 200);
  const samples = parseMetrics(await exposition(store));
  assert.equal(sumOf(samples, 'http_requests_total'), sent);
  assert.equal(sumOf(samples, 'http_request_duration_seconds_count'), sent);
  assert.equal(sumOf(samples, 'traces_span_metrics_calls_total'), sent);
  assert.equal(sumOf(samples, 'traces_span_metrics_duration_milliseconds_count'), sent);
  const sets = (name: string): number => samples.filter((s) => s.name === name).length;
  // Counter: 200 sets + 20 in the reserve + the fully folded one.
  assert.equal(sets('http_requests_total'), 221);
  // Histogram: 20 sets (10 series each) + 2 in the reserve + the fully folded one.
  assert.equal(sets('http_request_duration_seconds_count'), 23);
  // Spanmetrics has no endpoint label: its tenant folds (20 routes of overflow).
  assert.ok(sets('traces_span_metrics_calls_total') <= 200 + 20, String(sets('traces_span_metrics_calls_total')));
  assert.equal(
    sumOf(samples, 'tenantscope_series_folded_total', { metric: 'http_requests_total' }),
    sent - 200,
    'every label set past the budget is folded once'
  );
  // Per-tenant totals of admitted label sets are still exact where they were not folded.
  assert.equal(sumOf(samples, 'http_requests_total', { tenant_id: 'tenant-0000' }), 20);
});

test('a scrape at the default limits (1,000 tenants × 200 endpoints, 20,000 series per family) stays under 30 MB', async (t) => {
  const store = new MetricStore(resourceFromAttributes({ 'service.name': 'chat-service' }), { maxSeries: 20_000 });
  const sent = drive(store, 1000, 200, 1000, 200);
  const text = await exposition(store);
  const bytes = Buffer.byteLength(text);
  t.diagnostic(`scrape: ${(bytes / 1048576).toFixed(1)} MB`);
  assert.ok(bytes <= 30 * 1024 * 1024, `${(bytes / 1048576).toFixed(1)} MB`);
  const samples = parseMetrics(text);
  assert.equal(sumOf(samples, 'http_requests_total'), sent);
  assert.equal(sumOf(samples, 'traces_span_metrics_calls_total'), sent);
  for (const name of ['http_requests_total', 'http_request_duration_seconds_bucket', 'traces_span_metrics_calls_total', 'traces_span_metrics_duration_milliseconds_bucket']) {
    const n = samples.filter((s) => s.name === name).length;
    assert.ok(n <= 20_000 * 1.1 + 100, `${name}: ${n} series`);
  }
});
