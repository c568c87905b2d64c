import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpanStatusCode } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { ModelCall, setModelCall } from '../../src/core/ModelCall';
import { priceCall } from '../../instrumentations/genai/utils';
import { ModelUsageSpanProcessor } from '../../processors/ModelUsageSpanProcessor';
import { MetricStore } from '../../src/core/metrics/MetricStore';
import { PriceTable } from '../../src/core/pricing/PriceTable';
import { TenantRegistry } from '../../src/core/tenant/TenantRegistry';

const prices = new PriceTable();

function setup(maxModels = 10, maxErrorTypes = 50) {
  const store = new MetricStore(resourceFromAttributes({}));
  const tenants = new TenantRegistry({ maxTenants: 10 });
  const processor = new ModelUsageSpanProcessor({ store, tenants, maxModels, maxErrorTypes });
  const tracer = new TracerProvider({ spanProcessors: [processor] }).getTracer('t');
  const value = (name: string, labels: Record<string, string>): number => {
    for (const f of store.counters) {
      if (f.spec.name !== name) continue;
      for (const s of f.series) if (Object.entries(labels).every(([k, v]) => s.attributes[k] === v) && Object.keys(s.attributes).length === Object.keys(labels).length) return s.value;
    }
    return 0;
  };
  const call = (tenant: string, model: string, usage: Partial<ModelCall>, status = SpanStatusCode.UNSET, provider = 'openai'): void => {
    const span = tracer.startSpan('chat ' + model, { attributes: { 'tenant.id': tenant } });
    const c = new ModelCall(provider, 'chat', model, true);
    Object.assign(c, usage);
    priceCall(c, prices);
    setModelCall(span, c);
    span.setStatus({ code: status });
    span.end();
  };
  return { store, value, call, tracer, processor };
}

test('money is summed exactly per tenant: 1,000 calls of 0.647 cents are 647 cents, not 646.99999…', () => {
  const { value, call } = setup();
  for (let i = 0; i < 1000; i++) call('acme', 'gpt-4o', { usageKnown: true, input: 476, cacheRead: 1024, output: 400 });
  assert.equal(value('model_api_cost_cents', { provider: 'openai', model: 'gpt-4o', tenant_id: 'acme' }), 647);
  let naive = 0;
  for (let i = 0; i < 1000; i++) naive += 0.647;
  assert.notEqual(naive, 647, 'the float sum this guards against');
});

test('tokens per billing class sum to the billed total, without double counting cached input', () => {
  const { value, call } = setup();
  call('t1', 'claude-sonnet-4-5', { usageKnown: true, input: 300, cacheRead: 5000, cacheWrite5m: 1500, cacheWrite1h: 500, output: 700 }, SpanStatusCode.UNSET, 'anthropic');
  const l = { provider: 'anthropic', model: 'claude-sonnet-4-5', tenant_id: 't1' };
  const sum = ['input', 'cache_read', 'cache_write', 'output'].reduce((a, t) => a + value('model_api_tokens', { ...l, token_type: t }), 0);
  assert.equal(sum, 300 + 5000 + 2000 + 700);
  assert.equal(value('model_api_cost_cents', l), 2.1525);
});

test('tenants are separate series; errors count with status=error', () => {
  const { value, call } = setup();
  call('a', 'gpt-4o', { usageKnown: true, input: 1000, output: 0 });
  call('b', 'gpt-4o', { usageKnown: true, input: 2000, output: 0 });
  call('b', 'gpt-4o', { errorType: '429' }, SpanStatusCode.ERROR);
  assert.equal(value('model_api_tokens', { provider: 'openai', model: 'gpt-4o', tenant_id: 'a', token_type: 'input' }), 1000);
  assert.equal(value('model_api_tokens', { provider: 'openai', model: 'gpt-4o', tenant_id: 'b', token_type: 'input' }), 2000);
  assert.equal(value('model_api_calls', { provider: 'openai', model: 'gpt-4o', tenant_id: 'b', operation_type: 'chat', status: 'error' }), 1);
  assert.equal(value('model_api_calls', { provider: 'openai', model: 'gpt-4o', tenant_id: 'b', operation_type: 'chat', status: 'success' }), 1);
});

test('model names past the limit fold into _OTHER and are counted', () => {
  const { value, call } = setup(2);
  call('a', 'gpt-4o', { usageKnown: true, input: 1 });
  call('a', 'gpt-4o-mini', { usageKnown: true, input: 1 });
  call('a', 'o3', { usageKnown: true, input: 5 });
  call('a', 'o4-mini', { usageKnown: true, input: 7 });
  assert.equal(value('model_api_tokens', { provider: 'openai', model: '_OTHER', tenant_id: 'a', token_type: 'input' }), 12);
  assert.equal(value('tenantscope.labels.folded', { label: 'model' }), 2);
});

test('spans without a model-call record are ignored, even with GenAI attributes', () => {
  const { store, tracer, call } = setup();
  tracer.startSpan('chat gpt-4o', { attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.usage.input_tokens': 5 } }).end();
  const families = (): number => store.counters.reduce((n, f) => n + (f.spec.name.startsWith('model_api') ? f.series.length : 0), 0);
  assert.equal(families(), 0);
  call('a', 'gpt-4o', { usageKnown: true, input: 1 });
  assert.ok(families() > 0, 'a span with a record does create series');
});

test('20,000 distinct provider error strings leave the error-type map bounded by the limit, folded and counted', () => {
  const { store, tracer, processor } = setup(10, 5);
  for (let i = 0; i < 20_000; i++) {
    const span = tracer.startSpan('chat gpt-4o', { attributes: { 'tenant.id': 'acme' } });
    const c = new ModelCall('openai', 'chat', 'gpt-4o', true);
    c.errorType = `upstream error #${i}: request id ${i * 7919}`;
    setModelCall(span, c);
    span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  }
  // White-box: the per-(operation, provider, model) map of error-type series is what grew before (one entry per
  // raw string behind the folded series). Now it holds the admitted types and `_OTHER` only.
  const semconv = (processor as unknown as { _semconv: Map<string, Map<string, Map<string, { errors: Map<string, unknown> }>>> })._semconv;
  const errors = semconv.get('chat')?.get('openai')?.get('gpt-4o')?.errors;
  assert.equal(errors?.size, 6);
  const duration = store.histograms.find((f) => f.spec.name === 'gen_ai.client.operation.duration');
  // Failed calls only: the success series (error.type "") exists but counted nothing.
  const byType = new Map((duration?.series ?? []).filter((s) => s.count > 0).map((s) => [s.attributes['error.type'], s.count]));
  assert.equal(byType.size, 6);
  assert.equal(byType.get('_OTHER'), 20_000 - 5);
  const folded = store.counters.find((f) => f.spec.name === 'tenantscope.labels.folded')?.series.find((s) => s.attributes.label === 'error_type');
  assert.equal(folded?.value, 20_000 - 5);
});
