import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { SpanDerivedMetricsFilter } from '../../src/core/metrics/SpanDerivedMetricsFilter';
import { UPSTREAM_SPAN_DERIVED_HISTOGRAMS } from '../../src/core/semconv';

async function exportedNames(record: (p: MeterProvider | SpanDerivedMetricsFilter) => void, filtered: boolean): Promise<string[]> {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
  const provider = new MeterProvider({ readers: [reader] });
  record(filtered ? new SpanDerivedMetricsFilter(provider) : provider);
  await reader.forceFlush();
  const names = exporter
    .getMetrics()
    .flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics.map((m) => `${m.descriptor.name}=${m.dataPoints.length}`)))
    .sort();
  await provider.shutdown();
  return names;
}

/** What instrumentation-http, -undici and -pg do with their meter, in the names they use. */
function recordAsUpstream(p: MeterProvider | SpanDerivedMetricsFilter): void {
  const http = p.getMeter('@opentelemetry/instrumentation-http', '0.301.0');
  http.createHistogram('http.server.request.duration', { unit: 's' }).record(0.012, { 'http.request.method': 'GET', 'http.response.status_code': 200 });
  http.createHistogram('http.client.request.duration', { unit: 's' }).record(0.02, { 'http.request.method': 'POST' });
  const pg = p.getMeter('@opentelemetry/instrumentation-pg', '0.77.0');
  pg.createHistogram('db.client.operation.duration', { unit: 's' }).record(0.003, { 'db.system.name': 'postgresql' });
  pg.createUpDownCounter('db.client.connection.count').add(2, { 'db.client.connection.state': 'idle' });
  pg.createUpDownCounter('db.client.connection.max').add(8);
  // A histogram nobody derives from spans still records.
  pg.createHistogram('db.client.connection.wait_time', { unit: 's' }).record(0.001);
}

test('the histograms our span processors derive get a no-op instrument; every other instrument records', async () => {
  assert.deepEqual(await exportedNames(recordAsUpstream, true), ['db.client.connection.count=1', 'db.client.connection.max=1', 'db.client.connection.wait_time=1']);
});

test('unfiltered (TENANTSCOPE_UPSTREAM_METRICS=true), the same calls record all six', async () => {
  assert.deepEqual(await exportedNames(recordAsUpstream, false), [
    'db.client.connection.count=1',
    'db.client.connection.max=1',
    'db.client.connection.wait_time=1',
    'db.client.operation.duration=1',
    'http.client.request.duration=1',
    'http.server.request.duration=1',
  ]);
});

test('the dropped names are the upstream duration histograms, stable and pre-stable', () => {
  assert.deepEqual([...UPSTREAM_SPAN_DERIVED_HISTOGRAMS].sort(), [
    'db.client.operation.duration',
    'http.client.duration',
    'http.client.request.duration',
    'http.server.duration',
    'http.server.request.duration',
  ]);
});

test('observable instruments and batch callbacks pass through', async () => {
  const names = await exportedNames((p) => {
    const m = p.getMeter('x');
    const g = m.createObservableGauge('db.client.connection.idle.max');
    m.addBatchObservableCallback((r) => r.observe(g, 4), [g]);
    m.createObservableCounter('c').addCallback((r) => r.observe(1));
  }, true);
  assert.deepEqual(names, ['c=1', 'db.client.connection.idle.max=1']);
});
