/** PrometheusServer on a loopback port 0, attached to a real MeterProvider, read with fetch. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { parseMetrics } from '../helpers/fixture';
import { MetricStore } from '../../src/core/metrics/MetricStore';
import { PrometheusServer } from '../../src/prometheus/PrometheusServer';
import { METRIC_ERRORS, METRIC_HTTP_REQUEST_DURATION, METRIC_HTTP_REQUESTS, METRIC_SPAN_CALLS } from '../../src/core/semconv';

let server: PrometheusServer;
let provider: MeterProvider;
let port: number;
const HOSTILE = 'a"b\\c\nd}';

before(async () => {
  const resource = resourceFromAttributes({ 'service.name': 'svc' });
  const store = new MetricStore(resource);
  const requests = store.counter(METRIC_HTTP_REQUESTS);
  requests.get(['GET', '/chats/:id', '200', 'acme', 'svc']).value = 7;
  requests.get(['POST', '/chats', '500', 'globex', 'svc']).value = 2;
  store.counter(METRIC_ERRORS).get([HOSTILE, 'svc', 'acme']).value = 1;
  const d = store.histogram(METRIC_HTTP_REQUEST_DURATION).get(['GET', '/chats/:id', 'acme', 'svc']);
  for (const v of [0.05, 0.1, 0.3, 0.3, 2, 20]) d.record(v);
  // Many series, with a zero slice budget, so the serializer yields after every chunk (64K characters).
  const calls = store.counter(METRIC_SPAN_CALLS);
  for (let i = 0; i < 3000; i++) calls.get(['svc', `span ${i}`, 'SPAN_KIND_CLIENT', 'STATUS_CODE_UNSET', `t${i % 50}`]).value = i;
  server = new PrometheusServer({ host: '127.0.0.1', port: 0, store, sliceMillis: 0 });
  provider = new MeterProvider({ resource, readers: [server] });
  provider.getMeter('user').createCounter('app.jobs', { description: 'Jobs run', unit: '{job}' }).add(3, { queue: 'q1' });
  port = (await server.port) as number;
  assert.ok(port > 0);
});

after(async () => {
  await provider.shutdown();
});

async function get(path: string, method = 'GET'): Promise<{ status: number; type: string | null; body: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { method });
  return { status: r.status, type: r.headers.get('content-type'), body: await r.text() };
}

test('/metrics serves the text format with HELP and TYPE lines', async () => {
  const r = await get('/metrics');
  assert.equal(r.status, 200);
  assert.equal(r.type, 'text/plain; version=0.0.4; charset=utf-8');
  assert.ok(r.body.includes('# HELP http_requests_total Total HTTP requests\n# TYPE http_requests_total counter\n'));
  assert.ok(r.body.includes('# HELP http_request_duration_seconds HTTP request duration in seconds\n# TYPE http_request_duration_seconds histogram\n'));
  assert.ok(r.body.includes('# TYPE traces_span_metrics_calls_total counter\n'));
  assert.ok(r.body.includes('# TYPE app_jobs_total counter\n'));
  assert.ok(r.body.includes('# TYPE target_info gauge\n'));
  // Each family's header appears once.
  assert.equal(r.body.split('# TYPE http_requests_total ').length, 2);
});

test('counter samples parse with exact labels and values', async () => {
  const samples = parseMetrics((await get('/metrics')).body);
  const req = samples.filter((s) => s.name === 'http_requests_total');
  assert.deepEqual(req, [
    { name: 'http_requests_total', labels: { method: 'GET', endpoint: '/chats/:id', status: '200', tenant_id: 'acme', service: 'svc' }, value: 7 },
    { name: 'http_requests_total', labels: { method: 'POST', endpoint: '/chats', status: '500', tenant_id: 'globex', service: 'svc' }, value: 2 },
  ]);
  assert.deepEqual(samples.filter((s) => s.name === 'app_jobs_total'), [{ name: 'app_jobs_total', labels: { queue: 'q1' }, value: 3 }]);
  assert.equal(samples.find((s) => s.name === 'target_info')?.labels.service_name, 'svc');
});

test('histogram buckets are cumulative and +Inf equals the count', async () => {
  const samples = parseMetrics((await get('/metrics')).body);
  const buckets = samples.filter((s) => s.name === 'http_request_duration_seconds_bucket').map((s) => [s.labels.le, s.value]);
  assert.deepEqual(buckets, [
    ['0.1', 2],
    ['0.25', 2],
    ['0.5', 4],
    ['1', 4],
    ['2.5', 5],
    ['5', 5],
    ['10', 5],
    ['+Inf', 6],
  ]);
  assert.equal(samples.find((s) => s.name === 'http_request_duration_seconds_count')?.value, 6);
  assert.equal(samples.find((s) => s.name === 'http_request_duration_seconds_sum')?.value, 0.05 + 0.1 + 0.3 + 0.3 + 2 + 20);
});

test('quotes, backslashes and newlines in label values are escaped and round-trip', async () => {
  const body = (await get('/metrics')).body;
  assert.ok(body.includes('errors_total{error_type="a\\"b\\\\c\\nd}",service="svc",tenant_id="acme"} 1\n'), body.slice(0, 2000));
  const e = parseMetrics(body).find((s) => s.name === 'errors_total');
  assert.equal(e?.labels.error_type, HOSTILE);
});

test('thousands of series served in slices arrive complete and in order', async () => {
  const samples = parseMetrics((await get('/metrics')).body);
  const calls = samples.filter((s) => s.name === 'traces_span_metrics_calls_total');
  assert.equal(calls.length, 3000);
  for (let i = 0; i < 3000; i++) {
    assert.equal(calls[i].labels.span_name, `span ${i}`);
    assert.equal(calls[i].value, i);
  }
});

test('other paths and methods get 404', async () => {
  assert.equal((await get('/')).status, 404);
  assert.equal((await get('/metrics/extra')).status, 404);
  assert.equal((await get('/metrics', 'POST')).status, 404);
  assert.equal((await get('/metrics?x=1')).status, 200);
});
