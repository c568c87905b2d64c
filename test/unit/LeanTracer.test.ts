/**
 * Lean spans (src/trace/LeanTracer.ts), sampled and not, against sdk-trace's own spans on the same traffic: two
 * pipelines built alike (TenantSpanProcessor, LocalTraceSpanProcessor with the RED, model-usage and queue processors,
 * exemplars on, an in-memory exporter), one with `lean: true` and one with `lean: false`, with the same deterministic
 * trace and span ids, the same sampler (parent-based trace-id-ratio, or one that sets a trace state and attributes)
 * and explicit times. Every metric point, every span context and every exported span must be equal, field by field,
 * and the OTLP bytes of the exported spans too.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  context,
  diag,
  INVALID_SPAN_CONTEXT,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type Context,
  type Link,
  type Span as ApiSpan,
  type SpanContext,
  type Tracer,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { suppressTracing, TraceState } from '@opentelemetry/core';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  InMemorySpanExporter,
  ParentBasedSampler,
  SamplingDecision,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  type IdGenerator,
  type ReadableSpan,
  type Sampler,
  type SamplingResult,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { LocalTraceSpanProcessor } from '../../processors/LocalTraceSpanProcessor';
import { ModelUsageSpanProcessor } from '../../processors/ModelUsageSpanProcessor';
import { QueueMetricsSpanProcessor } from '../../processors/QueueMetricsSpanProcessor';
import { RedMetricsSpanProcessor } from '../../processors/RedMetricsSpanProcessor';
import { TenantSpanProcessor } from '../../processors/TenantSpanProcessor';
import { EndpointNormalizer } from '../../src/core/EndpointNormalizer';
import { captureExceptionClasses } from '../../src/core/ErrorType';
import { MetricStore } from '../../src/core/metrics/MetricStore';
import { METRIC_ERRORS, METRIC_SPANS_DROPPED, METRIC_SPANS_EXPORTED, METRIC_SPANS_SEEN, type MetricSpec } from '../../src/core/semconv';
import { TENANT_CONTEXT_KEY, TenantCell } from '../../src/core/tenant/TenantCell';
import { TenantRegistry } from '../../src/core/tenant/TenantRegistry';
import { LeanTraceEncoder } from '../../src/export/LeanTraceEncoder';
import { LeanSpan, LeanTracer, TenantScopeTracerProvider } from '../../src/trace/LeanTracer';
import { DiagLines, throwOnce } from '../helpers/faults';

const contextManager = new AsyncLocalStorageContextManager();
before(() => {
  context.setGlobalContextManager(contextManager.enable());
  captureExceptionClasses();
});
after(() => {
  context.disable();
});

class RetainingExporter extends InMemorySpanExporter {
  override shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** Trace and span ids from a seeded xorshift: two generators with one seed give the same ids in the same order. */
class SeededIds implements IdGenerator {
  private _s = 0x9e3779b9;
  private _next(): string {
    let x = this._s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this._s = x >>> 0;
    return this._s.toString(16).padStart(8, '0');
  }
  generateTraceId(): string {
    return this._next() + this._next() + this._next() + this._next();
  }
  generateSpanId(): string {
    return this._next() + this._next();
  }
}

/** Records the class and span context of every span the processors see, and whether it had a tenant at the end. */
class Tap implements SpanProcessor {
  classes: Record<string, number> = {};
  contexts: SpanContext[] = [];
  withoutTenant = 0;
  onStart(): void {}
  onEnd(span: ReadableSpan): void {
    const c = span.constructor.name;
    this.classes[c] = (this.classes[c] ?? 0) + 1;
    this.contexts.push(span.spanContext());
    if (typeof span.attributes['tenant.id'] !== 'string') this.withoutTenant++;
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

interface Pipeline {
  tracer: Tracer;
  provider: TenantScopeTracerProvider;
  store: MetricStore;
  exporter: RetainingExporter;
  tenants: TenantRegistry;
  tap: Tap;
}

const open: Pipeline[] = [];
after(async () => {
  for (const p of open) await p.provider.shutdown();
});

function pipeline(
  lean: boolean,
  ratio = 0.5,
  sampler: Sampler = new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) }),
  ids: IdGenerator | null = new SeededIds()
): Pipeline {
  const resource = resourceFromAttributes({ 'service.name': 'svc' });
  const store = new MetricStore(resource);
  const tenants = new TenantRegistry({ maxTenants: 100 });
  const exporter = new RetainingExporter();
  const tap = new Tap();
  const local = new LocalTraceSpanProcessor({
    metricProcessors: [
      new RedMetricsSpanProcessor({
        store,
        tenants,
        endpoints: new EndpointNormalizer({ maxEndpoints: 100, templates: [] }),
        serviceName: 'svc',
        maxSpanNames: 500,
        maxErrorTypes: 100,
        exemplars: true,
      }),
      new ModelUsageSpanProcessor({ store, tenants, maxModels: 100, maxErrorTypes: 100 }),
      new QueueMetricsSpanProcessor({ store, maxLabelValues: 50 }),
      tap,
    ],
    exportProcessors: [new SimpleSpanProcessor({ exporter })],
    exportEnabled: true,
    keep: { errors: true, slowServerMs: 2000, modelCostUsd: 0.05 },
    bounds: { maxSpansPerTrace: 1000, maxBufferedSpans: 20_000, maxAgeMs: 60_000 },
    store,
  });
  const provider = new TenantScopeTracerProvider({
    resource,
    sampler,
    spanProcessors: [new TenantSpanProcessor(), local],
    lean,
    idGenerator: ids ?? undefined, // null: sdk-trace's RandomIdGenerator
  });
  const p = { tracer: provider.getTracer('test', '1.0.0'), provider, store, exporter, tenants, tap };
  open.push(p);
  return p;
}

class QuotaExceededError extends Error {}

const T0 = 1_790_000_000_000;
const TENANTS = ['acme', 'globex', 'initech'];

/**
 * The traffic: 60 requests of a server span with a pg child and an internal child, some erroring (an exception
 * of a subclass that keeps the name `Error`), some slow, some with a tenant set only after the pg span ended, one
 * with more attributes than the limit, one renamed, one with links; and 20 queue jobs (consumer roots).
 */
function traffic(p: Pipeline): void {
  const t = p.tracer;
  for (let i = 0; i < 60; i++) {
    const start = T0 + i * 10_000;
    const late = i % 5 === 4;
    const cell = new TenantCell(p.tenants, late ? undefined : TENANTS[i % 3]);
    const reqCtx: Context = ROOT_CONTEXT.setValue(TENANT_CONTEXT_KEY, cell);
    const root = t.startSpan(
      'GET',
      { kind: SpanKind.SERVER, startTime: start, attributes: { 'http.request.method': 'GET', 'url.path': `/v1/chats/${i}`, skip: undefined } },
      reqCtx
    );
    const inRoot = trace.setSpan(reqCtx, root);
    const pg = t.startSpan('pg.query:SELECT chats', { kind: SpanKind.CLIENT, startTime: [start / 1000, 2_000_000], attributes: { 'db.system': 'postgresql' } }, inRoot);
    pg.setAttribute('db.statement', 'SELECT * FROM chats WHERE id = $1');
    // Not primitives, or not valid: sdk-trace's own attribute rules on both paths.
    pg.setAttribute('db.ids', [i, i + 1, null]);
    pg.setAttribute('', 'no key');
    pg.setAttribute('db.bad', (() => i) as never);
    pg.setAttribute('db.statement', 'SELECT 1');
    pg.setAttributes({ 'db.name': 'chats', 'db.rows': i, 'db.cached': i % 2 === 0, 'db.nothing': undefined });
    pg.end([start / 1000, 9_000_500 + i]);
    if (late) cell.set(TENANTS[(i + 1) % 3]);
    const render = t.startSpan('render', { startTime: new Date(start + 10), links: i % 11 === 0 ? [{ context: pg.spanContext(), attributes: { why: 'cache' } }] : undefined }, inRoot);
    render.addEvent('template', { 'template.name': 'chat' }, start + 11);
    if (i % 7 === 0) {
      render.recordException(new QuotaExceededError('over quota'), start + 12);
      render.setStatus({ code: SpanStatusCode.ERROR, message: 'over quota' });
    }
    if (i === 14) for (let k = 0; k < 130; k++) render.setAttribute(`extra.${k}`, k);
    if (i === 17) render.updateName('render-late');
    render.end(start + 20 + (i % 4));
    const slow = i % 9 === 8;
    root.setAttributes({ 'http.response.status_code': i % 7 === 0 ? 500 : 200, 'http.route': '/v1/chats/:id' });
    if (i % 7 === 0) root.setStatus({ code: SpanStatusCode.ERROR });
    root.end(start + (slow ? 2500 : 30 + i));
  }
  for (let j = 0; j < 20; j++) {
    const start = T0 + 1_000_000 + j * 1000;
    const ctx = ROOT_CONTEXT.setValue(TENANT_CONTEXT_KEY, new TenantCell(p.tenants, TENANTS[j % 3]));
    const job = t.startSpan(
      'chat-jobs process',
      { kind: SpanKind.CONSUMER, startTime: start, attributes: { 'messaging.system': 'rabbitmq', 'messaging.destination.name': 'chat-jobs' } },
      ctx
    );
    job.end(start + 5 + j);
  }
}

/** Every data point of the store, without collection times. */
async function points(store: MetricStore): Promise<unknown[]> {
  const { resourceMetrics } = await store.collect();
  const out: unknown[] = [];
  for (const sm of resourceMetrics.scopeMetrics) {
    for (const m of sm.metrics) {
      for (const dp of m.dataPoints as Array<{ attributes: unknown; value: unknown }>) out.push({ name: m.descriptor.name, attributes: dp.attributes, value: dp.value });
    }
  }
  return out;
}

/** Everything an exporter reads off a span, sorted by span id (or in export order). */
function exported(p: Pipeline, sorted = true): unknown[] {
  const spans = p.exporter
    .getFinishedSpans()
    .map((s) => ({
      name: s.name,
      kind: s.kind,
      spanContext: { ...s.spanContext() },
      parentSpanContext: s.parentSpanContext,
      startTime: s.startTime,
      endTime: s.endTime,
      duration: s.duration,
      ended: s.ended,
      status: s.status,
      attributes: s.attributes,
      links: s.links,
      events: s.events,
      droppedAttributesCount: s.droppedAttributesCount,
      droppedEventsCount: s.droppedEventsCount,
      droppedLinksCount: s.droppedLinksCount,
      resource: s.resource.attributes,
      scope: s.instrumentationScope,
    }))
  return sorted ? spans.sort((a, b) => (a.spanContext.spanId < b.spanContext.spanId ? -1 : 1)) : spans;
}

/** `value` as JSON with every trace and span id replaced by the order it first appears in (random ids compare). */
function renumbered(value: unknown): unknown {
  const seen = new Map<string, string>();
  return JSON.parse(
    JSON.stringify(value, (_k, v: unknown) => {
      if (typeof v !== 'string' || !/^(?:[0-9a-f]{16}){1,2}$/.test(v)) return v;
      let n = seen.get(v);
      if (n === undefined) seen.set(v, (n = `${v.length === 32 ? 'trace' : 'span'}#${seen.size}`));
      return n;
    })
  );
}

/** The OTLP/protobuf request of the exported spans, as upstream's serializer and as tenantscope's encoder write it. */
function otlp(p: Pipeline): { upstream: string; lean: string } {
  const spans = p.exporter.getFinishedSpans();
  return {
    upstream: Buffer.from(ProtobufTraceSerializer.serializeRequest(spans)!).toString('hex'),
    lean: Buffer.from(new LeanTraceEncoder().encode(spans)).toString('hex'),
  };
}

function counter(store: MetricStore, spec: MetricSpec, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const f of store.counters) {
    if (f.spec !== spec) continue;
    for (const s of f.series) if (Object.entries(labels).every(([k, v]) => s.attributes[k] === v)) total += s.value;
  }
  return total;
}

test('lean and SDK spans give the same metrics and the same exported spans on the same traffic', async () => {
  const lean = pipeline(true);
  const full = pipeline(false);
  // One call site, so the exceptions' stack traces are equal too.
  for (const p of [lean, full]) traffic(p);

  // 60 requests × 3 spans + 20 jobs.
  assert.equal(counter(lean.store, METRIC_SPANS_SEEN), 200);
  assert.equal(counter(full.store, METRIC_SPANS_SEEN), 200);
  // The ratio sampler sampled some traces and not others; the lean pipeline built a LeanSpan for every span, sampled
  // or not, the SDK pipeline none.
  const sampled = counter(full.store, METRIC_SPANS_EXPORTED, { reason: 'sampled' });
  const notSampled = counter(full.store, METRIC_SPANS_DROPPED, { reason: 'not_sampled' });
  const kept = counter(full.store, METRIC_SPANS_EXPORTED) - sampled;
  assert.ok(sampled > 30 && notSampled > 30 && kept > 10, `sampled ${sampled}, not sampled ${notSampled}, kept ${kept}`);
  assert.equal(counter(lean.store, METRIC_SPANS_EXPORTED, { reason: 'sampled' }), sampled);
  assert.deepEqual(full.tap.classes, { SpanImpl: 200 });
  assert.deepEqual(lean.tap.classes, { LeanSpan: 200 });
  // Every span's context (flags, trace state) as sdk-trace gave it.
  assert.deepEqual(lean.tap.contexts, full.tap.contexts);
  // The tenant on every span, both ways.
  assert.equal(lean.tap.withoutTenant, 0);
  assert.equal(full.tap.withoutTenant, 0);

  // Every metric point equal, counters and histograms, exemplars' series included.
  assert.deepEqual(await points(lean.store), await points(full.store));
  // errors_total names the escaped exception by its class, from a LeanSpan too.
  assert.equal(counter(lean.store, METRIC_ERRORS, { error_type: 'QuotaExceededError' }), 9);

  // Kept traces (errors, slow) are exported whole and equal to the SDK's spans, field by field.
  const a = exported(lean);
  const b = exported(full);
  assert.equal(a.length, sampled + kept);
  assert.deepEqual(a, b);
  assert.deepEqual(otlp(lean), otlp(full));
  for (const s of lean.exporter.getFinishedSpans()) {
    assert.equal(typeof s.attributes['tenant.id'], 'string', s.name);
    assert.equal(s.spanContext().traceFlags & TraceFlags.SAMPLED, TraceFlags.SAMPLED);
  }
  const keptSpans = lean.exporter.getFinishedSpans().filter((s) => s.attributes['tenantscope.kept_by'] !== undefined);
  assert.equal(keptSpans.length, kept);
  assert.ok(keptSpans.every((s) => Object.getPrototypeOf(Object.getPrototypeOf(s)) === LeanSpan.prototype));
  // Sampled spans reach the exporter as they are.
  const sampledSpans = lean.exporter.getFinishedSpans().filter((s) => s.attributes['tenantscope.kept_by'] === undefined);
  assert.equal(sampledSpans.length, sampled);
  assert.ok(sampledSpans.every((s) => s instanceof LeanSpan));
  // The render span of request 14 (an error trace: exported) set 130 attributes: 128 kept, 2 dropped, and the tenant
  // stamp at its end dropped too (the limit); the local-trace processor's final stamp writes tenant.id anyway.
  const big = lean.exporter.getFinishedSpans().filter((s) => s.attributes['extra.0'] !== undefined);
  assert.equal(big.length, 1);
  assert.equal(big[0].droppedAttributesCount, 3);
  assert.equal(Object.keys(big[0].attributes).filter((k) => k.startsWith('extra.')).length, 128);
  assert.equal(big[0].attributes['tenant.id'], 'acme'); // request 14 learns its tenant after its pg span ended
});

/**
 * A sampler that names its own trace state: the parent-based ratio decision, and for local roots it samples a
 * trace state `ts=<n>` and an attribute on every fourth span, so sdk-trace takes the sampler's trace state over the
 * parent's and adds the sampler's attributes.
 */
class TraceStateSampler implements Sampler {
  private _n = 0;
  private readonly _inner: Sampler;
  constructor(ratio: number) {
    this._inner = new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
  }
  shouldSample(ctx: Context, traceId: string, name: string, kind: SpanKind, attributes: Attributes, links: Link[]): SamplingResult {
    const r = this._inner.shouldSample(ctx, traceId, name, kind, attributes, links);
    const n = this._n++;
    if (n % 4 !== 0 || r.decision === SamplingDecision.NOT_RECORD) return r;
    return { decision: r.decision, traceState: new TraceState(`ts=${n}`), attributes: { 'sampler.rule': `r${n % 2}` } };
  }
  toString(): string {
    return 'TraceStateSampler';
  }
}

/**
 * Traffic that exercises every span field: remote parents (sampled and not, with a trace state), start attributes
 * that sdk-trace drops (empty key, a function, past the count limit), links at start and later (past the limit),
 * events with attributes and times (past the limit), exceptions of every shape, status with and without a message,
 * a span started as a root inside another, a parent whose span context is invalid, renames and attribute updates past
 * the limit.
 */
function richTraffic(p: Pipeline): void {
  const t = p.tracer;
  for (let i = 0; i < 40; i++) {
    const start = T0 + i * 10_000;
    let reqCtx: Context = ROOT_CONTEXT.setValue(TENANT_CONTEXT_KEY, new TenantCell(p.tenants, TENANTS[i % 3]));
    // A parent whose span context is invalid (an extraction that failed): a new trace, as with no parent.
    if (i % 8 === 3) reqCtx = trace.setSpanContext(reqCtx, INVALID_SPAN_CONTEXT);
    if (i % 4 === 1 || i % 4 === 2) {
      reqCtx = trace.setSpanContext(reqCtx, {
        traceId: `${(i + 1).toString(16).padStart(2, '0')}`.repeat(16),
        spanId: 'ab'.repeat(8),
        traceFlags: i % 4 === 1 ? TraceFlags.SAMPLED : TraceFlags.NONE,
        isRemote: true,
        traceState: new TraceState(`vendor=v${i}`),
      });
    }
    const startAttributes: Attributes = { 'http.request.method': 'POST', 'url.path': `/v1/jobs/${i}`, skip: undefined };
    if (i % 5 === 0) Object.assign(startAttributes, { '': 'no key', 'bad.fn': (() => i) as never, 'ok.array': ['a', 'b'] });
    if (i % 10 === 6) for (let k = 0; k < 130; k++) startAttributes[`start.${k}`] = k;
    const root = t.startSpan('POST', { kind: SpanKind.SERVER, startTime: start, attributes: startAttributes }, reqCtx);
    const inRoot = trace.setSpan(reqCtx, root);

    const links: Link[] = [{ context: root.spanContext(), attributes: { why: 'self', '': 'dropped' } }];
    if (i % 10 === 9) for (let k = 0; k < 130; k++) links.push({ context: root.spanContext(), attributes: { k } });
    const work = t.startSpan('work', { startTime: start + 1, links }, inRoot);
    work.addLink({ context: root.spanContext(), attributes: { later: true } });
    work.addLinks([{ context: root.spanContext() }, { context: root.spanContext(), attributes: { n: i } }]);
    work.addEvent('step', { 'step.n': i, 'step.nested': { a: 1 } as never, 'step.list': [1, 2] }, start + 2);
    work.addEvent('tick', start + 3);
    work.addEvent('tick', [Math.floor((start + 4) / 1000), ((start + 4) % 1000) * 1e6 + i]);
    if (i % 10 === 1) for (let k = 0; k < 130; k++) work.addEvent(`e${k}`, start + 5);
    if (i % 3 === 0) {
      const err = Object.assign(new Error('limit reached'), { code: i % 2 === 0 ? 'E_LIMIT' : 42 });
      work.recordException(err, start + 6);
    }
    if (i % 6 === 1) work.recordException('plain string failure', start + 7);
    if (i % 6 === 2) work.recordException({ name: 'NoMessage' } as never, start + 7);
    if (i % 6 === 3) work.recordException({} as never, start + 7);
    if (i % 4 === 0) work.setStatus({ code: SpanStatusCode.ERROR, message: `failed ${i}` });
    else if (i % 4 === 1) work.setStatus({ code: SpanStatusCode.ERROR, message: 42 as never });
    else if (i % 4 === 2) work.setStatus({ code: SpanStatusCode.OK, message: 'ignored' });
    if (i % 10 === 3) for (let k = 0; k < 130; k++) work.setAttribute(`late.${k}`, `v${k}`);
    work.setAttributes({ 'work.bytes': new Uint8Array([i, 1, 2]) as never, 'work.map': { deep: [i] } as never, 'work.flag': i % 2 === 0 });
    if (i % 7 === 0) work.updateName(`work-${i}`);
    work.end([Math.floor((start + 9) / 1000), ((start + 9) % 1000) * 1e6 + 123]);

    // A root span started inside the request: its own trace, decided by the root sampler.
    const detached = t.startSpan('audit', { root: true, kind: SpanKind.PRODUCER, startTime: start + 10 }, inRoot);
    detached.end(start + 11);

    root.setAttributes({ 'http.response.status_code': i % 4 === 0 ? 500 : 202, 'http.route': '/v1/jobs/:id' });
    root.end(start + (i % 10 === 5 ? 2600 : 40 + i));
  }
}

/** The rich traffic on a lean pipeline and then on an SDK one made by `make`, with the diag lines both logged. */
function richTrafficOnBoth(make: (lean: boolean) => Pipeline): { lean: Pipeline; full: Pipeline; lines: string[] } {
  const lean = make(true);
  const full = make(false);
  const log = new DiagLines().install();
  try {
    for (const p of [lean, full]) richTraffic(p);
  } finally {
    diag.disable();
  }
  return { lean, full, lines: log.take() };
}

for (const [label, ratio, custom] of [
  ['at 100%', 1, false],
  ['at a 50% ratio', 0.5, false],
  ['at 100% with a sampler that sets a trace state', 1, true],
  ['at a 50% ratio with a sampler that sets a trace state', 0.5, true],
] as const) {
  test(`sampled lean spans ${label}: sdk-trace's span contexts, metrics, exported spans and OTLP bytes, every span field covered`, async () => {
    const { lean, full, lines } = richTrafficOnBoth((l) => pipeline(l, ratio, custom ? new TraceStateSampler(ratio) : undefined));
    // The same warnings on both paths (invalid keys and values, dropped attributes, links, events), in the same order.
    assert.ok(lines.length > 0);
    assert.deepEqual(lines.slice(0, lines.length / 2), lines.slice(lines.length / 2));

    assert.deepEqual(full.tap.classes, { SpanImpl: 120 });
    assert.deepEqual(lean.tap.classes, { LeanSpan: 120 });
    assert.deepEqual(lean.tap.contexts, full.tap.contexts);
    const sampledContexts = lean.tap.contexts.filter((c) => c.traceFlags === TraceFlags.SAMPLED);
    if (ratio === 1) assert.equal(sampledContexts.length, 120 - 10 * 2); // the remote unsampled parents' traces
    else assert.ok(sampledContexts.length > 20 && sampledContexts.length < 100, `${sampledContexts.length} sampled`);

    assert.deepEqual(await points(lean.store), await points(full.store));
    const a = exported(lean);
    assert.ok(a.length >= sampledContexts.length);
    assert.deepEqual(a, exported(full));
    assert.deepEqual(otlp(lean), otlp(full));
    // What the traffic covers, on the exported lean spans.
    const spans = lean.exporter.getFinishedSpans();
    const has = (f: (s: ReadableSpan) => boolean): boolean => spans.some((s) => s instanceof LeanSpan && f(s));
    assert.ok(has((s) => s.droppedAttributesCount > 0 && s.kind === SpanKind.SERVER), 'start attributes dropped');
    assert.ok(has((s) => s.droppedLinksCount > 0), 'links dropped');
    assert.ok(has((s) => s.droppedEventsCount > 0), 'events dropped');
    assert.ok(has((s) => s.events.some((e) => e.name === 'exception')), 'exceptions');
    assert.ok(has((s) => s.status.code === SpanStatusCode.ERROR && s.status.message !== undefined), 'status message');
    assert.ok(has((s) => s.parentSpanContext?.isRemote === true), 'remote parent');
    if (custom) assert.ok(has((s) => s.attributes['sampler.rule'] !== undefined), "sampler's attributes");
    // Trace states (last: reading one parses it, which deepEqual would see): the remote parent's, and with the custom
    // sampler the sampler's too.
    assert.ok(lean.tap.contexts.some((c) => c.traceFlags === TraceFlags.SAMPLED && c.traceState?.get('vendor') !== undefined));
    assert.equal(
      lean.tap.contexts.some((c) => c.traceFlags === TraceFlags.SAMPLED && c.traceState?.get('ts') !== undefined),
      custom
    );
  });
}

for (const ratio of [1, 0]) {
  test(`with sdk-trace's own random ids (${ratio === 1 ? 'sampled' : 'not sampled'}), lean spans name the same parents and traces as SDK spans`, async () => {
    // The ids differ run to run; which span is whose parent, which spans share a trace, and everything else do not.
    // sdk-trace's RandomIdGenerator makes valid ids, so a lean parent's span context is not checked again.
    const { lean, full } = richTrafficOnBoth((l) => pipeline(l, ratio, undefined, null));
    assert.deepEqual(lean.tap.classes, { LeanSpan: 120 });
    const contexts = (p: Pipeline): unknown => renumbered(p.tap.contexts.map((c) => ({ traceId: c.traceId, spanId: c.spanId, traceFlags: c.traceFlags })));
    assert.deepEqual(contexts(lean), contexts(full));
    // 40 requests: 10 with a remote parent per trace id (20), the other 20 new traces, each with a detached root.
    assert.equal(new Set(lean.tap.contexts.map((c) => c.traceId)).size, 80);
    assert.deepEqual(await points(lean.store), await points(full.store));
    const a = exported(lean, false);
    // Sampled: all but the remote unsampled parents' 20. Not sampled: the remote sampled parents' 20 and the kept traces,
    // 20 with errors (every fourth request) and 4 slow ones.
    assert.equal(a.length, ratio === 1 ? 100 : 44);
    assert.deepEqual(renumbered(a), renumbered(exported(full, false)));
  });
}

test('with the clock read at start and end (no times given), lean and SDK spans get the same times and durations', async () => {
  const lean = pipeline(true);
  const full = pipeline(false);
  const realNow = Date.now;
  const realPerf = performance.now.bind(performance);
  try {
    for (const p of [lean, full]) {
      // A fake clock both pipelines read alike: wall clock in whole ms, the monotonic clock with fractions.
      let wall = 1_790_000_123_456;
      let mono = 5_000.123456;
      Date.now = () => wall;
      performance.now = () => mono;
      for (let i = 0; i < 40; i++) {
        const ctx = ROOT_CONTEXT.setValue(TENANT_CONTEXT_KEY, new TenantCell(p.tenants, TENANTS[i % 3]));
        const root = p.tracer.startSpan('GET', { kind: SpanKind.SERVER, attributes: { 'http.request.method': 'GET', 'url.path': '/v1/models' } }, ctx);
        mono += 0.25 + i * 37.123457;
        wall += 3;
        const child = p.tracer.startSpan('redis.get', { kind: SpanKind.CLIENT }, trace.setSpan(ctx, root));
        mono += 999.9999999 + i; // crosses a second, and rounds up to a whole second once
        child.end();
        root.setAttribute('http.response.status_code', i % 13 === 0 ? 503 : 200);
        if (i % 13 === 0) root.setStatus({ code: SpanStatusCode.ERROR });
        mono += i % 2 === 0 ? 2_500 : 1;
        root.end();
      }
    }
  } finally {
    Date.now = realNow;
    performance.now = realPerf;
  }
  assert.ok((lean.tap.classes.LeanSpan ?? 0) > 10);
  assert.deepEqual(await points(lean.store), await points(full.store));
  assert.deepEqual(exported(lean), exported(full));
  assert.ok(lean.exporter.getFinishedSpans().length > 20);
});

for (const ratio of [0, 1]) {
  test(`a lean span follows the SDK span (${ratio === 0 ? 'not sampled' : 'sampled'}): clock, ended-span warnings, status rules, events past the limit`, () => {
    const lean = pipeline(true, ratio);
    const full = pipeline(false, ratio);
    for (const p of [lean, full]) {
      const ctx = ROOT_CONTEXT.setValue(TENANT_CONTEXT_KEY, new TenantCell(p.tenants, 'acme'));
      const before = Date.now();
      const s = p.tracer.startSpan('work', {}, ctx);
      assert.equal(s.isRecording(), true);
      s.setStatus({ code: SpanStatusCode.OK });
      s.setStatus({ code: SpanStatusCode.ERROR, message: 'ignored after OK' });
      for (let k = 0; k < 130; k++) s.addEvent(`e${k}`);
      s.end();
      s.end();
      s.setAttribute('after', 1);
      assert.equal(s.isRecording(), false);
      const r = s as unknown as ReadableSpan;
      assert.equal(r.status.code, SpanStatusCode.OK);
      assert.equal(r.events.length, 128);
      assert.equal(r.events[0].name, 'e2');
      assert.equal(r.droppedEventsCount, 2);
      assert.equal(r.attributes.after, undefined);
      const startMs = r.startTime[0] * 1e3 + r.startTime[1] / 1e6;
      assert.ok(startMs >= before && startMs <= Date.now(), `${startMs} within [${before}, now]`);
      assert.ok(r.duration[0] === 0 && r.duration[1] >= 0 && r.duration[1] < 1e9);
      assert.deepEqual(
        [r.endTime[0] - r.startTime[0], r.endTime[1] - r.startTime[1]].reduce((x, y) => x * 1e9 + y),
        r.duration[0] * 1e9 + r.duration[1]
      );
    }
    assert.equal(lean.tap.classes.LeanSpan, 1);
    assert.equal(full.tap.classes.SpanImpl, 1);
    assert.deepEqual(lean.tap.contexts.map((c) => c.traceFlags), [ratio === 1 ? TraceFlags.SAMPLED : TraceFlags.NONE]);
  });
}

test('every tracer of a lean provider is lean; lean off gives SDK spans, recorded; suppressed tracing records nothing', () => {
  const lean = pipeline(true, 0);
  const s = lean.provider.getTracer('other').startSpan('x', {}, ROOT_CONTEXT.setValue(TENANT_CONTEXT_KEY, new TenantCell(lean.tenants, 'acme')));
  assert.ok(s instanceof LeanSpan);
  s.end();
  const quiet = lean.tracer.startSpan('q', {}, suppressTracing(ROOT_CONTEXT));
  assert.equal(quiet instanceof LeanSpan, false);
  assert.equal(quiet.isRecording(), false);
  quiet.end();
  const sampled = pipeline(true, 1).provider.getTracer('other').startSpan('z', {}, ROOT_CONTEXT);
  assert.ok(sampled instanceof LeanSpan);
  assert.equal(sampled.spanContext().traceFlags, TraceFlags.SAMPLED);
  sampled.end();
  const full = pipeline(false, 0);
  const u = full.provider.getTracer('other').startSpan('y', {}, ROOT_CONTEXT.setValue(TENANT_CONTEXT_KEY, new TenantCell(full.tenants, 'acme')));
  assert.equal(u instanceof LeanSpan, false);
  assert.equal(u.isRecording(), true);
  u.end();
  assert.equal(counter(lean.store, METRIC_SPANS_SEEN), 1);
  assert.equal(counter(full.store, METRIC_SPANS_SEEN), 1);
  assert.equal(full.tap.classes.SpanImpl, 1);
});

for (const ratio of [0, 1]) {
  test(`children of a lean span (${ratio === 0 ? 'not sampled' : 'sampled'}) are lean, share its trace id and flags and name it as their parent`, () => {
    const p = pipeline(true, ratio);
    const ctx = ROOT_CONTEXT.setValue(TENANT_CONTEXT_KEY, new TenantCell(p.tenants, 'acme'));
    p.tracer.startActiveSpan('parent', {}, ctx, (parent: ApiSpan) => {
      const child = p.tracer.startSpan('child');
      assert.ok(parent instanceof LeanSpan && child instanceof LeanSpan);
      assert.equal(child.spanContext().traceId, parent.spanContext().traceId);
      assert.equal((child as unknown as ReadableSpan).parentSpanContext?.spanId, parent.spanContext().spanId);
      assert.equal(parent.spanContext().traceFlags, ratio === 1 ? TraceFlags.SAMPLED : TraceFlags.NONE);
      assert.equal(child.spanContext().traceFlags, parent.spanContext().traceFlags);
      child.end();
      parent.end();
    });
    assert.equal(p.tap.classes.LeanSpan, 2);
    if (ratio === 0) assert.equal(counter(p.store, METRIC_SPANS_DROPPED, { reason: 'not_sampled' }), 2);
    else assert.equal(counter(p.store, METRIC_SPANS_EXPORTED, { reason: 'sampled' }), 2);
    assert.equal(p.exporter.getFinishedSpans().length, ratio === 1 ? 2 : 0);
  });
}

test('building a lean span that throws gives the app a non-recording span, one log line, and the next span is lean', () => {
  const p = pipeline(true, 0);
  const log = new DiagLines().install();
  const fault = throwOnce(LeanTracer.prototype, '_lean');
  try {
    const ctx = ROOT_CONTEXT.setValue(TENANT_CONTEXT_KEY, new TenantCell(p.tenants, 'acme'));
    const lost = p.tracer.startSpan('lost', {}, ctx);
    assert.equal(fault.fired, 1);
    assert.equal(lost.isRecording(), false);
    lost.setAttribute('a', 1);
    lost.end();
    const next = p.tracer.startSpan('next', {}, ctx);
    assert.ok(next instanceof LeanSpan);
    next.end();
    assert.deepEqual(log.take(), ['tenantscope: a span was not recorded: Error: injected fault']);
    assert.equal(counter(p.store, METRIC_SPANS_SEEN), 1);
    assert.equal(p.tap.classes.LeanSpan, 1);
  } finally {
    fault.restore();
    diag.disable();
  }
});

test('a sampled span whose lean span throws gives the app a non-recording span that still says sampled', () => {
  const p = pipeline(true, 1);
  const log = new DiagLines().install();
  const fault = throwOnce(LeanTracer.prototype, '_lean');
  try {
    const ctx = ROOT_CONTEXT.setValue(TENANT_CONTEXT_KEY, new TenantCell(p.tenants, 'acme'));
    const lost = p.tracer.startSpan('lost', {}, ctx);
    assert.equal(fault.fired, 1);
    assert.equal(lost.isRecording(), false);
    // Its children (and the requests it makes) carry the sampler's decision on.
    assert.equal(lost.spanContext().traceFlags, TraceFlags.SAMPLED);
    const child = p.tracer.startSpan('child', {}, trace.setSpan(ctx, lost));
    assert.ok(child instanceof LeanSpan);
    assert.equal(child.spanContext().traceFlags, TraceFlags.SAMPLED);
    assert.equal(child.spanContext().traceId, lost.spanContext().traceId);
    child.end();
    lost.end();
    // Said once per process (warnOnce), by the test above.
    assert.deepEqual(log.take(), []);
    assert.equal(counter(p.store, METRIC_SPANS_SEEN), 1);
  } finally {
    fault.restore();
    diag.disable();
  }
});

test('a sampler that throws gives the app a non-recording span with no context, and the next span is lean', () => {
  let fail = true;
  const inner = new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(1) });
  const flaky: Sampler = {
    shouldSample(...args: Parameters<Sampler['shouldSample']>): SamplingResult {
      if (fail) {
        fail = false;
        throw new Error('sampler fault');
      }
      return inner.shouldSample(...args);
    },
    toString: () => 'flaky',
  };
  const p = pipeline(true, 1, flaky);
  const log = new DiagLines().install();
  try {
    const ctx = ROOT_CONTEXT.setValue(TENANT_CONTEXT_KEY, new TenantCell(p.tenants, 'acme'));
    const lost = p.tracer.startSpan('lost', {}, ctx);
    assert.equal(lost.isRecording(), false);
    assert.deepEqual(lost.spanContext(), INVALID_SPAN_CONTEXT);
    lost.end();
    const next = p.tracer.startSpan('next', {}, ctx);
    assert.ok(next instanceof LeanSpan);
    assert.equal(next.spanContext().traceFlags, TraceFlags.SAMPLED);
    next.end();
    // Said once per process (warnOnce), by the fault tests above.
    assert.deepEqual(log.take(), []);
    assert.equal(counter(p.store, METRIC_SPANS_SEEN), 1);
  } finally {
    diag.disable();
  }
});

test('links given as null are no links, as sdk-trace reads them', () => {
  for (const lean of [true, false]) {
    const p = pipeline(lean, 1);
    const s = p.tracer.startSpan('x', { links: null as never }, ROOT_CONTEXT);
    assert.equal(s instanceof LeanSpan, lean);
    assert.equal(s.isRecording(), true);
    s.end();
    assert.deepEqual((s as unknown as ReadableSpan).links, []);
    assert.equal(counter(p.store, METRIC_SPANS_SEEN), 1);
  }
});
