/**
 * RED processor cost per span (issue 2: target ≤ 300 ns/span on these machines).
 *
 * Spans are real SDK spans: started and ended on a real `TracerProvider` that runs tenantscope's
 * `TenantSpanProcessor` (so each span carries its request's tenant cell and a stamped `tenant.id`, exactly what
 * `onEnd` sees in production), collected once, then fed through `onEnd` in timed rounds. Building the spans is
 * outside the timed region. Pools: 1,000 tenants × 20 routes, methods and a status mix (2xx, 4xx, 5xx with an
 * exception event, route-less 404s), plus two client spans per request (PostgreSQL and Redis).
 *
 * Baselines in the same run and on the same spans:
 * - loop only: the timing loop calling an empty `onEnd` (what "no instrumentation" costs here);
 * - sdk-metrics, minimal: per span one `counter.add` + one `histogram.record` with the five spanmetrics attributes;
 * - sdk-metrics, same job: what a plain upstream processor would do to produce both of tenantscope's families
 *   (spanmetrics for every span, seed RED counter + duration + size histograms for HTTP server spans).
 *   It does less than tenantscope (no endpoint folding, no tenant admission), which only flatters it.
 *
 * Run alone: `npx node --expose-gc build/bench/processor.bench.js`.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Counter, type Histogram } from '@opentelemetry/api';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { RedMetricsSpanProcessor } from '../processors/RedMetricsSpanProcessor';
import { TenantSpanProcessor } from '../processors/TenantSpanProcessor';
import { EndpointNormalizer } from '../src/core/EndpointNormalizer';
import { MetricStore } from '../src/core/metrics/MetricStore';
import { METRIC_SPAN_DURATION, METRIC_HTTP_REQUEST_DURATION, METRIC_HTTP_REQUEST_SIZE } from '../src/core/semconv';
import { TENANT_CONTEXT_KEY, TenantCell, tenantCellOf } from '../src/core/tenant/TenantCell';
import { useTenantApi } from '../test/helpers/tenant';
import { TenantRegistry } from '../src/core/tenant/TenantRegistry';
import { CollectingProcessor, NoopReader, emit, gc, median, prng, type BenchRow } from './harness';

const TENANTS = Number(process.env.BENCH_TENANTS ?? 1000);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const SERVICE = 'chat-service';

/** 20 routes of a chat API, with the method each is called with. */
const ROUTES: ReadonlyArray<readonly [string, string]> = [
  ['GET', '/v1/conversations'],
  ['POST', '/v1/conversations'],
  ['GET', '/v1/conversations/:conversationId'],
  ['DELETE', '/v1/conversations/:conversationId'],
  ['GET', '/v1/conversations/:conversationId/messages'],
  ['POST', '/v1/conversations/:conversationId/messages'],
  ['POST', '/v1/chat/completions'],
  ['POST', '/v1/chat/stream'],
  ['GET', '/v1/models'],
  ['GET', '/v1/models/:modelId'],
  ['POST', '/v1/embeddings'],
  ['GET', '/v1/usage'],
  ['GET', '/v1/usage/:period'],
  ['GET', '/v1/users/me'],
  ['PATCH', '/v1/users/me'],
  ['POST', '/v1/feedback'],
  ['GET', '/v1/prompts'],
  ['PUT', '/v1/prompts/:promptId'],
  ['GET', '/healthz'],
  ['POST', '/v1/files'],
];
const PG_NAMES = ['SELECT chat', 'INSERT chat', 'UPDATE chat', 'SELECT chat_usage', 'DELETE chat'];
const REDIS_NAMES = ['GET', 'SET', 'EXPIRE'];
const KIND_NAMES = ['SPAN_KIND_INTERNAL', 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT', 'SPAN_KIND_PRODUCER', 'SPAN_KIND_CONSUMER'];
const STATUS_NAMES = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];

/**
 * Picks tenant indexes: uniformly, or with Zipf(s) popularity (rank k has weight 1/k^s), the usual shape of
 * multi-tenant traffic where a few tenants send most requests.
 */
function tenantPicker(rand: () => number, zipf: number | undefined): () => number {
  if (zipf === undefined) return () => Math.floor(rand() * TENANTS);
  const cdf: number[] = [];
  let total = 0;
  for (let k = 1; k <= TENANTS; k++) cdf.push((total += 1 / Math.pow(k, zipf)));
  return () => {
    const x = rand() * total;
    let lo = 0;
    let hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/** Builds `REQUESTS` requests' worth of ended spans (server + pg + redis each). */
export function buildSpans(registry: TenantRegistry, zipf?: number): ReadableSpan[] {
  const rand = prng(42);
  const pickTenant = tenantPicker(rand, zipf);
  const collector = new CollectingProcessor();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': SERVICE }),
    spanProcessors: [new TenantSpanProcessor(), collector],
  });
  const tracer = provider.getTracer('bench');
  useTenantApi(registry);
  const tenantContexts: Context[] = [];
  for (let t = 0; t < TENANTS; t++) {
    tenantContexts.push(ROOT_CONTEXT.setValue(TENANT_CONTEXT_KEY, new TenantCell(registry, `tenant-${String(t).padStart(4, '0')}`)));
  }
  let clock = Date.now() - 3_600_000;
  for (let i = 0; i < REQUESTS; i++) {
    const ctx = tenantContexts[pickTenant()];
    const [method, route] = ROUTES[Math.floor(rand() * ROUTES.length)];
    const roll = rand();
    // Status mix: 91% success, 3% 400, 1% 429, 2% route-less 404 (scanners), 3% 500 with an exception.
    let status = method === 'POST' ? 201 : 200;
    if (roll > 0.97) status = 500;
    else if (roll > 0.95) status = 404;
    else if (roll > 0.94) status = 429;
    else if (roll > 0.91) status = 400;
    const path = route.replace(/:[A-Za-z]+/g, () => `c${Math.floor(rand() * 1e9)}x`);
    const start = (clock += 3);
    const serverMs = 5 + rand() * (route.includes('chat') ? 3000 : 200);
    const server = tracer.startSpan(
      `${method} ${status === 404 ? '' : route}`.trim(),
      {
        kind: SpanKind.SERVER,
        startTime: start,
        attributes: {
          'http.request.method': method,
          'url.path': status === 404 ? `/wp-admin/${Math.floor(rand() * 1e6)}.php` : path,
          'url.scheme': 'http',
          'server.address': 'chat.internal',
          'server.port': 8080,
          'network.protocol.version': '1.1',
          'user_agent.original': 'bench/1.0',
          'client.address': '10.0.0.7',
          ...(method === 'POST' || method === 'PUT' || method === 'PATCH'
            ? { 'http.request.body.size': Math.floor(rand() * 20_000) }
            : {}),
        },
      },
      ctx
    );
    const child = trace.setSpan(ctx, server);
    const pg = tracer.startSpan(
      PG_NAMES[Math.floor(rand() * PG_NAMES.length)],
      {
        kind: SpanKind.CLIENT,
        startTime: start + 1,
        attributes: {
          'db.system.name': 'postgresql',
          'db.namespace': 'chat',
          'db.operation.name': 'SELECT',
          'db.query.text': 'SELECT * FROM messages WHERE conversation_id = $1',
          'server.address': 'pg.internal',
          'server.port': 5432,
        },
      },
      child
    );
    pg.end(start + 1 + rand() * 20);
    const redis = tracer.startSpan(
      REDIS_NAMES[Math.floor(rand() * REDIS_NAMES.length)],
      {
        kind: SpanKind.CLIENT,
        startTime: start + 2,
        attributes: { 'db.system.name': 'redis', 'db.query.text': 'GET ?', 'server.address': 'redis.internal', 'server.port': 6379 },
      },
      child
    );
    redis.end(start + 2 + rand() * 2);
    if (status !== 404) server.setAttribute('http.route', route);
    server.setAttribute('http.response.status_code', status);
    if (status >= 500) {
      server.recordException({ name: 'UpstreamTimeoutError', message: 'model provider timed out' });
      server.setAttribute('error.type', '500');
      server.setStatus({ code: SpanStatusCode.ERROR });
    }
    server.end(start + serverMs);
  }
  return collector.spans;
}

/**
 * tenantscope's processor as `sdk.ts` builds it, at default limits, traces exported (so with exemplars; every span
 * here is sampled, so every span writes one: the worst case). `BENCH_EXEMPLARS=false` measures without them.
 */
export function tenantscopeProcessor(registry: TenantRegistry): RedMetricsSpanProcessor {
  return new RedMetricsSpanProcessor({
    store: new MetricStore(resourceFromAttributes({ 'service.name': SERVICE })),
    tenants: registry,
    endpoints: new EndpointNormalizer({ maxEndpoints: 200 }),
    serviceName: SERVICE,
    maxSpanNames: 500,
    maxErrorTypes: 100,
    exemplars: process.env.BENCH_EXEMPLARS !== 'false',
  });
}

function sdkMeterProvider(): MeterProvider {
  // Raise the per-instrument cardinality limit (default 2,000) so the baseline aggregates every series as
  // tenantscope does, instead of folding most of them into one overflow series.
  return new MeterProvider({ readers: [new NoopReader()], views: [{ instrumentName: '*', aggregationCardinalityLimit: 1_000_000 }] });
}

/** Per span: one `counter.add` + one `histogram.record` with the five spanmetrics attributes. */
function sdkMinimalProcessor(): (span: ReadableSpan) => void {
  const meter = sdkMeterProvider().getMeter('baseline');
  const calls = meter.createCounter('traces.span.metrics.calls');
  const duration = meter.createHistogram('traces.span.metrics.duration', {
    unit: 'ms',
    advice: { explicitBucketBoundaries: [...(METRIC_SPAN_DURATION.boundaries as number[])] },
  });
  return (span) => {
    const d = span.duration;
    const attrs: Attributes = {
      'service.name': SERVICE,
      'span.name': span.name,
      'span.kind': KIND_NAMES[span.kind],
      'status.code': STATUS_NAMES[span.status.code],
      'tenant.id': span.attributes['tenant.id'],
    };
    calls.add(1, attrs);
    duration.record(d[0] * 1e3 + d[1] / 1e6, attrs);
  };
}

/** The same two families tenantscope produces, with plain instruments. */
function sdkSameJobProcessor(): (span: ReadableSpan) => void {
  const meter = sdkMeterProvider().getMeter('baseline');
  const calls: Counter = meter.createCounter('traces.span.metrics.calls');
  const spanDuration: Histogram = meter.createHistogram('traces.span.metrics.duration', {
    unit: 'ms',
    advice: { explicitBucketBoundaries: [...(METRIC_SPAN_DURATION.boundaries as number[])] },
  });
  const requests: Counter = meter.createCounter('http_requests');
  const errors: Counter = meter.createCounter('errors');
  const reqDuration: Histogram = meter.createHistogram('http_request_duration_seconds', {
    unit: 's',
    advice: { explicitBucketBoundaries: [...(METRIC_HTTP_REQUEST_DURATION.boundaries as number[])] },
  });
  const reqSize: Histogram = meter.createHistogram('http_request_size_bytes', {
    unit: 'By',
    advice: { explicitBucketBoundaries: [...(METRIC_HTTP_REQUEST_SIZE.boundaries as number[])] },
  });
  return (span) => {
    const a = span.attributes;
    const d = span.duration;
    const ms = d[0] * 1e3 + d[1] / 1e6;
    const tenant = a['tenant.id'] ?? 'unknown';
    const sm: Attributes = {
      'service.name': SERVICE,
      'span.name': span.name,
      'span.kind': KIND_NAMES[span.kind],
      'status.code': STATUS_NAMES[span.status.code],
      'tenant.id': tenant,
    };
    calls.add(1, sm);
    spanDuration.record(ms, sm);
    if (span.kind !== SpanKind.SERVER) return;
    if (span.status.code === SpanStatusCode.ERROR) {
      errors.add(1, { error_type: a['error.type'] ?? '_OTHER', service: SERVICE, tenant_id: tenant });
    }
    const method = a['http.request.method'];
    if (typeof method !== 'string') return;
    const endpoint = a['http.route'] ?? 'unmatched';
    requests.add(1, { method, endpoint, status: String(a['http.response.status_code']), tenant_id: tenant, service: SERVICE });
    reqDuration.record(ms / 1000, { method, endpoint, tenant_id: tenant, service: SERVICE });
    const size = a['http.request.body.size'];
    if (typeof size === 'number') reqSize.record(size, { method, endpoint, service: SERVICE });
  };
}

/**
 * Reads the span fields `onEnd` reads (name, kind, status, duration, the HTTP attributes, the tenant cell link),
 * bringing the span into the CPU cache as `span.end()` has just done in production when processors run.
 */
function touch(span: ReadableSpan): number {
  const a = span.attributes;
  let x = span.kind + span.status.code + span.duration[1] + span.name.length;
  if (a['http.request.method'] !== undefined) x++;
  if (a['http.response.status_code'] !== undefined) x++;
  if (a['http.route'] !== undefined) x++;
  if (a['url.path'] !== undefined) x++;
  if (a['http.request.body.size'] !== undefined) x++;
  if (tenantCellOf(span) !== undefined) x++;
  return x;
}

let sink = 0;

/** Wall-clock and main-thread CPU time of one round, in ns per span. */
interface Timing {
  readonly wall: number;
  readonly cpu: number;
}

/**
 * Feeds every span through `fn` once. Wall time is `process.hrtime.bigint()`; CPU time is this thread's
 * (`process.threadCpuUsage`), which stays honest when other processes share the machine's two cores.
 */
function timeRound(spans: readonly ReadableSpan[], fn: (span: ReadableSpan) => void, hot: boolean): Timing {
  const c0 = process.threadCpuUsage();
  const t0 = process.hrtime.bigint();
  if (hot) {
    for (let i = 0; i < spans.length; i++) {
      sink += touch(spans[i]);
      fn(spans[i]);
    }
  } else {
    for (let i = 0; i < spans.length; i++) fn(spans[i]);
  }
  const wall = Number(process.hrtime.bigint() - t0);
  const c = process.threadCpuUsage(c0);
  return { wall: wall / spans.length, cpu: ((c.user + c.system) * 1000) / spans.length };
}

interface Case {
  readonly name: string;
  readonly fn: (span: ReadableSpan) => void;
  readonly cold: Timing[];
  readonly hot: Timing[];
  first?: Timing;
}

export function main(): void {
  const registry = new TenantRegistry({ maxTenants: TENANTS });
  const spans = buildSpans(registry);
  const server = spans.filter((s) => s.kind === SpanKind.SERVER).length;

  const ours = tenantscopeProcessor(registry);
  const noop = (): void => {};
  const cases: Case[] = [
    { name: 'no instrumentation', fn: noop, cold: [], hot: [] },
    { name: 'tenantscope RedMetricsSpanProcessor.onEnd', fn: (s) => ours.onEnd(s), cold: [], hot: [] },
    { name: 'sdk-metrics minimal (add + record, 5 attrs)', fn: sdkMinimalProcessor(), cold: [], hot: [] },
    { name: 'sdk-metrics same job (spanmetrics + RED)', fn: sdkSameJobProcessor(), cold: [], hot: [] },
  ];
  // BENCH_ONLY=tenantscope runs one case, for `--cpu-prof`.
  if (process.env.BENCH_ONLY === 'tenantscope') cases.splice(2, 2);
  // First pass creates every series (cold cost, reported separately); the next two warm the JIT.
  for (const c of cases) {
    gc();
    c.first = timeRound(spans, c.fn, false);
    timeRound(spans, c.fn, false);
    timeRound(spans, c.fn, true);
  }
  // Interleaved rounds, so drift (other load on the machine) hits every case alike.
  const budgetEnd = Date.now() + Number(process.env.BENCH_SECONDS ?? 30) * 1000;
  for (let r = 0; r < ROUNDS && Date.now() < budgetEnd; r++) {
    for (const c of cases) {
      gc();
      c.hot.push(timeRound(spans, c.fn, true));
      gc();
      c.cold.push(timeRound(spans, c.fn, false));
    }
  }
  // The same pool with Zipf(1) tenant popularity instead of uniform: tenantscope and sdk-metrics minimal,
  // spans from memory, fewer rounds.
  const zipfSpans = buildSpans(registry, 1);
  const oursZipf = tenantscopeProcessor(registry);
  const zipfCases: Case[] = [
    { name: 'tenantscope RedMetricsSpanProcessor.onEnd', fn: (s) => oursZipf.onEnd(s), cold: [], hot: [] },
    { name: 'sdk-metrics minimal (add + record, 5 attrs)', fn: sdkMinimalProcessor(), cold: [], hot: [] },
  ];
  if (process.env.BENCH_ONLY === 'tenantscope') zipfCases.splice(1, 1);
  for (const c of zipfCases) for (let i = 0; i < 3; i++) timeRound(zipfSpans, c.fn, false);
  for (let r = 0; r < Math.min(ROUNDS, 5); r++) {
    for (const c of zipfCases) {
      gc();
      c.cold.push(timeRound(zipfSpans, c.fn, false));
    }
  }

  const rounds = cases[0].hot.length;
  const base = cases[0];
  // In cache: (touch + onEnd) − touch, per round, then the median. CPU time is the headline (see timeRound).
  const hot = (c: Case, k: keyof Timing): number => median(c.hot.map((v, r) => v[k] - base.hot[r][k]));
  const cold = (c: Case, k: keyof Timing): number => median(c.cold.map((v) => v[k]));
  const oursHot = hot(cases[1], 'cpu');
  const oursCold = cold(cases[1], 'cpu');
  const rows: BenchRow[] = [];
  for (let i = 1; i < cases.length; i++) {
    const v = hot(cases[i], 'cpu');
    rows.push({
      bench: 'processor',
      case: `${cases[i].name} — span in cache`,
      value: v,
      unit: 'ns/span',
      ...(i === 1 ? {} : { ratio: v / oursHot, ratioTo: 'of tenantscope' }),
      note: `wall ${hot(cases[i], 'wall').toFixed(0)}`,
    });
  }
  rows.push({
    bench: 'processor',
    case: 'reading the span fields only — spans from memory',
    value: median(base.hot.map((v) => v.cpu)) - cold(base, 'cpu'),
    unit: 'ns/span',
  });
  for (let i = 1; i < cases.length; i++) {
    const v = cold(cases[i], 'cpu');
    rows.push({
      bench: 'processor',
      case: `${cases[i].name} — spans from memory`,
      value: v,
      unit: 'ns/span',
      ...(i === 1 ? {} : { ratio: v / oursCold, ratioTo: 'of tenantscope' }),
      note: `wall ${cold(cases[i], 'wall').toFixed(0)}`,
    });
  }
  const zipfOurs = median(zipfCases[0].cold.map((v) => v.cpu));
  for (let i = 0; i < zipfCases.length; i++) {
    const v = median(zipfCases[i].cold.map((t) => t.cpu));
    rows.push({
      bench: 'processor',
      case: `${zipfCases[i].name} — Zipf(1) tenants, spans from memory`,
      value: v,
      unit: 'ns/span',
      ...(i === 0 ? {} : { ratio: v / zipfOurs, ratioTo: 'of tenantscope' }),
      note: `wall ${median(zipfCases[i].cold.map((t) => t.wall)).toFixed(0)}`,
    });
  }
  rows.push({ bench: 'processor', case: 'tenantscope first pass (creates the series)', value: cases[1].first?.cpu ?? 0, unit: 'ns/span' });
  emit({
    title:
      `RED processor onEnd: ${spans.length.toLocaleString('en-US')} spans (${server.toLocaleString('en-US')} HTTP server + as many pg + redis), ` +
      `${TENANTS} tenants × ${ROUTES.length} routes, median of ${rounds} interleaved rounds`,
    rows,
    notes: [
      `target (issue 2): ≤ 300 ns/span with the span in cache (as when span.end() calls onEnd): ` +
        `tenantscope ${oursHot.toFixed(0)} ns/span CPU → ${oursHot <= 300 ? 'met' : 'MISSED'}`,
      `"span in cache" = per round, (read the span's fields, then onEnd) minus (read the span's fields) over the same spans`,
      `"spans from memory" = onEnd streaming through ${spans.length.toLocaleString('en-US')} pre-built spans that are not in the CPU cache`,
      `values are main-thread CPU ns/span (process.threadCpuUsage), medians; wall-clock (process.hrtime.bigint) medians in the notes column`,
      `tenantscope per-round CPU ns/span in cache: ${cases[1].hot.map((v, r) => (v.cpu - base.hot[r].cpu).toFixed(0)).join(', ')}`,
      `tenants admitted: ${registry.admittedCount}; sink ${sink > 0 ? 'ok' : '0'}`,
    ],
  });
}

if (require.main === module) main();
