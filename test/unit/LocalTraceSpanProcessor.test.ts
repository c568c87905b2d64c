/**
 * LocalTraceSpanProcessor with a real TracerProvider: an always-record sampler around AlwaysOn (ratio 1) or
 * AlwaysOff (ratio 0), the TenantSpanProcessor before it, a real RedMetricsSpanProcessor on a MetricStore as the
 * metric processor, and an InMemorySpanExporter behind a SimpleSpanProcessor as the export processor.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { context, SpanKind, SpanStatusCode, trace, TraceFlags, type Span as ApiSpan, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  createAlwaysRecordSampler,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { LocalTraceSpanProcessor, type KeepRules, type LocalTraceBounds } from '../../processors/LocalTraceSpanProcessor';
import { RedMetricsSpanProcessor } from '../../processors/RedMetricsSpanProcessor';
import { TenantSpanProcessor } from '../../processors/TenantSpanProcessor';
import { EndpointNormalizer } from '../../src/core/EndpointNormalizer';
import { MetricStore } from '../../src/core/metrics/MetricStore';
import {
  METRIC_SPAN_CALLS,
  METRIC_SPANS_DROPPED,
  METRIC_SPANS_EXPORTED,
  METRIC_SPANS_SEEN,
  METRIC_TRACES_FLUSHED_EARLY,
  type MetricSpec,
} from '../../src/core/semconv';
import { TENANT_CONTEXT_KEY, TenantCell } from '../../src/core/tenant/TenantCell';
import { setTenant, withTenant } from '../../src/tenantApi';
import { useTenantApi } from '../helpers/tenant';
import { TenantRegistry } from '../../src/core/tenant/TenantRegistry';

const contextManager = new AsyncLocalStorageContextManager();
before(() => {
  context.setGlobalContextManager(contextManager.enable());
});
after(() => {
  context.disable();
});

/** The in-memory exporter, except that shutdown keeps what it received (upstream's forgets it). */
class RetainingExporter extends InMemorySpanExporter {
  override shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

interface Harness {
  tracer: Tracer;
  exporter: RetainingExporter;
  processor: LocalTraceSpanProcessor;
  store: MetricStore;
  provider: TracerProvider;
  tenants: TenantRegistry;
}

const DEFAULT_KEEP: KeepRules = { errors: true, slowServerMs: 2000, modelCostUsd: 0.05 };
const DEFAULT_BOUNDS: LocalTraceBounds = { maxSpansPerTrace: 1000, maxBufferedSpans: 20_000, maxAgeMs: 60_000 };

/** Every harness is shut down after its test (clears the processor's sweep timer). */
const open: Harness[] = [];
after(async () => {
  for (const h of open) await h.provider.shutdown();
});

function harness(options: { ratio: 0 | 1; keep?: Partial<KeepRules>; bounds?: Partial<LocalTraceBounds>; exportEnabled?: boolean }): Harness {
  const store = new MetricStore(resourceFromAttributes({ 'service.name': 'svc' }));
  const exporter = new RetainingExporter();
  const tenants = new TenantRegistry({ maxTenants: 1000 });
  useTenantApi(tenants);
  const red = new RedMetricsSpanProcessor({
    store,
    tenants,
    endpoints: new EndpointNormalizer({ maxEndpoints: 100, templates: [] }),
    serviceName: 'svc',
    maxSpanNames: 500,
    maxErrorTypes: 100,
  });
  const processor = new LocalTraceSpanProcessor({
    metricProcessors: [red],
    exportProcessors: [new SimpleSpanProcessor({ exporter })],
    exportEnabled: options.exportEnabled ?? true,
    keep: { ...DEFAULT_KEEP, ...options.keep },
    bounds: { ...DEFAULT_BOUNDS, ...options.bounds },
    store,
  });
  const provider = new TracerProvider({
    sampler: createAlwaysRecordSampler(options.ratio === 1 ? new AlwaysOnSampler() : new AlwaysOffSampler()),
    spanProcessors: [new TenantSpanProcessor(), processor],
  });
  const h = { tracer: provider.getTracer('test'), exporter, processor, store, provider, tenants };
  open.push(h);
  return h;
}

/** Value of the counter series with exactly these label values (0 when the series does not exist). */
function counter(store: MetricStore, spec: MetricSpec, labels: Record<string, string> = {}): number {
  const family = store.counters.find((f) => f.spec === spec);
  if (family === undefined) return 0;
  let total = 0;
  for (const s of family.series) {
    if (Object.entries(labels).every(([k, v]) => s.attributes[k] === v)) total += s.value;
  }
  return total;
}

/** traces_span_metrics_calls_total for one span name and tenant. */
function calls(store: MetricStore, spanName: string, tenant: string): number {
  return counter(store, METRIC_SPAN_CALLS, { 'span.name': spanName, 'tenant.id': tenant });
}

function exportedNames(h: Harness): string[] {
  return h.exporter
    .getFinishedSpans()
    .map((s) => s.name)
    .sort();
}

function childOf(parent: ApiSpan): ReturnType<typeof trace.setSpan> {
  return trace.setSpan(context.active(), parent);
}

/** A root span, its children (ended), then the root ended; `configure` may set status/attributes on them. */
function runTrace(
  h: Harness,
  names: string[],
  configure: (name: string, span: ApiSpan) => void = () => undefined,
  kind: SpanKind = SpanKind.SERVER
): void {
  const root = h.tracer.startSpan(names[0], { kind, root: true });
  configure(names[0], root);
  for (const n of names.slice(1)) {
    const c = h.tracer.startSpan(n, { kind: SpanKind.CLIENT }, childOf(root));
    configure(n, c);
    c.end();
  }
  root.end();
}

test('ended children wait in the buffer until their local root ends, then are exported and counted', () => {
  const h = harness({ ratio: 1 });
  const root = h.tracer.startSpan('GET /chat', { kind: SpanKind.SERVER, root: true });
  const a = h.tracer.startSpan('pg.query', { kind: SpanKind.CLIENT }, childOf(root));
  const b = h.tracer.startSpan('redis.get', { kind: SpanKind.CLIENT }, childOf(root));
  a.end();
  b.end();
  assert.equal(h.exporter.getFinishedSpans().length, 0);
  assert.equal(h.processor.bufferedSpans, 2);
  assert.equal(h.processor.openTraces, 1);
  assert.equal(calls(h.store, 'pg.query', 'unknown'), 0);
  assert.equal(counter(h.store, METRIC_SPANS_SEEN), 2);
  assert.equal(counter(h.store, METRIC_SPANS_EXPORTED), 0);

  root.end();
  assert.deepEqual(exportedNames(h), ['GET /chat', 'pg.query', 'redis.get']);
  assert.equal(h.processor.bufferedSpans, 0);
  assert.equal(h.processor.openTraces, 0);
  assert.equal(calls(h.store, 'pg.query', 'unknown'), 1);
  assert.equal(calls(h.store, 'redis.get', 'unknown'), 1);
  assert.equal(calls(h.store, 'GET /chat', 'unknown'), 1);
  assert.equal(counter(h.store, METRIC_SPANS_SEEN), 3);
  assert.equal(counter(h.store, METRIC_SPANS_EXPORTED, { reason: 'sampled' }), 3);
  assert.equal(counter(h.store, METRIC_SPANS_DROPPED), 0);
});

test('a tenant set after a child span ended lands on that child span and on its metrics', () => {
  const h = harness({ ratio: 1 });
  // The request's tenant cell as the propagator creates it: no header, so "unknown" until the app sets it.
  const requestCtx = context.active().setValue(TENANT_CONTEXT_KEY, new TenantCell(h.tenants));
  context.with(requestCtx, () => {
    const root = h.tracer.startSpan('POST /login', { kind: SpanKind.SERVER, root: true });
    context.with(trace.setSpan(context.active(), root), () => {
      const auth = h.tracer.startSpan('pg.query:SELECT users', { kind: SpanKind.CLIENT });
      auth.end();
      // The auth query's span has ended with the tenant known so far.
      assert.equal(h.processor.bufferedSpans, 1);
      assert.equal(setTenant('acme'), true);
      const after = h.tracer.startSpan('redis.get', { kind: SpanKind.CLIENT });
      after.end();
    });
    root.end();
  });
  const spans = h.exporter.getFinishedSpans();
  assert.equal(spans.length, 3);
  for (const s of spans) assert.equal(s.attributes['tenant.id'], 'acme', s.name);
  assert.equal(calls(h.store, 'pg.query:SELECT users', 'acme'), 1);
  assert.equal(calls(h.store, 'pg.query:SELECT users', 'unknown'), 0);
  assert.equal(calls(h.store, 'redis.get', 'acme'), 1);
  assert.equal(calls(h.store, 'POST /login', 'acme'), 1);
  assert.equal(counter(h.store, METRIC_SPAN_CALLS, { 'tenant.id': 'unknown' }), 0);
});

test('withTenant sets the tenant of every span of a job, also spans that ended before a later setTenant', () => {
  const h = harness({ ratio: 0 });
  withTenant('globex', () => {
    const root = h.tracer.startSpan('job', { kind: SpanKind.CONSUMER, root: true });
    const c = h.tracer.startSpan('pg.query', { kind: SpanKind.CLIENT }, childOf(root));
    c.end();
    setTenant('initech');
    root.end();
  });
  // Ratio 0 and no rule matched: nothing exported, yet every span counted under the final tenant.
  assert.equal(h.exporter.getFinishedSpans().length, 0);
  assert.equal(calls(h.store, 'pg.query', 'initech'), 1);
  assert.equal(calls(h.store, 'job', 'initech'), 1);
  assert.equal(counter(h.store, METRIC_SPAN_CALLS, { 'tenant.id': 'globex' }), 0);
  assert.equal(counter(h.store, METRIC_SPANS_DROPPED, { reason: 'not_sampled' }), 2);
});

test('at ratio 0 a trace with an error is exported whole with tenantscope.kept_by=error and a clean one is not', () => {
  const h = harness({ ratio: 0 });
  runTrace(h, ['GET /clean', 'pg.query', 'redis.get']);
  runTrace(h, ['GET /broken', 'pg.query', 'redis.get'], (name, span) => {
    // The error is on a child; the whole local trace is kept.
    if (name === 'pg.query') span.setStatus({ code: SpanStatusCode.ERROR });
  });
  const spans = h.exporter.getFinishedSpans();
  assert.deepEqual(spans.map((s) => s.name).sort(), ['GET /broken', 'pg.query', 'redis.get']);
  const traceIds = new Set(spans.map((s) => s.spanContext().traceId));
  assert.equal(traceIds.size, 1);
  for (const s of spans) {
    assert.equal(s.attributes['tenantscope.kept_by'], 'error', s.name);
    // Exported through a view that reports it sampled (the stock processors drop unsampled spans).
    assert.equal(s.spanContext().traceFlags & TraceFlags.SAMPLED, TraceFlags.SAMPLED);
  }
  assert.equal(counter(h.store, METRIC_SPANS_SEEN), 6);
  assert.equal(counter(h.store, METRIC_SPANS_EXPORTED, { reason: 'error' }), 3);
  assert.equal(counter(h.store, METRIC_SPANS_EXPORTED, { reason: 'sampled' }), 0);
  assert.equal(counter(h.store, METRIC_SPANS_DROPPED, { reason: 'not_sampled' }), 3);
  // Metrics see both traces.
  assert.equal(calls(h.store, 'pg.query', 'unknown'), 2);
  assert.equal(counter(h.store, METRIC_SPAN_CALLS, { 'span.name': 'pg.query', 'status.code': 'STATUS_CODE_ERROR' }), 1);
});

test('TENANTSCOPE_KEEP_ERRORS=false keeps no error trace at ratio 0', () => {
  const h = harness({ ratio: 0, keep: { errors: false } });
  runTrace(h, ['GET /broken', 'pg.query'], (_n, span) => span.setStatus({ code: SpanStatusCode.ERROR }));
  assert.equal(h.exporter.getFinishedSpans().length, 0);
  assert.equal(counter(h.store, METRIC_SPANS_DROPPED, { reason: 'not_sampled' }), 2);
  assert.equal(counter(h.store, METRIC_SPAN_CALLS, { 'status.code': 'STATUS_CODE_ERROR' }), 2);
});

test('a server span slower than the threshold keeps its local trace; a faster one or a slow non-server span does not', () => {
  const h = harness({ ratio: 0, keep: { slowServerMs: 50 } });
  const t0 = Date.now() - 10_000;
  const timed = (name: string, kind: SpanKind, ms: number): void => {
    const root = h.tracer.startSpan(name, { kind, root: true, startTime: t0 });
    const c = h.tracer.startSpan(`${name} child`, { kind: SpanKind.CLIENT, startTime: t0 }, childOf(root));
    c.end(t0 + 1);
    root.end(t0 + ms);
  };
  timed('GET /slow', SpanKind.SERVER, 60);
  timed('GET /fast', SpanKind.SERVER, 40);
  timed('job slow', SpanKind.INTERNAL, 500);
  const spans = h.exporter.getFinishedSpans();
  assert.deepEqual(spans.map((s) => s.name).sort(), ['GET /slow', 'GET /slow child']);
  for (const s of spans) assert.equal(s.attributes['tenantscope.kept_by'], 'slow');
  assert.equal(counter(h.store, METRIC_SPANS_EXPORTED, { reason: 'slow' }), 2);
  assert.equal(counter(h.store, METRIC_SPANS_DROPPED, { reason: 'not_sampled' }), 4);
});

test('a model call costing more than the threshold keeps its local trace; one at the threshold does not', () => {
  const h = harness({ ratio: 0, keep: { modelCostUsd: 0.05 } });
  runTrace(h, ['POST /chat a', 'chat gpt-4o'], (n, s) => {
    if (n === 'chat gpt-4o') s.setAttribute('tenantscope.cost.usd', 0.06);
  });
  runTrace(h, ['POST /chat b', 'chat gpt-4o-mini'], (n, s) => {
    if (n === 'chat gpt-4o-mini') s.setAttribute('tenantscope.cost.usd', 0.05);
  });
  const spans = h.exporter.getFinishedSpans();
  assert.deepEqual(spans.map((s) => s.name).sort(), ['POST /chat a', 'chat gpt-4o']);
  for (const s of spans) assert.equal(s.attributes['tenantscope.kept_by'], 'cost');
  assert.equal(counter(h.store, METRIC_SPANS_EXPORTED, { reason: 'cost' }), 2);
  assert.equal(counter(h.store, METRIC_SPANS_DROPPED, { reason: 'not_sampled' }), 2);
});

test('children ending after their local root follow the root decision (kept, dropped, sampled)', () => {
  // Kept by rule: the late child is exported with the same kept_by.
  const kept = harness({ ratio: 0 });
  const r1 = kept.tracer.startSpan('GET /a', { kind: SpanKind.SERVER, root: true });
  const late1 = kept.tracer.startSpan('late', {}, childOf(r1));
  r1.setStatus({ code: SpanStatusCode.ERROR });
  r1.end();
  assert.equal(kept.processor.openTraces, 0);
  late1.end();
  assert.deepEqual(exportedNames(kept), ['GET /a', 'late']);
  assert.equal(kept.exporter.getFinishedSpans()[1].attributes['tenantscope.kept_by'], 'error');

  // Dropped: the late child is dropped, even when it is an error itself (the rest of its trace is gone).
  const dropped = harness({ ratio: 0 });
  const r2 = dropped.tracer.startSpan('GET /b', { kind: SpanKind.SERVER, root: true });
  const late2 = dropped.tracer.startSpan('late', {}, childOf(r2));
  const late3 = dropped.tracer.startSpan('late error', {}, childOf(r2));
  r2.end();
  late2.end();
  late3.setStatus({ code: SpanStatusCode.ERROR });
  late3.end();
  assert.equal(dropped.exporter.getFinishedSpans().length, 0);
  assert.equal(counter(dropped.store, METRIC_SPANS_DROPPED, { reason: 'not_sampled' }), 3);
  assert.equal(counter(dropped.store, METRIC_SPANS_EXPORTED), 0);
  assert.equal(calls(dropped.store, 'late error', 'unknown'), 1);
  assert.equal(dropped.processor.bufferedSpans, 0);

  // Sampled: exported at once, without kept_by.
  const sampled = harness({ ratio: 1 });
  const r3 = sampled.tracer.startSpan('GET /c', { kind: SpanKind.SERVER, root: true });
  const late4 = sampled.tracer.startSpan('late', {}, childOf(r3));
  r3.end();
  late4.end();
  assert.deepEqual(exportedNames(sampled), ['GET /c', 'late']);
  assert.equal(sampled.exporter.getFinishedSpans()[1].attributes['tenantscope.kept_by'], undefined);
  assert.equal(sampled.processor.bufferedSpans, 0);
});

test('always_off (export disabled) exports nothing, not even kept traces, and counts every span as export_off', () => {
  const h = harness({ ratio: 0, exportEnabled: false });
  runTrace(h, ['GET /broken', 'pg.query'], (_n, s) => s.setStatus({ code: SpanStatusCode.ERROR }));
  runTrace(h, ['GET /ok', 'pg.query']);
  assert.equal(h.exporter.getFinishedSpans().length, 0);
  assert.equal(counter(h.store, METRIC_SPANS_SEEN), 4);
  assert.equal(counter(h.store, METRIC_SPANS_DROPPED, { reason: 'export_off' }), 4);
  assert.equal(counter(h.store, METRIC_SPANS_EXPORTED), 0);
  assert.equal(calls(h.store, 'pg.query', 'unknown'), 2);
});

test('a leaked local root: its children are decided when the trace reaches max spans, then pass straight through', () => {
  const h = harness({ ratio: 1, bounds: { maxSpansPerTrace: 10 } });
  const leaked = h.tracer.startSpan('leaked', { root: true });
  for (let i = 0; i < 9; i++) h.tracer.startSpan('child', {}, childOf(leaked)).end();
  assert.equal(h.processor.bufferedSpans, 9);
  assert.equal(h.exporter.getFinishedSpans().length, 0);
  h.tracer.startSpan('child', {}, childOf(leaked)).end();
  assert.equal(h.processor.bufferedSpans, 0);
  assert.equal(h.processor.openTraces, 0);
  assert.equal(h.exporter.getFinishedSpans().length, 10);
  assert.equal(counter(h.store, METRIC_TRACES_FLUSHED_EARLY, { reason: 'max_spans' }), 1);
  for (let i = 0; i < 5; i++) h.tracer.startSpan('child', {}, childOf(leaked)).end();
  assert.equal(h.processor.bufferedSpans, 0);
  assert.equal(h.exporter.getFinishedSpans().length, 15);
  assert.equal(calls(h.store, 'child', 'unknown'), 15);
  assert.equal(counter(h.store, METRIC_TRACES_FLUSHED_EARLY), 1);
});

test('a leaked local root older than max age is decided when the next local trace starts', async () => {
  const h = harness({ ratio: 1, bounds: { maxAgeMs: 30 } });
  const leaked = h.tracer.startSpan('leaked', { root: true });
  for (let i = 0; i < 3; i++) h.tracer.startSpan('child', {}, childOf(leaked)).end();
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(h.exporter.getFinishedSpans().length, 0);
  runTrace(h, ['GET /next', 'pg.query']);
  assert.equal(counter(h.store, METRIC_TRACES_FLUSHED_EARLY, { reason: 'max_age' }), 1);
  assert.deepEqual(exportedNames(h), ['GET /next', 'child', 'child', 'child', 'pg.query']);
  assert.equal(h.processor.bufferedSpans, 0);
  assert.equal(h.processor.openTraces, 0);
});

test('a leaked local root older than max age is decided by the sweep when no span starts', async () => {
  // The sweep runs every max(100 ms, maxAge/2).
  const h = harness({ ratio: 0, bounds: { maxAgeMs: 30 } });
  const leaked = h.tracer.startSpan('leaked', { root: true });
  for (let i = 0; i < 4; i++) h.tracer.startSpan('child', {}, childOf(leaked)).end();
  const deadline = Date.now() + 2000;
  while (h.processor.bufferedSpans > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(h.processor.bufferedSpans, 0);
  assert.equal(h.processor.openTraces, 0);
  assert.equal(counter(h.store, METRIC_TRACES_FLUSHED_EARLY, { reason: 'max_age' }), 1);
  assert.equal(calls(h.store, 'child', 'unknown'), 4);
  assert.equal(counter(h.store, METRIC_SPANS_DROPPED, { reason: 'not_sampled' }), 4);
});

test('100,000 spans under 10,000 leaked roots: the oldest is decided at max buffered and the buffer never exceeds it', () => {
  const h = harness({ ratio: 0, bounds: { maxSpansPerTrace: 1000, maxBufferedSpans: 1000 } });
  let maxBuffered = 0;
  for (let t = 0; t < 10_000; t++) {
    const leaked = h.tracer.startSpan('leaked', { root: true });
    const ctx = childOf(leaked);
    for (let i = 0; i < 10; i++) {
      h.tracer.startSpan('child', {}, ctx).end();
      if (h.processor.bufferedSpans > maxBuffered) maxBuffered = h.processor.bufferedSpans;
    }
  }
  assert.equal(maxBuffered, 1000);
  // The 100 newest leaked traces are held (10 spans each); each earlier one was decided when the buffer overflowed.
  assert.equal(h.processor.bufferedSpans, 1000);
  assert.equal(h.processor.openTraces, 100);
  assert.equal(counter(h.store, METRIC_TRACES_FLUSHED_EARLY, { reason: 'max_buffered' }), 9_900);
  assert.equal(counter(h.store, METRIC_TRACES_FLUSHED_EARLY), 9_900);
  assert.equal(counter(h.store, METRIC_SPANS_SEEN), 100_000);
  assert.equal(calls(h.store, 'child', 'unknown'), 99_000);
  assert.equal(counter(h.store, METRIC_SPANS_DROPPED, { reason: 'not_sampled' }), 99_000);
});

test('100,000 leaked roots with one child each: open local traces are bounded too', () => {
  const h = harness({ ratio: 0, bounds: { maxSpansPerTrace: 1000, maxBufferedSpans: 1000 } });
  let maxOpen = 0;
  for (let t = 0; t < 100_000; t++) {
    const leaked = h.tracer.startSpan('leaked', { root: true });
    h.tracer.startSpan('child', {}, childOf(leaked)).end();
    if (h.processor.openTraces > maxOpen) maxOpen = h.processor.openTraces;
  }
  assert.equal(maxOpen, 1000);
  assert.equal(h.processor.openTraces, 1000);
  assert.equal(h.processor.bufferedSpans, 1000);
  assert.equal(counter(h.store, METRIC_TRACES_FLUSHED_EARLY, { reason: 'max_buffered' }), 99_000);
  assert.equal(calls(h.store, 'child', 'unknown'), 99_000);
});

test('one leaked root with 100,000 children holds at most max spans per trace', () => {
  const h = harness({ ratio: 0, bounds: { maxSpansPerTrace: 1000, maxBufferedSpans: 20_000 } });
  const leaked = h.tracer.startSpan('leaked', { root: true });
  const ctx = childOf(leaked);
  let maxBuffered = 0;
  for (let i = 0; i < 100_000; i++) {
    h.tracer.startSpan('child', {}, ctx).end();
    if (h.processor.bufferedSpans > maxBuffered) maxBuffered = h.processor.bufferedSpans;
  }
  assert.equal(maxBuffered, 999);
  assert.equal(h.processor.bufferedSpans, 0);
  assert.equal(h.processor.openTraces, 0);
  assert.equal(counter(h.store, METRIC_TRACES_FLUSHED_EARLY, { reason: 'max_spans' }), 1);
  assert.equal(counter(h.store, METRIC_SPANS_DROPPED, { reason: 'not_sampled' }), 100_000);
  assert.equal(calls(h.store, 'child', 'unknown'), 100_000);
});

test('shutdown decides every open local trace: its spans reach the metrics and the exporter', async () => {
  const h = harness({ ratio: 0 });
  const leaked = h.tracer.startSpan('leaked', { kind: SpanKind.SERVER, root: true });
  const c1 = h.tracer.startSpan('pg.query', {}, childOf(leaked));
  c1.setStatus({ code: SpanStatusCode.ERROR });
  c1.end();
  h.tracer.startSpan('redis.get', {}, childOf(leaked)).end();
  runTrace(h, ['GET /ok', 'pg.query']);
  assert.equal(h.processor.bufferedSpans, 2);
  assert.equal(h.processor.openTraces, 1);
  await h.provider.shutdown();
  assert.equal(h.processor.bufferedSpans, 0);
  assert.equal(h.processor.openTraces, 0);
  assert.equal(counter(h.store, METRIC_TRACES_FLUSHED_EARLY, { reason: 'shutdown' }), 1);
  // The leaked trace had an error: kept (its two ended spans); the clean trace was dropped.
  assert.deepEqual(exportedNames(h), ['pg.query', 'redis.get']);
  assert.equal(counter(h.store, METRIC_SPANS_EXPORTED, { reason: 'error' }), 2);
  assert.equal(counter(h.store, METRIC_SPANS_DROPPED, { reason: 'not_sampled' }), 2);
  assert.equal(calls(h.store, 'pg.query', 'unknown'), 2);
});
