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
 * model usage + dependencies). Values are main-thread CPU ns per request, medians of interleaved rounds.
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
import { ModelCall, setModelCall } from '../src/core/ModelCall';
import { HostPolicy } from '../src/core/tenant/HostPolicy';
import { ModelEndpointPolicy } from '../src/core/tenant/ModelEndpointPolicy';
import { TENANT_CONTEXT_KEY, TenantCell } from '../src/core/tenant/TenantCell';
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
  readonly cpu: number[];
  readonly wall: number[];
}

/** Feeds every request's spans through every processor of `c`; returns CPU and wall ns per request. */
function round(requests: readonly ReadableSpan[][], ps: readonly SpanProcessor[]): { cpu: number; wall: number } {
  const c0 = process.threadCpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < requests.length; i++) {
    const spans = requests[i];
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
  const cases: Case[] = [
    { name: 'loop only (no processor)', processors: [noop], cpu: [], wall: [] },
    { name: 'RedMetricsSpanProcessor alone', processors: build(registry, [red]), cpu: [], wall: [] },
    { name: 'ModelUsageSpanProcessor alone', processors: build(registry, [model]), cpu: [], wall: [] },
    { name: 'DependencyMetricsSpanProcessor alone', processors: build(registry, [deps]), cpu: [], wall: [] },
    { name: "today's processors together (RED + model usage)", processors: build(registry, [red, model]), cpu: [], wall: [] },
    { name: 'every processor at once (RED + model usage + dependencies)', processors: build(registry, [red, model, deps]), cpu: [], wall: [] },
  ];
  // First pass creates every series; two more warm the JIT.
  for (const c of cases) for (let i = 0; i < 3; i++) round(requests, c.processors);
  const budgetEnd = Date.now() + Number(process.env.BENCH_SECONDS ?? 40) * 1000;
  for (let r = 0; r < ROUNDS && Date.now() < budgetEnd; r++) {
    for (const c of cases) {
      gc();
      const t = round(requests, c.processors);
      c.cpu.push(t.cpu);
      c.wall.push(t.wall);
    }
  }
  const loop = median(cases[0].cpu);
  const net = (c: Case): number => median(c.cpu.map((v, i) => v - cases[0].cpu[i]));
  const redNs = net(cases[1]);
  const modelNs = net(cases[2]);
  const depsNs = net(cases[3]);
  const today = net(cases[4]);
  const all = net(cases[5]);
  const rows: BenchRow[] = cases.slice(1).map((c) => ({
    bench: 'request',
    case: c.name,
    value: net(c),
    unit: 'ns/request',
    ratio: net(c) / today,
    ratioTo: "of today's",
    note: `wall ${median(c.wall.map((v, i) => v - cases[0].wall[i])).toFixed(0)}`,
  }));
  rows.push({ bench: 'request', case: "sum of today's processors alone (RED + model usage)", value: redNs + modelNs, unit: 'ns/request' });
  rows.push({ bench: 'request', case: 'sum of all three alone', value: redNs + modelNs + depsNs, unit: 'ns/request' });
  emit({
    title:
      `Every metric processor per request: ${REQUESTS.toLocaleString('en-US')} requests × ${SPANS_PER_REQUEST} spans ` +
      `(server, 2 pg, 3 redis, 1 model), ${TENANTS} tenants × ${ROUTES.length} routes, median of ${cases[0].cpu.length} interleaved rounds`,
    rows,
    notes: [
      `target (issue 8): ≤ 1,000 ns per request's spans through every processor: ${all.toFixed(0)} ns/request CPU → ${all <= 1000 ? 'met' : 'MISSED'}`,
      `issue 8's own processor adds ${(all - today).toFixed(0)} ns/request to today's ${today.toFixed(0)} (alone: ${depsNs.toFixed(0)} ns for its 5 client spans)`,
      `values are main-thread CPU ns per request (process.threadCpuUsage) minus the loop alone (${loop.toFixed(0)} ns/request), spans streamed from memory`,
      `every-processor per-round CPU ns/request: ${cases[5].cpu.map((v, i) => (v - cases[0].cpu[i]).toFixed(0)).join(', ')}`,
    ],
  });
}

if (require.main === module) main();
