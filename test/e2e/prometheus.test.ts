/**
 * A real Prometheus server scrapes an express app running under `--require register.js` and the test asks it,
 * in PromQL over its HTTP API, for what an SRE's dashboards and Jaeger's Monitor tab would ask.
 * Everything here is real: the app, the preload, Prometheus (Debian package `prometheus`) and promtool.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseMetrics, scrape, startFixture, sumOf, type RunningFixture } from '../helpers/fixture';
import { PROMETHEUS_BIN, prometheusAvailable, promtoolCheckMetrics, startPrometheus, type RunningPrometheus } from '../helpers/prometheus';
import { freePort } from '../helpers/services';

const SERVICE = 'red-app';
const ROUNDS = 3;

/** What one round sends: tenant header value (undefined = no header) → [path, count][]. */
const ROUND: [string | undefined, [string, number][]][] = [
  ['a', [['/v1/chats/1', 20], ['/v1/fail', 1], ['/v1/boom', 1], ['/nope', 1]]],
  ['b', [['/v1/chats/2', 10], ['/missing/page', 2]]],
  ['c', [['/v1/chats/3', 4], ['/v1/fail', 2], ['/v1/boom', 2]]],
  [undefined, [['/v1/chats/4', 1]]],
  ['bad tenant!', [['/v1/chats/5', 1]]], // fails validation → invalid
  ['overflow', [['/v1/chats/6', 1]]], // spelled like a reserved value → invalid
];

// Totals over all rounds, written out (not computed from ROUND) so a mistake in either shows up.
const REQUESTS = { a: 69, b: 36, c: 24, unknown: 3, invalid: 6 }; // a: 60 OK + 6 5xx + 3 404; b: 30 OK + 6 404
const ERRORS = { a: 6, c: 12 }; // 404s are not errors
const ALL_REQUESTS = 69 + 36 + 24 + 3 + 6;
const ALL_ERRORS = 18;

async function send(port: number, tenant: string | undefined, path: string): Promise<number> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { headers: tenant === undefined ? {} : { 'x-tenant-id': tenant } });
  await r.arrayBuffer();
  return r.status;
}

/** Sends one round, at most 8 requests in flight; returns the status codes seen per path. */
async function sendRound(port: number): Promise<Map<string, number[]>> {
  const jobs: [string | undefined, string][] = [];
  for (const [tenant, paths] of ROUND) for (const [path, n] of paths) for (let i = 0; i < n; i++) jobs.push([tenant, path]);
  const seen = new Map<string, number[]>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const [tenant, path] = jobs[next++];
      const status = await send(port, tenant, path);
      const list = seen.get(path) ?? [];
      list.push(status);
      seen.set(path, list);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return seen;
}

describe('real Prometheus scraping an app under the preload', { timeout: 120_000 }, () => {
  let app: RunningFixture;
  let prom: RunningPrometheus;
  let metricsPort: number;

  before(async () => {
    assert.ok(prometheusAvailable(), `${PROMETHEUS_BIN} is missing: apt-get install prometheus (.ci/run does)`);
    metricsPort = await freePort();
    app = await startFixture('red-app.js', {
      env: {
        OTEL_SERVICE_NAME: SERVICE,
        OTEL_TRACES_EXPORTER: 'none',
        OTEL_METRICS_EXPORTER: 'prometheus',
        OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
        OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
      },
    });
    prom = await startPrometheus({ targets: [`127.0.0.1:${metricsPort}`], job: 'red-app' });
    await prom.waitForScrapes(1);

    // Rounds separated by scrapes, so every tenant's counter is seen rising (rate() needs two samples).
    for (let round = 0; round < ROUNDS; round++) {
      const seen = await sendRound(app.port);
      assert.deepEqual(seen.get('/v1/fail')?.every((s) => s === 503), true);
      assert.deepEqual(seen.get('/v1/boom')?.every((s) => s === 500), true);
      assert.deepEqual(seen.get('/nope'), [404]);
      await prom.waitForNewScrapes(2);
    }
  });

  after(async () => {
    await prom?.stop();
    await app?.stop();
  });

  test('upstream duration histograms are off by default; the span metrics carry the same requests', async () => {
    const text = await scrape(metricsPort);
    assert.equal(text.includes('http_server_request_duration_seconds'), false);
    assert.equal(text.includes('http_client_request_duration_seconds'), false);
    const samples = parseMetrics(text);
    // The fixture called out once with fetch and once with http.get: two CLIENT spans, counted by our family.
    assert.equal(sumOf(samples, 'traces_span_metrics_calls_total', { span_kind: 'SPAN_KIND_CLIENT' }), 2);
    assert.equal(sumOf(samples, 'traces_span_metrics_calls_total', { span_kind: 'SPAN_KIND_SERVER' }), ALL_REQUESTS);
  });

  test('the target is up', async () => {
    assert.deepEqual(await prom.queryBy('up', 'job'), { 'red-app': 1 });
  });

  test('sum by tenant of http_requests_total equals what was sent', async () => {
    assert.deepEqual(await prom.queryBy('sum by (tenant_id) (http_requests_total)', 'tenant_id'), REQUESTS);
  });

  test('the per-tenant 5xx ratio equals the sent ratio; tenants without 5xx have no ratio series', async () => {
    const ratio = await prom.queryBy(
      'sum by (tenant_id) (http_requests_total{status=~"5.."}) / sum by (tenant_id) (http_requests_total)',
      'tenant_id'
    );
    assert.deepEqual(ratio, { a: 6 / 69, c: 12 / 24 });
  });

  test('errors_total counts 5xx per tenant and error type, not 404s', async () => {
    assert.deepEqual(await prom.queryBy('sum by (tenant_id) (errors_total)', 'tenant_id'), ERRORS);
    const byType = await prom.query('sum by (tenant_id, error_type) (errors_total)');
    const flat = Object.fromEntries(byType.map((s) => [`${s.metric.tenant_id}/${s.metric.error_type}`, s.value]));
    // A thrown error counts under its class name (the exception express recorded in the request's local trace);
    // a 5xx answered without one under its status code (the http instrumentation's error.type).
    assert.deepEqual(flat, { 'a/TypeError': 3, 'a/503': 3, 'c/TypeError': 6, 'c/503': 6 });
  });

  test('endpoint is the route template; 404s without a route fold into "unmatched"', async () => {
    assert.deepEqual(await prom.queryBy('sum by (endpoint) (http_requests_total{tenant_id="a"})', 'endpoint'), {
      '/v1/chats/:chatId': 60,
      '/v1/fail': 3,
      '/v1/boom': 3,
      unmatched: 3,
    });
    assert.deepEqual(await prom.queryBy('sum by (status) (http_requests_total{tenant_id="b"})', 'status'), { '200': 30, '404': 6 });
  });

  test('scrapes of /metrics are not counted as app traffic', async () => {
    assert.deepEqual(await prom.query('http_requests_total{endpoint="/metrics"}'), []);
  });

  test('the duration histogram counts the same requests per tenant', async () => {
    assert.deepEqual(await prom.queryBy('sum by (tenant_id) (http_request_duration_seconds_count)', 'tenant_id'), REQUESTS);
    assert.deepEqual(
      await prom.queryBy('sum by (tenant_id) (http_request_duration_seconds_bucket{le="+Inf"})', 'tenant_id'),
      REQUESTS
    );
  });

  test('rate() over the run is positive for every tenant', async () => {
    const rates = await prom.queryBy('sum by (tenant_id) (rate(http_requests_total[5m]))', 'tenant_id');
    assert.deepEqual(Object.keys(rates).sort(), ['a', 'b', 'c', 'invalid', 'unknown']);
    for (const t of ['a', 'b', 'c']) assert.ok(rates[t] > 0, `rate for tenant ${t} is ${rates[t]}`);
  });

  test('Jaeger Monitor: calls per service (instant count exact, rate positive)', async () => {
    const sel = `service_name=~"${SERVICE}",span_kind=~"SPAN_KIND_SERVER"`;
    assert.equal(await prom.queryOne(`sum(traces_span_metrics_calls_total{${sel}}) by (service_name)`), ALL_REQUESTS);
    const rate = await prom.queryOne(`sum(rate(traces_span_metrics_calls_total{${sel}}[5m])) by (service_name)`);
    assert.ok(rate > 0, `calls rate ${rate}`);
    const ops = await prom.queryBy(`sum(rate(traces_span_metrics_calls_total{${sel}}[5m])) by (service_name, span_name)`, 'span_name');
    assert.deepEqual(Object.keys(ops).sort(), ['GET', 'GET /v1/boom', 'GET /v1/chats/:chatId', 'GET /v1/fail']);
  });

  test('Jaeger Monitor: error ratio with status_code="STATUS_CODE_ERROR"', async () => {
    const err = `service_name=~"${SERVICE}",status_code="STATUS_CODE_ERROR",span_kind=~"SPAN_KIND_SERVER"`;
    const all = `service_name=~"${SERVICE}",span_kind=~"SPAN_KIND_SERVER"`;
    assert.equal(
      await prom.queryOne(`sum(traces_span_metrics_calls_total{${err}}) by (service_name) / sum(traces_span_metrics_calls_total{${all}}) by (service_name)`),
      ALL_ERRORS / ALL_REQUESTS
    );
    const ratio = await prom.queryOne(
      `sum(rate(traces_span_metrics_calls_total{${err}}[5m])) by (service_name) / sum(rate(traces_span_metrics_calls_total{${all}}[5m])) by (service_name)`
    );
    assert.ok(ratio > 0 && ratio < 1, `error rate ratio ${ratio}`);
  });

  test('Jaeger Monitor: p95 latency from the span duration histogram', async () => {
    const sel = `service_name="${SERVICE}",span_kind="SPAN_KIND_SERVER"`;
    const p95 = await prom.queryOne(
      `histogram_quantile(0.95, sum(rate(traces_span_metrics_duration_milliseconds_bucket{${sel}}[5m])) by (service_name, le))`
    );
    // Local requests answer in milliseconds; the quantile interpolates inside the connector's ms buckets.
    assert.ok(Number.isFinite(p95) && p95 > 0 && p95 <= 15000, `p95 ${p95} ms`);
    const perOp = await prom.queryBy(
      `histogram_quantile(0.95, sum(rate(traces_span_metrics_duration_milliseconds_bucket{${sel}}[5m])) by (service_name, span_name, le))`,
      'span_name'
    );
    assert.ok(Number.isFinite(perOp['GET /v1/chats/:chatId']) && perOp['GET /v1/chats/:chatId'] > 0);
    // Exact: the bucket series count every server span.
    assert.equal(
      await prom.queryOne(`sum(traces_span_metrics_duration_milliseconds_bucket{${sel},le="+Inf"}) by (service_name)`),
      ALL_REQUESTS
    );
  });

  test('promtool check metrics parses a real scrape; its one lint finding is the unit Jaeger requires', async () => {
    const text = await scrape(metricsPort);
    const r = promtoolCheckMetrics(text);
    // Exit 1 means the exposition did not parse; 3 means lint findings only (listed below), 0 clean.
    assert.notEqual(r.status, 1, r.problems.join('\n'));
    // The Collector's spanmetrics connector names its histogram in milliseconds and Jaeger's Monitor tab queries
    // that exact name, so we keep it; promtool's base-unit lint is the price. Anything else is a regression.
    assert.deepEqual(r.problems, ['traces_span_metrics_duration_milliseconds use base unit "seconds" instead of "milliseconds"']);
    assert.equal(r.status, 3);
  });
});

describe('TENANTSCOPE_UPSTREAM_METRICS=true', { timeout: 60_000 }, () => {
  let app: RunningFixture;
  let metricsPort: number;

  before(async () => {
    metricsPort = await freePort();
    app = await startFixture('red-app.js', {
      env: {
        OTEL_SERVICE_NAME: SERVICE,
        OTEL_TRACES_EXPORTER: 'none',
        OTEL_METRICS_EXPORTER: 'prometheus',
        OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
        OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
        TENANTSCOPE_UPSTREAM_METRICS: 'true',
      },
    });
    for (let i = 0; i < 5; i++) assert.equal(await send(app.port, 'a', '/v1/chats/1'), 200);
  });

  after(async () => {
    await app?.stop();
  });

  test('brings back the upstream instrumentations\' own duration histograms beside ours', async () => {
    const text = await scrape(metricsPort);
    const samples = parseMetrics(text);
    // The fixture called out with fetch and http.get: two instrumentation scopes record this one family.
    assert.equal(text.split('\n').filter((l) => l === '# TYPE http_client_request_duration_seconds histogram').length, 1);
    assert.equal(sumOf(samples, 'http_client_request_duration_seconds_count'), 2);
    assert.equal(sumOf(samples, 'http_server_request_duration_seconds_count'), 5);
    assert.equal(sumOf(samples, 'http_requests_total', { tenant_id: 'a' }), 5);
  });
});
