/**
 * The Anthropic SDK 1.14 with its own tracing at its default (on), `openai` 4 (installed as `openai-v4`, it uses
 * its own node-fetch shim), upstream instrumentation-openai on top of openai 4, and plain fetch — all against the
 * loopback provider peer (a stand-in for the real APIs: no network here). One GenAI span per call, exact
 * tokens and cost.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { SpanStatusCode } from '@opentelemetry/api';
import { ModelEndpointPolicy } from '../../src/core/tenant/ModelEndpointPolicy';
import { withTenant } from '../../src/tenantApi';
import { startGenAIHarness, waitForSpans, type GenAIHarness } from '../helpers/genaiHarness';

let h: GenAIHarness;
let Anthropic: typeof import('@anthropic-ai/sdk').default;
let anthropic: InstanceType<typeof import('@anthropic-ai/sdk').default>;
let OpenAIv4: typeof import('openai-v4').default;
let openai4: InstanceType<typeof import('openai-v4').default>;

// claude-sonnet-4-5 ($3 in, $0.30 read, $3.75 5m write, $6 1h write, $15 out): 300 + 5000 read + 1500 5m + 500 1h + 700 out
// = 900,000,000 + 1,500,000,000 + 5,625,000,000 + 3,000,000,000 + 10,500,000,000 = 21,525,000,000 pico-dollars.
const SONNET_CENTS = 2.1525;
const GPT4O_CHAT_CENTS = 0.647;

before(async () => {
  h = await startGenAIHarness({ modelEndpoints: new ModelEndpointPolicy(['127.0.0.1']) });
  Anthropic = (require('@anthropic-ai/sdk') as typeof import('@anthropic-ai/sdk')).default;
  anthropic = new Anthropic({ apiKey: 'sk-ant-test-secret', baseURL: h.peer.url, maxRetries: 0 });
  OpenAIv4 = (require('openai-v4') as typeof import('openai-v4')).default;
  openai4 = new OpenAIv4({ apiKey: 'sk-test-v4', baseURL: `${h.peer.url}/v1`, maxRetries: 0 });
});
after(async () => h.close());
beforeEach(() => h.reset());

const MSG = { model: 'claude-sonnet-4-5', max_tokens: 256, messages: [{ role: 'user' as const, content: 'secret prompt' }] };

function assertSonnetSpan(s: { name: string; attributes: Record<string, unknown>; instrumentationScope: { name: string } }, tenant: string): void {
  // The SDK's own span, enriched and given the semantic-convention name: not a second span.
  assert.equal(s.name, 'chat claude-sonnet-4-5');
  assert.equal(s.instrumentationScope.name, 'com.anthropic.sdk.typescript');
  const a = s.attributes;
  assert.equal(a['gen_ai.provider.name'], 'anthropic');
  assert.equal(a['gen_ai.operation.name'], 'chat');
  assert.equal(a['gen_ai.request.model'], 'claude-sonnet-4-5');
  assert.equal(a['gen_ai.response.model'], 'claude-sonnet-4-5-20250929');
  // Semconv input counts cache reads and writes: 300 + 5000 + 2000.
  assert.equal(a['gen_ai.usage.input_tokens'], 7300);
  assert.equal(a['gen_ai.usage.cache_read.input_tokens'], 5000);
  assert.equal(a['gen_ai.usage.cache_creation.input_tokens'], 2000);
  assert.equal(a['gen_ai.usage.output_tokens'], 700);
  assert.deepEqual(a['gen_ai.response.finish_reasons'], ['end_turn']);
  assert.equal(a['tenantscope.cost.usd'], 0.021525);
  assert.equal(a['tenant.id'], tenant);
  assert.ok(!JSON.stringify(a).includes('secret'), 'no content or key on the span');
}

function assertSonnetMetrics(tenant: string): void {
  const l = { provider: 'anthropic', model: 'claude-sonnet-4-5', tenant_id: tenant };
  assert.equal(h.metric('model_api_tokens', { ...l, token_type: 'input' }), 300);
  assert.equal(h.metric('model_api_tokens', { ...l, token_type: 'cache_read' }), 5000);
  assert.equal(h.metric('model_api_tokens', { ...l, token_type: 'cache_write' }), 2000);
  assert.equal(h.metric('model_api_tokens', { ...l, token_type: 'output' }), 700);
  assert.equal(h.metric('model_api_cost_cents', l), SONNET_CENTS);
  assert.equal(h.metric('model_api_calls', { ...l, operation_type: 'chat', status: 'success' }), 1);
}

test('Anthropic messages with the SDK tracing on: one span (the SDK one, enriched), exact tokens and cost', async () => {
  const msg = await withTenant('globex', () => anthropic.messages.create(MSG));
  assert.equal(msg.content[0].type, 'text');
  const spans = await waitForSpans(h, 1);
  assert.equal(spans.length, 1);
  assertSonnetSpan(spans[0] as never, 'globex');
  assertSonnetMetrics('globex');
  const sem = { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'anthropic', 'gen_ai.request.model': 'claude-sonnet-4-5' };
  assert.equal(h.histogramSum('gen_ai.client.token.usage', { ...sem, 'gen_ai.token.type': 'input' }), 7300);
});

test('the Anthropic SDK trace headers reach Anthropic without the tenant baggage entry', async () => {
  await withTenant('globex-b', () => anthropic.messages.create(MSG));
  await waitForSpans(h, 1);
  const req = h.peer.requests[0];
  assert.match(String(req.headers.traceparent), /^00-/);
  assert.ok(!String(req.headers.baggage ?? '').includes('tenant.id'), `baggage: ${req.headers.baggage}`);
  // What the app sent is untouched (this SDK version sends the key as a bearer token).
  assert.equal(req.headers.authorization, 'Bearer sk-ant-test-secret');
});

test('a streamed Anthropic message: usage from message_start + message_delta, time to first chunk', async () => {
  const text = await withTenant('initech', async () => {
    const stream = await anthropic.messages.create({ ...MSG, stream: true });
    let t = '';
    for await (const ev of stream) if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') t += ev.delta.text;
    return t;
  });
  assert.equal(text, 'Hello there');
  const spans = await waitForSpans(h, 1);
  assert.equal(spans.length, 1);
  assertSonnetSpan(spans[0] as never, 'initech');
  assert.equal(typeof spans[0].attributes['gen_ai.response.time_to_first_chunk'], 'number');
  assertSonnetMetrics('initech');
});

test('the messages.stream() helper is one span with the same usage', async () => {
  const final = await withTenant('helper', async () => anthropic.messages.stream(MSG).finalMessage());
  assert.equal(final.usage.output_tokens, 700);
  const spans = await waitForSpans(h, 1);
  assert.equal(spans.length, 1);
  assertSonnetMetrics('helper');
});

test('an abandoned Anthropic stream ends its span once', async () => {
  await withTenant('quit-a', async () => {
    const stream = await anthropic.messages.create({ ...MSG, stream: true }, { headers: { 'x-peer-scenario': 'slow' } });
    for await (const ev of stream) {
      assert.equal(ev.type, 'message_start');
      break;
    }
  });
  const spans = await waitForSpans(h, 1);
  assert.equal(spans.length, 1);
  // Input usage came with message_start; output never did.
  const l = { provider: 'anthropic', model: 'claude-sonnet-4-5', tenant_id: 'quit-a' };
  assert.equal(h.metric('model_api_tokens', { ...l, token_type: 'cache_read' }), 5000);
  assert.equal(h.metric('model_api_tokens', { ...l, token_type: 'output' }), 1);
  assert.equal(h.metric('model_api_calls', { ...l, operation_type: 'chat', status: 'success' }), 1);
});

test('an Anthropic 429 reaches the app as RateLimitError and counts one error call', async () => {
  const err = await withTenant('limited-a', () => anthropic.messages.create(MSG, { headers: { 'x-peer-scenario': '429' } })).catch((e: unknown) => e);
  assert.ok(err instanceof Anthropic.RateLimitError, String(err));
  const spans = await waitForSpans(h, 1);
  assert.equal(spans.length, 1);
  assert.equal(spans[0].status.code, SpanStatusCode.ERROR);
  const l = { provider: 'anthropic', model: 'claude-sonnet-4-5', tenant_id: 'limited-a' };
  assert.equal(h.metric('model_api_calls', { ...l, operation_type: 'chat', status: 'error' }), 1);
  assert.equal(h.metric('model_api_calls', { ...l, operation_type: 'chat', status: 'success' }), 0);
});

test('openai 4 (node-fetch shim): one span, exact usage, streamed usage asked for and hidden', async () => {
  const chunks = await withTenant('v4', async () => {
    const r = await openai4.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(r.usage?.prompt_tokens, 1500);
    const got: unknown[] = [];
    for await (const c of await openai4.chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'x' }] })) got.push(c);
    return got as { choices: unknown[] }[];
  });
  assert.equal(chunks.length, 4);
  assert.ok(chunks.every((c) => c.choices.length === 1));
  // The rewritten body went out with a matching content-length (the peer parsed it).
  assert.deepEqual((JSON.parse(h.peer.requests[1].body) as { stream_options: unknown }).stream_options, { include_usage: true });
  const spans = await waitForSpans(h, 2);
  assert.equal(spans.length, 2);
  for (const s of spans) {
    assert.equal(s.name, 'chat gpt-4o');
    assert.equal(s.attributes['gen_ai.usage.input_tokens'], 1500);
    assert.equal(s.attributes['tenantscope.cost.usd'], 0.00647);
  }
  assert.equal(h.metric('model_api_cost_cents', { provider: 'openai', model: 'gpt-4o', tenant_id: 'v4' }), GPT4O_CHAT_CENTS * 2);
});

test('an abandoned openai 4 stream ends its span', async () => {
  await withTenant('quit-4', async () => {
    const stream = await openai4.chat.completions.create(
      { model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'x' }] },
      { headers: { 'x-peer-scenario': 'slow' } }
    );
    for await (const _ of stream) break;
  });
  const spans = await waitForSpans(h, 1);
  assert.equal(spans.length, 1);
  assert.equal(spans[0].attributes['tenantscope.model.stream_end'], 'abandoned');
});

test('plain fetch to a listed model host is a model call; to the same host on another path it is not', async () => {
  await withTenant('raw', async () => {
    const r = await fetch(`${h.peer.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-raw' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
    });
    const body = (await r.json()) as { usage: { prompt_tokens: number } };
    assert.equal(body.usage.prompt_tokens, 1500);
    await (await fetch(`${h.peer.url}/v1/models`)).text();
  });
  const spans = await waitForSpans(h, 1);
  assert.equal(spans.length, 1);
  assert.equal(spans[0].name, 'chat gpt-4o-mini');
  // gpt-4o-mini ($0.15 / $0.075 / $0.60): 476 × 0.15 + 1024 × 0.075 + 400 × 0.6 = 388,200,000 pico-dollars.
  assert.equal(h.metric('model_api_cost_cents', { provider: 'openai', model: 'gpt-4o-mini', tenant_id: 'raw' }), 0.03882);
});

test('plain fetch of a streamed Anthropic message read through response.body is counted', async () => {
  await withTenant('raw-a', async () => {
    const r = await fetch(`${h.peer.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': 'k' },
      body: JSON.stringify({ ...MSG, stream: true }),
    });
    const reader = (r.body as ReadableStream<Uint8Array>).getReader();
    let bytes = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.byteLength;
    }
    assert.ok(bytes > 500);
  });
  await waitForSpans(h, 1);
  assertSonnetMetrics('raw-a');
});

test('with upstream instrumentation-openai also patching openai 4: still one span, ours enriching theirs', async () => {
  const { OpenAIInstrumentation } = require('@opentelemetry/instrumentation-openai') as typeof import('@opentelemetry/instrumentation-openai');
  const upstream = new OpenAIInstrumentation({ enabled: false });
  upstream.setTracerProvider(h.tracerProvider);
  // Its require hook only matches the module name `openai`; ours is installed as `openai-v4`, so patch it directly.
  const defs = (upstream as unknown as { init(): { patch(m: unknown): unknown }[] }).init();
  const mod = require('openai-v4') as unknown;
  defs[0].patch(mod);
  // Its require hook cannot match `openai` 7 (outside its range); enabling it turns its patched methods on.
  upstream.enable();
  try {
    const client = new OpenAIv4({ apiKey: 'sk-up', baseURL: `${h.peer.url}/v1`, maxRetries: 0 });
    await withTenant('both', () => client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }));
    const spans = await waitForSpans(h, 1);
    assert.equal(spans.length, 1);
    const s = spans[0];
    assert.equal(s.instrumentationScope.name, '@opentelemetry/instrumentation-openai');
    assert.equal(s.attributes['gen_ai.provider.name'], 'openai');
    assert.equal(s.attributes['gen_ai.usage.cache_read.input_tokens'], 1024);
    assert.equal(s.attributes['tenantscope.cost.usd'], 0.00647);
    assert.equal(h.metric('model_api_cost_cents', { provider: 'openai', model: 'gpt-4o', tenant_id: 'both' }), GPT4O_CHAT_CENTS);
    // Upstream records gen_ai.client.* itself: ours stay untouched for this call.
    const sem = { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o' };
    const before = h.metric('gen_ai.client.operation.duration', { ...sem, 'error.type': '' });
    await withTenant('both', () => client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }));
    await waitForSpans(h, 2);
    assert.equal(h.metric('gen_ai.client.operation.duration', { ...sem, 'error.type': '' }), before);
  } finally {
    upstream.disable();
    (upstream as unknown as { init(): { unpatch(m: unknown): void }[] }).init()[0].unpatch(mod);
  }
});
