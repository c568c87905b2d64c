/**
 * Model-usage cost per model span (issue 3: target ≤ 300 ns per model span), with the shipped ~60-model price
 * table, beside the RED processor on the same spans.
 *
 * Spans are real SDK spans started under 1,000 tenants' contexts on a real `TracerProvider` running
 * `TenantSpanProcessor`, each carrying a `ModelCall` record for one of 6 models (OpenAI and Anthropic, dated
 * response snapshots, cache reads/writes, some errors), built outside the timed region. Timed per span:
 * pricing the call (`priceCall`: table look-up + integer cost, what the instrumentation does when usage
 * arrives) plus `ModelUsageSpanProcessor.onEnd`.
 *
 * Baselines in the same run and on the same spans: the timing loop alone; the RED processor's `onEnd`; and
 * sdk-metrics doing the same job (per span: calls counter, duration histogram, four token counters and a cost
 * counter, each with its seed attributes — the attribute hashing our pre-aggregation avoids).
 *
 * Run alone: `npx node --expose-gc build/bench/model.bench.js`. For bench/run.ts: `runModelBench()`.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, type Attributes, type Context } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { ModelCall, modelCallOf, setModelCall, type Provider } from '../src/core/ModelCall';
import { priceCall } from '../instrumentations/genai/utils';
import { ModelUsageSpanProcessor } from '../processors/ModelUsageSpanProcessor';
import { RedMetricsSpanProcessor } from '../processors/RedMetricsSpanProcessor';
import { TenantSpanProcessor } from '../processors/TenantSpanProcessor';
import { EndpointNormalizer } from '../src/core/EndpointNormalizer';
import { MetricStore } from '../src/core/metrics/MetricStore';
import { PriceTable } from '../src/core/pricing/PriceTable';
import { METRIC_MODEL_API_DURATION } from '../src/core/semconv';
import { TENANT_CONTEXT_KEY, TenantCell, tenantCellOf } from '../src/core/tenant/TenantCell';
import { useTenantApi } from '../test/helpers/tenant';
import { TenantRegistry } from '../src/core/tenant/TenantRegistry';
import { CollectingProcessor, NoopReader, emit, gc, median, prng, type BenchRow } from './harness';

const TENANTS = Number(process.env.BENCH_TENANTS ?? 1000);
const SPANS = Number(process.env.BENCH_MODEL_SPANS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);

const MODELS: ReadonlyArray<readonly [Provider, string, string, string]> = [
  ['openai', 'chat', 'gpt-4o', 'gpt-4o-2024-08-06'],
  ['openai', 'chat', 'gpt-4o-mini', 'gpt-4o-mini-2024-07-18'],
  ['openai', 'chat', 'o4-mini', 'o4-mini-2025-04-16'],
  ['openai', 'embeddings', 'text-embedding-3-small', 'text-embedding-3-small'],
  ['anthropic', 'chat', 'claude-sonnet-4-5', 'claude-sonnet-4-5-20250929'],
  ['anthropic', 'chat', 'claude-haiku-4-5', 'claude-haiku-4-5-20251001'],
];

function buildSpans(registry: TenantRegistry): ReadableSpan[] {
  const rand = prng(7);
  const collector = new CollectingProcessor();
  const provider = new TracerProvider({ spanProcessors: [new TenantSpanProcessor(), collector] });
  const tracer = provider.getTracer('bench');
  useTenantApi(registry);
  const contexts: Context[] = [];
  for (let t = 0; t < TENANTS; t++) contexts.push(ROOT_CONTEXT.setValue(TENANT_CONTEXT_KEY, new TenantCell(registry, `tenant-${String(t).padStart(4, '0')}`)));
  let clock = Date.now() - 3_600_000;
  for (let i = 0; i < SPANS; i++) {
    const [provider, op, model, snapshot] = MODELS[Math.floor(rand() * MODELS.length)];
    const start = (clock += 5);
    const failed = rand() < 0.02;
    const span = tracer.startSpan(
      `${op} ${model}`,
      { kind: SpanKind.CLIENT, startTime: start, attributes: { 'gen_ai.operation.name': op, 'gen_ai.provider.name': provider, 'gen_ai.request.model': model } },
      contexts[Math.floor(rand() * TENANTS)]
    );
    const call = new ModelCall(provider, op, model, true);
    call.responseModel = snapshot;
    if (failed) {
      call.errorType = '429';
      span.setStatus({ code: SpanStatusCode.ERROR });
    } else {
      call.usageKnown = true;
      call.input = Math.floor(rand() * 4000);
      call.cacheRead = rand() < 0.5 ? Math.floor(rand() * 8000) : 0;
      if (provider === 'anthropic') call.cacheWrite5m = rand() < 0.3 ? Math.floor(rand() * 2000) : 0;
      call.output = op === 'embeddings' ? 0 : Math.floor(rand() * 1500);
    }
    setModelCall(span, call);
    span.end(start + 200 + rand() * 8000);
  }
  return collector.spans;
}

interface Timing {
  cpuNs: number;
  wallNs: number;
}

function timeRound(spans: readonly ReadableSpan[], fn: (span: ReadableSpan) => void): Timing {
  gc();
  const cpu0 = process.threadCpuUsage();
  const w0 = process.hrtime.bigint();
  for (let i = 0; i < spans.length; i++) fn(spans[i]);
  const wall = Number(process.hrtime.bigint() - w0);
  const cpu = process.threadCpuUsage(cpu0);
  return { cpuNs: ((cpu.user + cpu.system) * 1000) / spans.length, wallNs: wall / spans.length };
}

function measure(spans: readonly ReadableSpan[], fn: (span: ReadableSpan) => void): Timing {
  for (let i = 0; i < 3; i++) timeRound(spans, fn); // warm-up, series creation
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t = timeRound(spans, fn);
    cpu.push(t.cpuNs);
    wall.push(t.wallNs);
  }
  return { cpuNs: median(cpu), wallNs: median(wall) };
}

/** Runs the bench; returns every case (ns per model span) for bench/run.ts. */
export function runModelBenchRows(): { rows: BenchRow[]; notes: string[] } {
  const registry = new TenantRegistry({ maxTenants: TENANTS + 10 });
  const spans = buildSpans(registry);
  const prices = new PriceTable();
  const store = new MetricStore(resourceFromAttributes({}));
  const model = new ModelUsageSpanProcessor({ store, tenants: registry, maxModels: 100, maxErrorTypes: 100 });
  const red = new RedMetricsSpanProcessor({
    store,
    tenants: registry,
    endpoints: new EndpointNormalizer({ maxEndpoints: 200, templates: [] }),
    serviceName: 'chat-service',
    maxSpanNames: 500,
    maxErrorTypes: 100,
  });

  const meter = new MeterProvider({ readers: [new NoopReader()] }).getMeter('bench');
  const calls = meter.createCounter('model_api_calls');
  const duration = meter.createHistogram('model_api_duration_seconds', { advice: { explicitBucketBoundaries: METRIC_MODEL_API_DURATION.boundaries as number[] } });
  const tokens = meter.createCounter('model_api_tokens');
  const cost = meter.createCounter('model_api_cost_cents');
  const sdkJob = (span: ReadableSpan): void => {
    const c = modelCallOf(span)!;
    const cell = tenantCellOf(span);
    const tenant = cell !== undefined ? registry.labelAt(registry.indexOf(cell)) : 'unknown';
    const base: Attributes = { provider: c.provider, model: c.requestModel, tenant_id: tenant };
    calls.add(1, { ...base, operation_type: c.operation, status: c.errorType === undefined ? 'success' : 'error' });
    duration.record(span.duration[0] + span.duration[1] / 1e9, { ...base, operation_type: c.operation });
    if (!c.usageKnown) return;
    tokens.add(c.input, { ...base, token_type: 'input' });
    tokens.add(c.cacheRead, { ...base, token_type: 'cache_read' });
    tokens.add(c.cacheWrite5m + c.cacheWrite1h, { ...base, token_type: 'cache_write' });
    tokens.add(c.output, { ...base, token_type: 'output' });
    const usd = priceCall(c, prices);
    if (usd !== undefined) cost.add(usd * 100, base);
  };

  const loop = measure(spans, () => undefined);
  const ours = measure(spans, (s) => {
    priceCall(modelCallOf(s)!, prices);
    model.onEnd(s);
  });
  const redT = measure(spans, (s) => red.onEnd(s));
  const sdk = measure(spans, sdkJob);
  const row = (c: string, t: Timing, ratio?: number, note?: string): BenchRow => ({
    bench: 'model',
    case: c,
    value: t.cpuNs,
    unit: 'ns/span',
    ratio,
    ratioTo: ratio === undefined ? undefined : 'of sdk-metrics',
    note: note ?? `wall ${t.wallNs.toFixed(0)} ns`,
  });
  return {
    rows: [
      row('loop only (no instrumentation)', loop),
      row('tenantscope: priceCall + ModelUsageSpanProcessor.onEnd', ours, ours.cpuNs / sdk.cpuNs),
      row('tenantscope: RedMetricsSpanProcessor.onEnd, same spans', redT),
      row('sdk-metrics, same job (7 instrument calls with attributes)', sdk, 1),
    ],
    notes: [
      `${spans.length} model spans, ${TENANTS} tenants × ${MODELS.length} models, prices ${prices.version}`,
      `values are main-thread CPU ns/span (process.threadCpuUsage), medians of ${ROUNDS} rounds; target ≤ 300 ns per model span`,
    ],
  };
}

/** Summary for bench/run.ts: tenantscope's ns per model span and the upstream (sdk-metrics) baseline. */
export function runModelBench(): { name: string; nsPerSpan: number; baselineNsPerSpan: number; rows: BenchRow[] } {
  const r = runModelBenchRows();
  return { name: 'model-usage processor', nsPerSpan: r.rows[1].value, baselineNsPerSpan: r.rows[3].value, rows: r.rows };
}

export function main(): void {
  const r = runModelBenchRows();
  emit({ title: 'Model-usage processor: cost per model span', rows: r.rows, notes: r.notes });
}

if (require.main === module) main();
