/**
 * LazyExporter and LazyPushMetricExporter: when the real exporter is built, what reaches it, a build that fails,
 * and the metric reader's choices answered without building (compared with the real upstream OTLP metric exporter).
 * The wrapped exporters are stand-ins here (they record calls); the real OTLP exporters built on first use under the
 * preload are in test/e2e/lazyExporters.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { AggregationTemporalityPreference, OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { InstrumentType, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { ExportGuard } from '../../src/core/export/ExportGuard';
import { LazyExporter, LazyPushMetricExporter, type Exporter } from '../../src/core/export/LazyExporter';
import { MetricStore } from '../../src/core/metrics/MetricStore';
import { METRIC_EXPORT_SPANS, METRIC_EXPORT_SPANS_ATTEMPTED } from '../../src/core/semconv';
import { resourceFromAttributes } from '@opentelemetry/resources';

/** A stand-in exporter that records every call and answers SUCCESS at once. */
class Recorder implements Exporter<string[]> {
  readonly calls: string[] = [];
  export(items: string[], cb: (r: ExportResult) => void): void {
    this.calls.push(`export ${items.join(',')}`);
    cb({ code: ExportResultCode.SUCCESS });
  }
  forceFlush(): Promise<void> {
    this.calls.push('forceFlush');
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    this.calls.push('shutdown');
    return Promise.resolve();
  }
}

function exportOnce<T>(e: Exporter<T>, items: T): Promise<ExportResult> {
  return new Promise((resolve) => e.export(items, resolve));
}

test('forceFlush and shutdown before any export build nothing; an export after that shutdown fails without building', async () => {
  let builds = 0;
  const lazy = new LazyExporter<string[]>(() => {
    builds++;
    return new Recorder();
  });
  await lazy.forceFlush();
  await lazy.shutdown();
  const r = await exportOnce(lazy, ['a']);
  assert.equal(r.code, ExportResultCode.FAILED);
  assert.equal(r.error?.message, 'the exporter is shut down');
  assert.equal(builds, 0);
  assert.equal(lazy.built, false);
});

test('the first export builds the exporter once; later calls go to the same one', async () => {
  const real = new Recorder();
  let builds = 0;
  const lazy = new LazyExporter<string[]>(() => {
    builds++;
    return real;
  });
  assert.equal((await exportOnce(lazy, ['a', 'b'])).code, ExportResultCode.SUCCESS);
  assert.equal((await exportOnce(lazy, ['c'])).code, ExportResultCode.SUCCESS);
  await lazy.forceFlush();
  await lazy.shutdown();
  assert.equal(builds, 1);
  assert.deepEqual(real.calls, ['export a,b', 'export c', 'forceFlush', 'shutdown']);
});

test('a build that throws fails that export and every later one with its error, and is not tried again', async () => {
  let builds = 0;
  const lazy = new LazyExporter<string[]>(() => {
    builds++;
    throw new Error('Cannot find module @opentelemetry/exporter-trace-otlp-proto');
  });
  for (let i = 0; i < 3; i++) {
    const r = await exportOnce(lazy, ['a']);
    assert.equal(r.code, ExportResultCode.FAILED);
    assert.equal(r.error?.message, 'Cannot find module @opentelemetry/exporter-trace-otlp-proto');
  }
  lazy.prepare();
  await lazy.forceFlush();
  await lazy.shutdown();
  assert.equal(builds, 1);
});

test('the metric reader gets the temporality and aggregation the OTLP metric exporter would choose, without a build', () => {
  const prefs = [
    ['cumulative', AggregationTemporalityPreference.CUMULATIVE],
    ['delta', AggregationTemporalityPreference.DELTA],
    ['lowmemory', AggregationTemporalityPreference.LOWMEMORY],
  ] as const;
  const types = Object.values(InstrumentType);
  assert.equal(types.length, 7);
  for (const [name, pref] of prefs) {
    let builds = 0;
    const lazy = new LazyPushMetricExporter(() => {
      builds++;
      return undefined as unknown as PushMetricExporter;
    }, name);
    const upstream = new OTLPMetricExporter({ temporalityPreference: pref });
    for (const t of types) {
      assert.equal(lazy.selectAggregationTemporality(t), upstream.selectAggregationTemporality(t), `${name} ${t}`);
      assert.deepEqual(lazy.selectAggregation(), upstream.selectAggregation(t), `${name} ${t}`);
    }
    assert.equal(builds, 0);
  }
});

test('under an ExportGuard, building the exporter at the first export does not count against the export timeout', async () => {
  const store = new MetricStore(resourceFromAttributes({}), { maxSeries: 1000 });
  const guard = new ExportGuard({
    store,
    attemptedSpec: METRIC_EXPORT_SPANS_ATTEMPTED,
    outcomeSpec: METRIC_EXPORT_SPANS,
    signal: 'span',
    items: 'spans',
    endpoint: 'http://127.0.0.1:1/v1/traces',
  });
  const real = new Recorder();
  const lazy = new LazyExporter<string[]>(() => {
    // A slow first load (a loaded machine): 150 ms, longer than the 50 ms export timeout below.
    const end = Date.now() + 150;
    while (Date.now() < end);
    return {
      export: (items, cb) => setTimeout(() => real.export(items, cb), 20),
      shutdown: () => real.shutdown(),
    };
  });
  assert.equal(await guard.export(lazy, ['a', 'b'], 2, 50), true);
  assert.equal(store.counter(METRIC_EXPORT_SPANS).get(['delivered', '']).value, 2);
  assert.equal(guard.counted('failed', 'timeout'), 0);
  assert.equal(guard.failing, false);
  assert.deepEqual(real.calls, ['export a,b']);
});
