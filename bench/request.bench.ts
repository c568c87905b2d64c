/**
 * Every metric processor at once, per request (issue 8: target ≤ 1 µs for a request's spans in all).
 *
 * A request's realistic span mix: one HTTP server span, two PostgreSQL query spans (parameterised statements over a
 * handful of tables), three Redis spans (two cache reads marked hit or miss by the read hook's attributes, one SET),
 * one model-call span with its `ModelCall` record: 7 spans. Real SDK spans started under 1,000 tenants' contexts on a
 * real `TracerProvider` running `TenantSpanProcessor`, built before timing starts, then fed request by request
 * through each case's `onEnd`s, as `LocalTraceSpanProcessor` hands a decided local trace to the metric processors.
 *
 * Cases, in the same run on the same spans: the loop alone; each processor alone (RED, model usage, dependencies);
 * today's pipeline before issue 8 (RED + model usage, each span through both); and every processor at once (RED +
 * model usage + dependencies). Each with the spans in the CPU cache (read just before, as after `span.end()`) and
 * streamed from memory. Values are main-thread CPU ns per request, medians of interleaved rounds.
 *
 * Run alone: `npx node --expose-gc build/bench/request.bench.js`.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { TracerProvider, type ReadableSpan, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { DependencyMetricsSpanProcessor } from '../processors/DependencyMetricsSpanProcessor';
import { ModelUsageSpanProcessor } from '../processors/ModelUsageSpanProcessor';
import { RedMetricsSpanProcessor } from '../processors/RedMetricsSpanProcessor';
import { TenantSpanProcessor } from '../processors/TenantSpanProcessor';
import { CacheMetrics } from '../src/core/cache/CacheMetrics';
import { CacheTypes } from '../src/core/cache/CacheTypes';
import { EndpointNormalizer } from '../src/core/EndpointNormalizer';
import { IntegrationPolicy } from '../src/core/IntegrationPolicy';
import { MetricStore } from '../src/core/metrics/MetricStore';
import { ModelCall, modelCallOf, setModelCall } from '../src/core/ModelCall';
import { HostPolicy } from '../src/core/tenant/HostPolicy';
import { ModelEndpointPolicy } from '../src/core/tenant/ModelEndpointPolicy';
import { TENANT_CONTEXT_KEY, TenantCell, tenantCellOf } from '../src/core/tenant/TenantCell';
import { TenantRegistry } from '../src/core/tenant/TenantRegistry';
import { useTenantApi } from '../test/helpers/tenant';
import { CollectingProcessor, emit, gc, median, prng, type BenchRow } from './harness';

const TENANTS = Number(process.env.BENCH_TENANTS ?? 1000);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const SPANS_PER_REQUEST = 7;
const SERVICE = 'chat-service';
const ROUTES: ReadonlyArray<readonly [string, string]> = [
  ['GET', '/v1/conversations'],
  ['POST', '/v1/conversations'],
  ['GET', '/v1/conversations/:conversationId'],
  ['GET', '/v1/conversations/:conversationId/messages'],
  ['POST', '/v1/conversations/:conversationId/messages'],
  ['POST', '/v1/chat/completions'],
  ['POST', '/v1/chat/stream'],
  ['GET', '/v1/models'],
  ['POST', '/v1/embeddings'],
  ['GET', '/v1/usage'],
  ['GET', '/v1/users/me'],
  ['PATCH', '/v1/users/me'],
  ['POST', '/v1/feedback'],
  ['GET', '/v1/prompts'],
  ['PUT', '/v1/prompts/:promptId'],
  ['GET', '/healthz'],
  ['POST', '/v1/files'],
  ['DELETE', '/v1/conversations/:conversationId'],
  ['GET', '/v1/usage/:period'],
  ['GET', '/v1/models/:modelId'],
];
const STATEMENTS = [
  'SELECT id, title FROM conversations WHERE id = $1 AND tenant_id = $2',
  'SELECT role, body FROM messages WHERE conversation_id = $1 ORDER BY id',
  'INSERT INTO messages (conversation_id, role, body) VALUES ($1, $2, $3)',
  'UPDATE conversations SET updated_at = now() WHERE id = $1',
  'SELECT plan, quota FROM tenants WHERE id = $1',
  'SELECT count(*) FROM usage_events WHERE tenant_id = $1 AND at > $2',
  'INSERT INTO usage_events (tenant_id, tokens) VALUES ($1, $2)',
  'SELECT name FROM users WHERE id = $1',
];
const CACHE_TYPES = ['conversation_context', 'user_session', 'model_response', 'tenant_config'];
const MODELS: ReadonlyArray<readonly ['openai' | 'anthropic', string, string]> = [
  ['openai', 'gpt-4o', 'gpt-4o-2024-08-06'],
  ['openai', 'gpt-4o-mini', 'gpt-4o-mini-2024-07-18'],
  ['anthropic', 'claude-sonnet-4-5', 'claude-sonnet-4-5-20250929'],
];

/** REQUESTS requests of 7 spans each, in the order their local traces hand them on (children first, server last). */
function buildRequests(registry: TenantRegistry): ReadableSpan[][] {
  const rand = prng(8);
  const collector = new CollectingProcessor();
  const provider = new TracerProvider({ resource: resourceFromAttributes({ 'service.name': SERVICE }), spanProcessors: [new TenantSpanProcessor(), collector] });
  const tracer = provider.getTracer('bench');
  useTenantApi(registry);
  const contexts: Context[] = [];
  for (let t = 0; t < TENANTS; t++) contexts.push(ROOT_CONTEXT.setValue(TENANT_CONTEXT_KEY, new TenantCell(registry, `tenant-${String(t).padStart(4, '0')}`)));
  const requests: ReadableSpan[][] = [];
  let clock = Date.now() - 3_600_000;
  for (let i = 0; i < REQUESTS; i++) {
    const ctx = contexts[Math.floor(rand() * TENANTS)];
    const [method, route] = ROUTES[Math.floor(rand() * ROUTES.length)];
    const status = rand() < 0.03 ? 500 : method === 'POST' ? 201 : 200;
    const start = (clock += 3);
    const server = tracer.startSpan(
      `${method} ${route}`,
      {
        kind: SpanKind.SERVER,
        startTime: start,
        attributes: {
          'http.request.method': method,
          'url.path': route.replace(/:[A-Za-z]+/g, () => String(Math.floor(rand() * 1e6))),
          'url.scheme': 'http',
          'server.address': 'chat.internal',
          'server.port': 8080,
          'network.protocol.version': '1.1',
        },
      },
      ctx
    );
    const child = trace.setSpan(ctx, server);
    const first = collector.spans.length;
    for (let q = 0; q < 2; q++) {
      const text = STATEMENTS[Math.floor(rand() * STATEMENTS.length)];
      const s = tracer.startSpan(
        `pg.query:${text.slice(0, text.indexOf(' '))} chat`,
        {
          kind: SpanKind.CLIENT,
          startTime: start + 1,
          attributes: { 'db.system.name': 'postgresql', 'db.namespace': 'chat', 'db.query.text': text, 'server.address': 'pg.internal', 'server.port': 5432 },
        },
        child
      );
      s.end(start + 1 + rand() * (rand() < 0.01 ? 1500 : 20));
    }
    for (let r = 0; r < 3; r++) {
      const read = r < 2;
      const type = CACHE_TYPES[Math.floor(rand() * CACHE_TYPES.length)];
      const s = tracer.startSpan(
        read ? 'get' : 'set',
        {
          kind: SpanKind.CLIENT,
          startTime: start + 2,
          attributes: {
            'db.system.name': 'redis',
            'db.operation.name': read ? 'get' : 'set',
            'db.query.text': read ? `get ${type}:42` : `set ${type}:42 [1 other arguments]`,
            'server.address': 'redis.internal',
            'server.port': 6379,
            ...(read ? { 'cache.type': type, 'cache.hit': rand() < 0.7 } : {}),
          },
        },
        child
      );
      s.end(start + 2 + rand() * 2);
    }
    const [prov, model, snapshot] = MODELS[Math.floor(rand() * MODELS.length)];
    const m = tracer.startSpan(
      `chat ${model}`,
      {
        kind: SpanKind.CLIENT,
        startTime: start + 3,
        attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': prov, 'gen_ai.request.model': model, 'server.address': 'api.openai.com', 'server.port': 443 },
      },
      child
    );
    const call = new ModelCall(prov, 'chat', model, true);
    call.responseModel = snapshot;
    call.usageKnown = true;
    call.input = Math.floor(rand() * 4000);
    call.output = Math.floor(rand() * 800);
    call.costPico = call.input * 2_500_000 + call.output * 10_000_000;
    setModelCall(m, call);
    m.end(start + 300 + rand() * 3000);
    server.setAttribute('http.route', route);
    server.setAttribute('http.response.status_code', status);
    if (status >= 500) {
      server.setAttribute('error.type', '500');
      server.setStatus({ code: SpanStatusCode.ERROR });
    }
    server.end(start + 400 + rand() * 3000);
    requests.push(collector.spans.slice(first));
  }
  return requests;
}

function red(registry: TenantRegistry, store: MetricStore): SpanProcessor {
  return new RedMetricsSpanProcessor({ store, tenants: registry, endpoints: new EndpointNormalizer({ maxEndpoints: 200 }), serviceName: SERVICE, maxSpanNames: 500, maxErrorTypes: 100 });
}
function model(registry: TenantRegistry, store: MetricStore): SpanProcessor {
  return new ModelUsageSpanProcessor({ store, tenants: registry, maxModels: 100, maxErrorTypes: 100 });
}
function deps(registry: TenantRegistry, store: MetricStore): SpanProcessor {
  return new DependencyMetricsSpanProcessor({
    store,
    tenants: registry,
    caches: new CacheMetrics(store, registry, new CacheTypes({ pattern: '{type}:*', maxTypes: 50 })),
    integrations: new IntegrationPolicy({ rules: [], maxIntegrations: 100, internal: new HostPolicy(['private']), models: new ModelEndpointPolicy() }),
    slowQueryMs: 1000,
    maxTables: 200,
  });
}

/** The processors of one case, each with its own store (as one pipeline has one store per processor set). */
function build(registry: TenantRegistry, makers: ((r: TenantRegistry, s: MetricStore) => SpanProcessor)[]): SpanProcessor[] {
  const store = new MetricStore(resourceFromAttributes({ 'service.name': SERVICE }));
  return makers.map((m) => m(registry, store));
}

interface Case {
  readonly name: string;
  readonly processors: SpanProcessor[];
  /** Per round, CPU and wall ns per request, spans read just before (in cache) and streamed from memory. */
  readonly hot: { cpu: number; wall: number }[];
  readonly cold: { cpu: number; wall: number }[];
}

const TOUCHED = [
  'http.request.method', 'http.response.status_code', 'http.route', 'url.path', 'tenant.id', 'db.system.name', 'db.query.text',
  'db.operation.name', 'cache.hit', 'cache.type', 'server.address', 'gen_ai.operation.name',
];
let sink = 0;

/**
 * Reads the fields the processors read, bringing the span into the CPU cache as `span.end()` and the local-trace
 * processor have just done in production when the metric processors run.
 */
function touch(span: ReadableSpan): number {
  const a = span.attributes;
  let x = span.kind + span.status.code + span.duration[1] + span.name.length;
  for (let i = 0; i < TOUCHED.length; i++) if (a[TOUCHED[i]] !== undefined) x++;
  if (tenantCellOf(span) !== undefined) x++;
  if (modelCallOf(span) !== undefined) x++;
  return x;
}

/** Feeds every request's spans through every processor of `ps`; returns CPU and wall ns per request. */
function round(requests: readonly ReadableSpan[][], ps: readonly SpanProcessor[], hot: boolean): { cpu: number; wall: number } {
  const c0 = process.threadCpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < requests.length; i++) {
    const spans = requests[i];
    if (hot) for (let s = 0; s < spans.length; s++) sink += touch(spans[s]);
    for (let s = 0; s < spans.length; s++) for (let p = 0; p < ps.length; p++) ps[p].onEnd(spans[s]);
  }
  const wall = Number(process.hrtime.bigint() - t0);
  const c = process.threadCpuUsage(c0);
  return { cpu: ((c.user + c.system) * 1000) / requests.length, wall: wall / requests.length };
}

export function main(): void {
  const registry = new TenantRegistry({ maxTenants: TENANTS });
  const requests = buildRequests(registry);
  if (requests.some((r) => r.length !== SPANS_PER_REQUEST)) throw new Error('a request does not have 7 spans');
  const noop: SpanProcessor = { onStart() {}, onEnd() {}, forceFlush: async () => {}, shutdown: async () => {} };
  const mk = (name: string, processors: SpanProcessor[]): Case => ({ name, processors, hot: [], cold: [] });
  const cases: Case[] = [
    mk('loop only (no processor)', [noop]),
    mk('RedMetricsSpanProcessor alone', build(registry, [red])),
    mk('ModelUsageSpanProcessor alone', build(registry, [model])),
    mk('DependencyMetricsSpanProcessor alone', build(registry, [deps])),
    mk("today's processors together (RED + model usage)", build(registry, [red, model])),
    mk('every processor at once (RED + model usage + dependencies)', build(registry, [red, model, deps])),
  ];
  // First pass creates every series; two more warm the JIT.
  for (const c of cases) for (let i = 0; i < 3; i++) round(requests, c.processors, i === 2);
  const budgetEnd = Date.now() + Number(process.env.BENCH_SECONDS ?? 60) * 1000;
  for (let r = 0; r < ROUNDS && Date.now() < budgetEnd; r++) {
    for (const c of cases) {
      gc();
      c.hot.push(round(requests, c.processors, true));
      gc();
      c.cold.push(round(requests, c.processors, false));
    }
  }
  const base = cases[0];
  // In cache: (touch + onEnds) − touch, per round, then the median; from memory: onEnds alone.
  const hot = (c: Case, k: 'cpu' | 'wall'): number => median(c.hot.map((v, r) => v[k] - base.hot[r][k]));
  const cold = (c: Case, k: 'cpu' | 'wall'): number => median(c.cold.map((v, r) => v[k] - base.cold[r][k]));
  const today = hot(cases[4], 'cpu');
  const all = hot(cases[5], 'cpu');
  const rows: BenchRow[] = [];
  for (const [mode, f] of [
    ['spans in cache', hot],
    ['spans from memory', cold],
  ] as const) {
    const t = f(cases[4], 'cpu');
    for (const c of cases.slice(1)) {
      rows.push({
        bench: 'request',
        case: `${c.name} — ${mode}`,
        value: f(c, 'cpu'),
        unit: 'ns/request',
        ratio: f(c, 'cpu') / t,
        ratioTo: "of today's",
        note: `wall ${f(c, 'wall').toFixed(0)}`,
      });
    }
    rows.push({ bench: 'request', case: `sum of today's two alone — ${mode}`, value: f(cases[1], 'cpu') + f(cases[2], 'cpu'), unit: 'ns/request' });
  }
  emit({
    title:
      `Every metric processor per request: ${REQUESTS.toLocaleString('en-US')} requests × ${SPANS_PER_REQUEST} spans ` +
      `(server, 2 pg, 3 redis, 1 model), ${TENANTS} tenants × ${ROUTES.length} routes, median of ${base.hot.length} interleaved rounds`,
    rows,
    notes: [
      `target (issue 8): ≤ 1,000 ns per request's spans through every processor, spans in cache: ${all.toFixed(0)} ns/request CPU → ${all <= 1000 ? 'met' : 'MISSED'}`,
      `issue 8's DependencyMetricsSpanProcessor adds ${(all - today).toFixed(0)} ns/request to today's ${today.toFixed(0)} (alone: ${hot(cases[3], 'cpu').toFixed(0)} ns, its 5 client spans)`,
      `"spans in cache" = per round, (read the spans' fields, then every onEnd) minus (read the fields); "from memory" = onEnds streaming through ${(REQUESTS * SPANS_PER_REQUEST).toLocaleString('en-US')} pre-built spans`,
      `values are main-thread CPU ns per request (process.threadCpuUsage), medians; wall-clock medians in the notes column`,
      `every-processor per-round CPU ns/request in cache: ${cases[5].hot.map((v, r) => (v.cpu - base.hot[r].cpu).toFixed(0)).join(', ')}; sink ${sink > 0 ? 'ok' : '0'}`,
    ],
  });
}

if (require.main === module) main();
