/**
 * ExportGuard holds no reference to a batch while its export is in flight: upstream's OTLP exporters serialize the
 * batch synchronously in `export()`, and the request then waits for the collector's answer; spans held until then
 * outlive the young generation (docs/benchmarks.md, round five). Checked with a real collection: the test exposes
 * V8's `gc` to itself (`--expose-gc` set at run time) and watches the batch through a WeakRef.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ExportGuard } from '../../src/core/export/ExportGuard';
import { MetricStore } from '../../src/core/metrics/MetricStore';
import { METRIC_EXPORT_SPANS, METRIC_EXPORT_SPANS_ATTEMPTED } from '../../src/core/semconv';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function guard(): ExportGuard {
  return new ExportGuard({
    store: new MetricStore(resourceFromAttributes({}), { maxSeries: 1000 }),
    attemptedSpec: METRIC_EXPORT_SPANS_ATTEMPTED,
    outcomeSpec: METRIC_EXPORT_SPANS,
    signal: 'span',
    items: 'spans',
    endpoint: 'http://127.0.0.1:1/v1/traces',
  });
}

/** An exporter as upstream's OTLP ones behave: reads the batch at once, answers later. */
class LaterExporter {
  serialized: number[] = [];
  answer: ((r: ExportResult) => void) | undefined;
  export(items: { id: number }[], resultCallback: (r: ExportResult) => void): void {
    this.serialized.push(...items.map((i) => i.id));
    this.answer = resultCallback;
  }
}

/** Starts an export of a fresh batch and returns a WeakRef to it (made here, so no local of the test holds it). */
function startExport(g: ExportGuard, exporter: LaterExporter): { batch: WeakRef<object>; settled: Promise<boolean> } {
  const items = [{ id: 1 }, { id: 2 }, { id: 3 }];
  const settled = g.export(exporter, items, items.length, 60_000);
  return { batch: new WeakRef(items), settled };
}

test('a batch in flight is not held by the guard: collected before the collector answers, and the export still counts', async () => {
  const g = guard();
  const exporter = new LaterExporter();
  const { batch, settled } = startExport(g, exporter);
  assert.deepEqual(exporter.serialized, [1, 2, 3]);
  // A WeakRef keeps its target until the current job ends: collect in a later one.
  await new Promise((r) => setImmediate(r));
  gc();
  assert.equal(batch.deref(), undefined, 'the batch was collected while its export was in flight');
  assert.notEqual(g.current, undefined, 'the export is still in flight');
  exporter.answer?.({ code: ExportResultCode.SUCCESS });
  assert.equal(await settled, true);
  assert.equal(g.current, undefined);
});

test('a batch whose exporter throws is counted failed, and a timeout still ends an export that never answers', async () => {
  const g = guard();
  const thrown = g.export({ export: () => void assert.fail('boom') }, [{ id: 1 }], 1, 60_000);
  assert.equal(await thrown, false);
  assert.equal(g.counted('failed', 'other'), 1);
  const silent = g.export({ export: () => undefined }, [{ id: 2 }, { id: 3 }], 2, 20);
  assert.equal(await silent, false);
  assert.equal(g.counted('failed', 'timeout'), 2);
  assert.equal(g.current, undefined);
});
