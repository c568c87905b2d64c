import assert from 'node:assert/strict';
import { diag, DiagLogLevel } from '@opentelemetry/api';
import { test } from 'node:test';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { SpanDerivedMetricsFilter, SummingUpDownCounter } from '../../src/core/metrics/SpanDerivedMetricsFilter';
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

/** Every data point of every collection, as `name{k=v,…}=value`, sorted within each collection. */
async function collections(record: (p: MeterProvider | SpanDerivedMetricsFilter, step: number) => void, filtered: boolean, steps: number): Promise<string[][]> {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
  const provider = new MeterProvider({ readers: [reader] });
  const p = filtered ? new SpanDerivedMetricsFilter(provider) : provider;
  const out: string[][] = [];
  for (let step = 0; step < steps; step++) {
    record(p, step);
    exporter.reset();
    await reader.forceFlush();
    out.push(
      exporter
        .getMetrics()
        .flatMap((rm) =>
          rm.scopeMetrics.flatMap((sm) =>
            sm.metrics.flatMap((m) =>
              m.dataPoints.map((d) => {
                const attrs = Object.keys(d.attributes)
                  .sort()
                  .map((k) => `${k}=${String(d.attributes[k])}`)
                  .join(',');
                return `${m.descriptor.name}|${m.descriptor.unit}|${m.descriptor.description}|${m.dataPointType}|${'isMonotonic' in m ? String(m.isMonotonic) : ''}{${attrs}}=${String(d.value)}`;
              })
            )
          )
        )
        .sort()
    );
  }
  await provider.shutdown();
  return out;
}

/** instrumentation-pg's pool counters at checkouts and releases (its `updateCounter`), over three collections. */
function poolTraffic(p: MeterProvider | SpanDerivedMetricsFilter, step: number): void {
  const m = p.getMeter('@opentelemetry/instrumentation-pg', '0.77.0');
  const count = m.createUpDownCounter('db.client.connection.count', { unit: '{connection}', description: 'The number of connections' });
  const pending = m.createUpDownCounter('db.client.connection.pending_requests', { unit: '{request}' });
  for (let i = 0; i < 50 + step; i++) {
    const pool = `127.0.0.1:5432/db${i % 3}`;
    count.add(1, { 'db.client.connection.state': 'used', 'db.client.connection.pool.name': pool });
    count.add(-1, { 'db.client.connection.state': 'idle', 'db.client.connection.pool.name': pool });
    pending.add(i % 2 === 0 ? 1 : -1, { 'db.client.connection.pool.name': pool });
    // The same set written in another key order is the same series.
    if (i % 7 === 0) count.add(-1, { 'db.client.connection.pool.name': pool, 'db.client.connection.state': 'used' });
  }
  count.add(Number.NaN, { 'db.client.connection.state': 'used', 'db.client.connection.pool.name': 'x' });
  count.add(2.5);
  pending.add(step === 1 ? 3 : 0, { 'db.client.connection.pool.name': 'late' });
}

test('up-down counters are summed without sdk-metrics and export exactly what its synchronous instrument exports', async () => {
  const filter = new SpanDerivedMetricsFilter(new MeterProvider());
  const counter = filter.getMeter('@opentelemetry/instrumentation-pg').createUpDownCounter('db.client.connection.count');
  assert.ok(counter instanceof SummingUpDownCounter);
  assert.equal(filter.getMeter('@opentelemetry/instrumentation-pg').createUpDownCounter('DB.client.connection.count'), counter);
  const real = await collections(poolTraffic, false, 3);
  const summed = await collections(poolTraffic, true, 3);
  assert.deepEqual(summed, real);
  // Pinned, so the comparison cannot pass on two empty exports.
  // Pinned, so the comparison cannot pass on two empty exports: db0 is checked out 17 + 17 + 18 times (i % 3 === 0
  // over 50, 51, 52 iterations) and given back in the other key order 3 times a step (i % 21 === 0).
  assert.equal(real[2].length, 12);
  assert.ok(real[2].includes('db.client.connection.count|{connection}|The number of connections|3|false{db.client.connection.pool.name=127.0.0.1:5432/db0,db.client.connection.state=used}=43'));
  assert.ok(real[2].includes('db.client.connection.count|{connection}|The number of connections|3|false{db.client.connection.pool.name=127.0.0.1:5432/db0,db.client.connection.state=idle}=-52'));
  assert.ok(real[2].includes('db.client.connection.count|{connection}|The number of connections|3|false{db.client.connection.pool.name=x,db.client.connection.state=used}=NaN'));
  assert.ok(real[2].includes('db.client.connection.count|{connection}|The number of connections|3|false{}=7.5'));
  assert.ok(real[2].includes('db.client.connection.pending_requests|{request}||3|false{db.client.connection.pool.name=late}=3'));
});

test('a summed up-down counter folds attribute sets past the cardinality limit as sdk-metrics does', async () => {
  const many = (p: MeterProvider | SpanDerivedMetricsFilter): void => {
    const c = p.getMeter('pg').createUpDownCounter('db.client.connection.count');
    for (let i = 0; i < 2010; i++) c.add(1, { 'db.client.connection.pool.name': `pool${i}` });
    c.add(5, { 'db.client.connection.pool.name': 'pool2005' });
  };
  const real = await collections(many, false, 1);
  const summed = await collections(many, true, 1);
  assert.equal(real[0].length, summed[0].length);
  assert.deepEqual(summed, real);
});

test("an instrumentation's constructor-time counter on the real provider: no warning, one series, the summed values", async () => {
  const warnings: string[] = [];
  let muted = false;
  diag.setLogger(
    { error: (m) => warnings.push(m), warn: (m) => muted || warnings.push(m), info: () => {}, debug: () => {}, verbose: () => {} },
    DiagLogLevel.WARN
  );
  try {
    for (const quiet of [false, true]) {
      warnings.length = 0;
      const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
      const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
      const provider = new MeterProvider({ readers: [reader] });
      // InstrumentationBase's constructor: instruments from the global (real) provider, never added to afterwards.
      provider.getMeter('@opentelemetry/instrumentation-pg').createUpDownCounter('db.client.connection.count');
      // registerInstrumentations: the same names again through the filter.
      const quietly = <T>(fn: () => T): T => {
        muted = true;
        try {
          return fn();
        } finally {
          muted = false;
        }
      };
      const filter = quiet ? new SpanDerivedMetricsFilter(provider, undefined, quietly) : new SpanDerivedMetricsFilter(provider);
      filter.getMeter('@opentelemetry/instrumentation-pg').createUpDownCounter('db.client.connection.count').add(3, { 'db.client.connection.state': 'idle' });
      await reader.forceFlush();
      const points = exporter.getMetrics().flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics.map((m) => `${m.descriptor.name}=${m.dataPoints.map((d) => d.value).join(',')}`)));
      assert.deepEqual(points, ['db.client.connection.count=3']);
      if (quiet) assert.deepEqual(warnings, []);
      else assert.equal(warnings.filter((w) => w.startsWith('A view or instrument with the name')).length, 1);
      await provider.shutdown();
    }
  } finally {
    diag.disable();
  }
});
