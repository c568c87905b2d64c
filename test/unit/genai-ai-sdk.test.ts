/**
 * The Vercel AI SDK (`ai` 7 with `@ai-sdk/openai` and `@ai-sdk/anthropic`) against the loopback provider peer
 * (a stand-in for the provider APIs: no network here). Its calls go through fetch: each is one model call,
 * counted once. With its own OpenTelemetry integration (`@ai-sdk/otel`) registered, its `chat {model}`
 * CLIENT span is the call's span, enriched with our usage and cost: never a second span for the same call.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { SpanKind } from '@opentelemetry/api';
import { withTenant } from '../../src/tenantApi';
import { startGenAIHarness, waitForSpans, type GenAIHarness } from '../helpers/genaiHarness';
import { ANTHROPIC_USAGE, OPENAI_RESPONSES_USAGE } from '../helpers/providerPeer';
import type * as AI from 'ai' with { 'resolution-mode': 'import' };
import type * as AIOpenAI from '@ai-sdk/openai' with { 'resolution-mode': 'import' };
import type * as AIAnthropic from '@ai-sdk/anthropic' with { 'resolution-mode': 'import' };
import type * as AIOtel from '@ai-sdk/otel' with { 'resolution-mode': 'import' };

let h: GenAIHarness;
let ai: typeof AI;
let openai: ReturnType<typeof AIOpenAI.createOpenAI>;
let anthropic: ReturnType<typeof AIAnthropic.createAnthropic>;
let otel: typeof AIOtel;

before(async () => {
  // The harness lists 127.0.0.1 as an OpenAI-compatible host; here the AI SDK's own user agent must be enough.
  h = await startGenAIHarness({ openaiUsageHosts: [] });
  ai = require('ai') as typeof AI;
  openai = (require('@ai-sdk/openai') as typeof AIOpenAI).createOpenAI({ apiKey: 'sk-ai-sdk-secret', baseURL: `${h.peer.url}/v1` });
  anthropic = (require('@ai-sdk/anthropic') as typeof AIAnthropic).createAnthropic({ apiKey: 'sk-ant-ai-sdk-secret', baseURL: `${h.peer.url}/v1` });
  otel = require('@ai-sdk/otel') as typeof AIOtel;
});
after(async () => h.close());
beforeEach(() => h.reset());

/** Model-call spans: those carrying GenAI usage (ours, or the AI SDK's chat span we enriched). */
function callSpans(): ReturnType<GenAIHarness['allSpans']> {
  return h.allSpans().filter((s) => s.kind === SpanKind.CLIENT && s.attributes['gen_ai.operation.name'] !== undefined);
}

test('generateText through @ai-sdk/openai (Responses API): one span, usage, cost, counted once', async () => {
  const res = await withTenant('acme', () => ai.generateText({ model: openai('gpt-4o'), prompt: 'secret prompt' }));
  assert.equal(res.text, 'Hi.');
  await waitForSpans(h, 1);
  const spans = callSpans();
  assert.equal(spans.length, 1);
  const s = spans[0];
  assert.equal(s.name, 'chat gpt-4o');
  assert.equal(s.attributes['gen_ai.provider.name'], 'openai');
  assert.equal(s.attributes['gen_ai.usage.input_tokens'], OPENAI_RESPONSES_USAGE.input_tokens);
  assert.equal(s.attributes['gen_ai.usage.output_tokens'], OPENAI_RESPONSES_USAGE.output_tokens);
  assert.ok(!JSON.stringify(s.attributes).includes('secret prompt'));
  const l = { provider: 'openai', model: 'gpt-4o', tenant_id: 'acme' };
  assert.equal(h.metric('model_api_calls', { ...l, operation_type: 'chat', status: 'success' }), 1);
  // gpt-4o: 388 × $2.50 + 512 × $1.25 + 250 × $10 per 1M = 4,110,000,000 pico-dollars.
  assert.equal(h.metric('model_api_cost_cents', l), 0.411);
});

test('streamText through @ai-sdk/anthropic: one span with the stream usage, time to first token', async () => {
  const text = await withTenant('streamer', async () => {
    const r = ai.streamText({ model: anthropic('claude-sonnet-4-5'), prompt: 'x' });
    let t = '';
    for await (const part of r.textStream) t += part;
    return t;
  });
  assert.equal(text, 'Hello there');
  await waitForSpans(h, 1);
  const spans = callSpans();
  assert.equal(spans.length, 1);
  assert.equal(spans[0].attributes['gen_ai.provider.name'], 'anthropic');
  assert.equal(spans[0].attributes['gen_ai.usage.output_tokens'], ANTHROPIC_USAGE.output_tokens);
  const l = { provider: 'anthropic', model: 'claude-sonnet-4-5', tenant_id: 'streamer' };
  assert.equal(h.metric('model_api_tokens', { ...l, token_type: 'cache_read' }), ANTHROPIC_USAGE.cache_read_input_tokens);
  assert.equal(h.metric('model_api_time_to_first_token_seconds', l), 1);
  // claude-sonnet-4-5: 300 × $3 + 5000 × $0.30 + 1500 × $3.75 + 500 × $6 + 700 × $15 per 1M.
  assert.equal(h.metric('model_api_cost_cents', l), 2.1525);
});

test('embed through @ai-sdk/openai: one embeddings span', async () => {
  const r = await withTenant('embedder', () => ai.embed({ model: openai.embedding('text-embedding-3-small'), value: 'x' }));
  assert.deepEqual(r.embedding, [0.1, -0.2, 0.3]);
  await waitForSpans(h, 1);
  const spans = callSpans();
  assert.equal(spans.length, 1);
  assert.equal(spans[0].attributes['gen_ai.operation.name'], 'embeddings');
  assert.equal(h.metric('model_api_tokens', { provider: 'openai', model: 'text-embedding-3-small', tenant_id: 'embedder', token_type: 'input' }), 42);
});

test('with the AI SDK OpenTelemetry integration registered, its chat span is the one span of the call', async () => {
  ai.registerTelemetry(new otel.OpenTelemetry());
  try {
    await withTenant('traced', () => ai.generateText({ model: openai('gpt-4o'), prompt: 'x' }));
    await withTenant('traced', async () => {
      const r = ai.streamText({ model: anthropic('claude-sonnet-4-5'), prompt: 'x' });
      for await (const part of r.textStream) void part;
    });
    await waitForSpans(h, 2);
    await new Promise((r) => setTimeout(r, 50));
    const spans = callSpans().filter((s) => s.attributes['gen_ai.operation.name'] === 'chat');
    assert.equal(spans.length, 2, h.allSpans().map((s) => `${s.instrumentationScope.name}:${s.name}:${s.kind}`).join(', '));
    for (const s of spans) {
      assert.equal(s.instrumentationScope.name, 'gen_ai', 'the AI SDK integration started it');
      assert.equal(typeof s.attributes['tenantscope.cost.usd'], 'number');
    }
    const l = { provider: 'openai', model: 'gpt-4o', tenant_id: 'traced' };
    assert.equal(h.metric('model_api_calls', { ...l, operation_type: 'chat', status: 'success' }), 1);
    assert.equal(h.metric('model_api_cost_cents', l), 0.411);
    assert.equal(h.metric('model_api_calls', { provider: 'anthropic', model: 'claude-sonnet-4-5', tenant_id: 'traced', operation_type: 'chat', status: 'success' }), 1);
  } finally {
    (globalThis as { AI_SDK_TELEMETRY_INTEGRATIONS?: unknown[] }).AI_SDK_TELEMETRY_INTEGRATIONS = [];
  }
});
