/**
 * Exemplars, part by part: the RED processor under the local-trace processor (a real TracerProvider whose sampler
 * samples or only records each span, as tenantscope's always-record sampler does), the store's OTLP data points,
 * the OpenMetrics exposition and its negotiation, and the OTLP serializers (a real upstream OTLP metric exporter
 * of each protocol, wrapped, sending to the loopback receiver that decodes protobuf with protobufjs).
 * The end-to-end view with a real Prometheus is test/e2e/exemplars.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace as traceApi, type Context } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { SamplingDecision, TracerProvider, type ReadableSpan, type Sampler, type SpanExporter } from '@opentelemetry/sdk-trace';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPMetricExporter as JsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { LocalTraceSpanProcessor } from '../../processors/LocalTraceSpanProcessor';
import { RedMetricsSpanProcessor } from '../../processors/RedMetricsSpanProcessor';
import { TenantSpanProcessor } from '../../processors/TenantSpanProcessor';
import { EndpointNormalizer } from '../../src/core/EndpointNormalizer';
import type { HistogramPointWithExemplars } from '../../src/core/metrics/MetricStore';
import { MetricStore } from '../../src/core/metrics/MetricStore';
import { TENANT_CONTEXT_KEY, TenantCell } from '../../src/core/tenant/TenantCell';
import { TenantRegistry } from '../../src/core/tenant/TenantRegistry';
import { installExemplarSerializer } from '../../src/export/ExemplarSerializer';
import { negotiate, PrometheusServer } from '../../src/prometheus/PrometheusServer';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedDataPoint } from '../helpers/otlpReceiver';

/** Samples a span unless its name starts with `unsampled` (then: recorded only, as the SDK's always-record sampler). */
const sampler: Sampler = {
  shouldSample: (_ctx, _trace, name) => ({ decision: name.startsWith('unsampled') ? SamplingDecision.RECORD : SamplingDecision.RECORD_AND_SAMPLED }),
  toString: () => 'test',
};

function pipeline(options: { exemplars: boolean; exportEnabled?: boolean }) {
  const tenants = new TenantRegistry({ maxTenants: 100 });
  const store = new MetricStore(resourceFromAttributes({ 'service.name': 'svc' }));
  const red = new RedMetricsSpanProcessor({
    store,
    tenants,
    endpoints: new EndpointNormalizer({ maxEndpoints: 100 }),
    serviceName: 'svc',
    maxSpanNames: 100,
    maxErrorTypes: 100,
    exemplars: options.exemplars,
  });
  const exported: ReadableSpan[] = [];
  const exporter: SpanExporter = {
    export: (spans, done) => {
      exported.push(...spans);
      done({ code: ExportResultCode.SUCCESS });
    },
    shutdown: () => Promise.resolve(),
  };
  const local = new LocalTraceSpanProcessor({
    metricProcessors: [red],
    exportProcessors: [{ onStart: () => undefined, onEnd: (s: ReadableSpan) => void exporter.export([s], () => undefined), forceFlush: () => Promise.resolve(), shutdown: () => Promise.resolve() }],
    exportEnabled: options.exportEnabled ?? true,
    keep: { errors: true, slowServerMs: 0, modelCostUsd: 0 },
    bounds: { maxSpansPerTrace: 100, maxBufferedSpans: 1000, maxAgeMs: 60_000 },
    store,
  });
  const provider = new TracerProvider({ sampler, spanProcessors: [new TenantSpanProcessor(), local] });
  const tracer = provider.getTracer('test');
  const request = (tenant: string): Context => ROOT_CONTEXT.setValue(TENANT_CONTEXT_KEY, new TenantCell(tenants, tenant));
  /** One request at second `at`: a server span of `ms` (status `status`) with a child client span of half that. */
  const serve = (name: string, tenant: string, ms: number, status = 200, at = 1000): { trace: string; server: string; client: string } => {
    const ctx = request(tenant);
    const server = tracer.startSpan(
      name,
      { kind: SpanKind.SERVER, startTime: [at, 0], attributes: { 'http.request.method': 'GET', 'http.route': '/chats/:id', 'http.response.status_code': status } },
      ctx
    );
    // Named after its parent, so the sampler decides the same for both (a trace is sampled whole).
    const client = tracer.startSpan(`${name} SELECT`, { kind: SpanKind.CLIENT, startTime: [at, 0] }, traceApi.setSpan(ctx, server));
    client.end([at, (ms / 2) * 1e6]);
    if (status >= 500) server.setStatus({ code: SpanStatusCode.ERROR });
    server.end([at, ms * 1e6]);
    return { trace: server.spanContext().traceId, server: server.spanContext().spanId, client: client.spanContext().spanId };
  };
  return { store, serve, exported, local };
}

/** The exemplars of one metric, as `labels|bucket → trace/span value`. */
async function exemplars(store: MetricStore, name: string): Promise<string[]> {
  const { resourceMetrics } = await store.collect();
  const out: string[] = [];
  for (const m of resourceMetrics.scopeMetrics[0].metrics) {
    if (m.descriptor.name !== name) continue;
    for (const p of m.dataPoints as HistogramPointWithExemplars[]) {
      for (const e of p.exemplars) out.push(`${p.attributes.tenant_id ?? p.attributes['tenant.id']} ${String(p.attributes['span.kind'] ?? '')} ${e.traceId}/${e.spanId} ${e.value}`.replace('  ', ' '));
    }
  }
  return out.sort();
}

describe('the RED processor keeps exported spans as exemplars, one per series and bucket', () => {
  test('a sampled request is the exemplar of its bucket; a later unsampled one in the same bucket does not replace it', async () => {
    const p = pipeline({ exemplars: true });
    const a = p.serve('GET /chats/:id', 'acme', 30);
    p.serve('unsampled GET /chats/:id', 'acme', 40); // not exported: same request series, same 0.1 s bucket
    assert.deepEqual(await exemplars(p.store, 'http_request_duration_seconds'), [`acme ${a.trace}/${a.server} 0.03`]);
  });

  test('a later exported span in the same bucket replaces the exemplar once its second is over; another bucket keeps its own', async () => {
    const p = pipeline({ exemplars: true });
    p.serve('GET /chats/:id', 'acme', 30, 200, 1000);
    const b = p.serve('GET /chats/:id', 'acme', 60, 200, 1002);
    const c = p.serve('GET /chats/:id', 'acme', 300, 200, 1002);
    assert.deepEqual(await exemplars(p.store, 'http_request_duration_seconds'), [`acme ${b.trace}/${b.server} 0.06`, `acme ${c.trace}/${c.server} 0.3`].sort());
  });

  test('within one second a series takes one exemplar, then only spans slower than every one it took', async () => {
    const p = pipeline({ exemplars: true });
    const a = p.serve('GET /chats/:id', 'acme', 300); // bucket le=0.5: taken
    p.serve('GET /chats/:id', 'acme', 30); // le=0.1, faster, same second: passed over
    p.serve('GET /chats/:id', 'acme', 400); // le=0.5 again: passed over (not slower than a)
    const d = p.serve('GET /chats/:id', 'acme', 700); // le=1, slower: taken
    assert.deepEqual(await exemplars(p.store, 'http_request_duration_seconds'), [`acme ${a.trace}/${a.server} 0.3`, `acme ${d.trace}/${d.server} 0.7`].sort());
  });

  test('an unsampled trace kept by a rule (error) is exported, so its spans are exemplars; marked before the metrics saw them', async () => {
    const p = pipeline({ exemplars: true });
    const d = p.serve('unsampled GET /chats/:id', 'acme', 30, 503);
    assert.deepEqual(await exemplars(p.store, 'http_request_duration_seconds'), [`acme ${d.trace}/${d.server} 0.03`]);
    // Span metrics: the server span (30 ms) and its client span (15 ms), both of the kept trace.
    assert.deepEqual(await exemplars(p.store, 'traces.span.metrics.duration'), [`acme SPAN_KIND_CLIENT ${d.trace}/${d.client} 15`, `acme SPAN_KIND_SERVER ${d.trace}/${d.server} 30`].sort());
    assert.deepEqual(p.exported.map((s) => s.attributes['tenantscope.kept_by']), ['error', 'error']);
  });

  test('no exemplars when disabled; with export off the keep rule marks nothing, so a kept-looking trace is none', async () => {
    const off = pipeline({ exemplars: false });
    off.serve('GET /chats/:id', 'acme', 30);
    assert.deepEqual(await exemplars(off.store, 'http_request_duration_seconds'), []);
    // Export off: the rule marks nothing as kept either.
    const noExport = pipeline({ exemplars: true, exportEnabled: false });
    noExport.serve('unsampled GET /chats/:id', 'acme', 30, 503);
    assert.deepEqual(await exemplars(noExport.store, 'traces.span.metrics.duration'), []);
  });
});

describe('OpenMetrics exposition', () => {
  test('negotiation: OpenMetrics only when asked for at least as much as text', () => {
    assert.equal(negotiate(undefined), 'text');
    assert.equal(negotiate('*/*'), 'text');
    assert.equal(negotiate('text/plain;version=0.0.4'), 'text');
    // Prometheus 2.x's scrape header.
    assert.equal(negotiate('application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'), 'openmetrics');
    assert.equal(negotiate('application/openmetrics-text'), 'openmetrics');
    assert.equal(negotiate('application/openmetrics-text;version=2.0.0'), 'text');
    assert.equal(negotiate('application/openmetrics-text;q=0.2,text/plain;q=0.9'), 'text');
    assert.equal(negotiate('application/openmetrics-text;q=0'), 'text');
  });

  let server: PrometheusServer;
  let provider: MeterProvider;
  let trace = '';
  let span = '';
  before(async () => {
    const p = pipeline({ exemplars: true });
    ({ trace, server: span } = p.serve('GET /chats/:id', 'acme', 300));
    server = new PrometheusServer({ host: '127.0.0.1', port: 0, store: p.store, minIntervalMillis: 0, cacheMillis: 0 });
    provider = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': 'svc' }), readers: [server] });
    provider.getMeter('user').createCounter('app.jobs', { description: 'Jobs "run"' }).add(3);
  });
  after(async () => {
    await provider.shutdown();
  });

  test('counters are named without _total in TYPE lines, the exemplar follows its bucket, and # EOF ends it', async () => {
    const port = (await server.port) as number;
    const r = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { accept: 'application/openmetrics-text;version=1.0.0' } });
    assert.equal(r.headers.get('content-type'), 'application/openmetrics-text; version=1.0.0; charset=utf-8');
    const body = await r.text();
    assert.match(body, /^# TYPE http_requests counter\nhttp_requests_total\{method="GET",endpoint="\/chats\/:id",status="200",tenant_id="acme",service="svc"\} 1$/m);
    assert.match(body, /^# HELP app_jobs Jobs \\"run\\"\n# TYPE app_jobs counter\napp_jobs_total 3$/m);
    assert.match(body, /^# TYPE target info\ntarget_info\{/m);
    // 1000.3 s after the epoch: the span's end.
    const bucket = `http_request_duration_seconds_bucket{method="GET",endpoint="/chats/:id",tenant_id="acme",service="svc",le="0.5"} 1 # {trace_id="${trace}",span_id="${span}"} 0.3 1000.300`;
    assert.ok(body.includes(`${bucket}\n`), body.split('\n').filter((l) => l.startsWith('http_request_duration_seconds_bucket')).join('\n'));
    // Only the bucket the request fell in carries it; the cumulative +Inf bucket does not repeat it.
    assert.equal(body.split('# {trace_id=').length - 1, 3 /* the request, its server span and its client span */);
    assert.ok(body.endsWith('# EOF\n'));
    // The text format, asked for nothing, is unchanged: no exemplar, no EOF, counters named with _total.
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.doesNotMatch(text, /trace_id|# EOF/);
    assert.match(text, /^# TYPE http_requests_total counter$/m);
  });
});

describe('OTLP: the wrapped upstream serializers carry the exemplars', () => {
  let receiver: OtlpReceiver;
  before(async () => {
    receiver = await startOtlpReceiver();
  });
  after(async () => {
    await receiver.close();
  });

  for (const protocol of ['http/protobuf', 'http/json'] as const) {
    test(`${protocol}: exemplars on their data points, ids in hex, the other metrics as upstream writes them`, async () => {
      receiver.clear();
      const p = pipeline({ exemplars: true });
      const a = p.serve('GET /chats/:id', 'acme', 30);
      p.serve('unsampled GET /chats/:id', 'globex', 40);
      const { resourceMetrics } = await p.store.collect();
      const url = `${receiver.endpoint}/v1/metrics`;
      const exporter = protocol === 'http/json' ? new JsonMetricExporter({ url }) : new ProtoMetricExporter({ url });
      assert.equal(installExemplarSerializer(exporter, protocol), true);
      const result = await new Promise<{ code: number }>((resolve) => exporter.export(resourceMetrics as ResourceMetrics, resolve));
      assert.equal(result.code, ExportResultCode.SUCCESS);
      await exporter.shutdown();
      assert.deepEqual(receiver.errors, []);
      const dur = receiver.metrics.find((m) => m.name === 'http_request_duration_seconds')!;
      const byTenant: Record<string, ReceivedDataPoint> = Object.fromEntries(dur.dataPoints.map((d) => [d.attributes.tenant_id as string, d]));
      assert.deepEqual(byTenant.acme.exemplars?.map((e) => [e.traceId, e.spanId, e.value, Math.round(e.timeUnixNano / 1e6)]), [[a.trace, a.server, 0.03, 1000030]]);
      assert.deepEqual(byTenant.globex.exemplars ?? [], []);
      assert.deepEqual(byTenant.acme.bucketCounts, [1, 0, 0, 0, 0, 0, 0, 0]);
      assert.equal(dur.resource['service.name'], 'svc');
      // Everything else arrived once, exactly as without exemplars.
      const names = receiver.metrics.map((m) => m.name).sort();
      assert.deepEqual(names, [...new Set(names)]);
      assert.deepEqual(
        Object.fromEntries(receiver.metrics.find((m) => m.name === 'http_requests')!.dataPoints.map((d) => [d.attributes.tenant_id, d.value])),
        { acme: 1, globex: 1 }
      );
    });
  }
});
