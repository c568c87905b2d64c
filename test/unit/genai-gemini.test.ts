/**
 * Google Gemini through the real `@google/genai` client against the loopback provider peer (a stand-in for
 * generativelanguage.googleapis.com: no network here). generateContent, generateContentStream and embeddings:
 * one CLIENT span each, usage from `usageMetadata` (cached input at its price, thoughts billed as output),
 * exact cost from the price source, streaming latency.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { SpanKind } from '@opentelemetry/api';
import { findProvider } from '@pydantic/genai-prices';
import { withTenant } from '../../src/tenantApi';
import { startGenAIHarness, waitForSpans, type GenAIHarness } from '../helpers/genaiHarness';
import { GEMINI_EMBED_USAGE, GEMINI_USAGE, GEMINI_USAGE_LONG } from '../helpers/providerPeer';
import type { GoogleGenAI } from '@google/genai' with { 'resolution-mode': 'require' };

let h: GenAIHarness;
let ai: GoogleGenAI;

/** Cents for Gemini usage at the source's prices of `model` (its base or long-context tier), exactly as stored. */
function expectedCents(model: string, u: typeof GEMINI_USAGE): number {
  const prices = findProvider({ providerId: 'google' })!.models.find((m) => m.id === model)!.prices as Record<string, number | { base: number; tiers: { start: number; price: number }[] }>;
  const at = (k: string): bigint => {
    const v = prices[k];
    let p = typeof v === 'number' ? v : v.base;
    if (typeof v === 'object') for (const t of v.tiers) if (u.promptTokenCount > t.start) p = t.price;
    return BigInt(Math.round(p * 1e6));
  };
  const pico =
    BigInt(u.promptTokenCount - u.cachedContentTokenCount) * at('input_mtok') +
    BigInt(u.cachedContentTokenCount) * at('cache_read_mtok') +
    BigInt(u.candidatesTokenCount + u.thoughtsTokenCount) * at('output_mtok');
  return Number(pico / 10_000_000_000n) + Number(pico % 10_000_000_000n) / 1e10;
}

before(async () => {
  h = await startGenAIHarness();
  // Loaded after the instrumentation is enabled, as under --require.
  const genai = require('@google/genai') as { GoogleGenAI: typeof GoogleGenAI };
  ai = new genai.GoogleGenAI({ apiKey: 'gemini-test-secret-key', httpOptions: { baseUrl: h.peer.url } });
});
after(async () => h.close());
beforeEach(() => h.reset());

test('generateContent: one CLIENT span, usage from usageMetadata, thoughts billed as output, exact cost', async () => {
  const res = await withTenant('acme', () => ai.models.generateContent({ model: 'gemini-2.5-pro', contents: 'secret prompt' }));
  assert.equal(res.text, 'Hello from the stand-in.');
  const spans = await waitForSpans(h, 1);
  assert.equal(spans.length, 1);
  const s = spans[0];
  assert.equal(s.name, 'chat gemini-2.5-pro');
  assert.equal(s.kind, SpanKind.CLIENT);
  const a = s.attributes;
  assert.equal(a['gen_ai.provider.name'], 'gcp.gemini');
  assert.equal(a['gen_ai.request.model'], 'gemini-2.5-pro');
  assert.equal(a['gen_ai.response.model'], 'gemini-2.5-pro');
  assert.equal(a['gen_ai.response.id'], 'gem-standin1');
  assert.deepEqual(a['gen_ai.response.finish_reasons'], ['STOP']);
  assert.equal(a['gen_ai.usage.input_tokens'], GEMINI_USAGE.promptTokenCount);
  assert.equal(a['gen_ai.usage.cache_read.input_tokens'], GEMINI_USAGE.cachedContentTokenCount);
  assert.equal(a['gen_ai.usage.output_tokens'], GEMINI_USAGE.candidatesTokenCount + GEMINI_USAGE.thoughtsTokenCount);
  assert.equal(a['gen_ai.usage.reasoning.output_tokens'], GEMINI_USAGE.thoughtsTokenCount);
  assert.equal(a['tenant.id'], 'acme');
  assert.equal(a['gen_ai.response.time_to_first_chunk'], undefined, 'not streamed');
  assert.ok(!JSON.stringify(a).includes('secret prompt'));
  assert.ok(!JSON.stringify(a).includes('gemini-test-secret-key'));

  const l = { provider: 'gcp.gemini', model: 'gemini-2.5-pro', tenant_id: 'acme' };
  assert.equal(h.metric('model_api_tokens', { ...l, token_type: 'input' }), 400);
  assert.equal(h.metric('model_api_tokens', { ...l, token_type: 'cache_read' }), 800);
  assert.equal(h.metric('model_api_tokens', { ...l, token_type: 'output' }), 450);
  // 400 × $1.25 + 800 × $0.125 + 450 × $10 per 1M = 0.51 cents.
  assert.equal(h.metric('model_api_cost_cents', l), expectedCents('gemini-2.5-pro', GEMINI_USAGE));
  assert.equal(h.metric('model_api_cost_cents', l), 0.51);
  assert.equal(h.metric('model_api_calls', { ...l, operation_type: 'chat', status: 'success' }), 1);
  assert.equal(h.metric('model_api_time_to_first_token_seconds', l), 0, 'not streamed');
});

test('a long-context call is billed at the source long-context tier (Gemini 2.5 Pro above 200K input)', async () => {
  await withTenant('longctx', () =>
    ai.models.generateContent({ model: 'gemini-2.5-pro', contents: 'x', config: { httpOptions: { headers: { 'x-peer-scenario': 'long' } } } })
  );
  await waitForSpans(h, 1);
  const l = { provider: 'gcp.gemini', model: 'gemini-2.5-pro', tenant_id: 'longctx' };
  // 200,000 × $2.50 + 50,000 × $0.25 + 1,500 × $15 per 1M = 53.5 cents (base prices would give 26.75).
  assert.equal(h.metric('model_api_cost_cents', l), expectedCents('gemini-2.5-pro', GEMINI_USAGE_LONG));
  assert.equal(h.metric('model_api_cost_cents', l), 53.5);
});

test('generateContentStream: one span with the final usage, time to first chunk and chunk gaps recorded', async () => {
  const text = await withTenant('streamer', async () => {
    let t = '';
    for await (const chunk of await ai.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'x' })) t += chunk.text ?? '';
    return t;
  });
  assert.equal(text, 'Hello there');
  assert.match(h.peer.requests[0].path, /:streamGenerateContent\?alt=sse$/);
  const [s] = await waitForSpans(h, 1);
  assert.equal(h.spans().length, 1);
  assert.equal(s.attributes['gen_ai.usage.output_tokens'], 450);
  assert.equal(s.attributes['tenantscope.model.stream_end'], undefined);
  const ttfc = s.attributes['gen_ai.response.time_to_first_chunk'] as number;
  assert.ok(ttfc > 0 && ttfc < 5, String(ttfc));
  const l = { provider: 'gcp.gemini', model: 'gemini-2.5-flash', tenant_id: 'streamer' };
  assert.equal(h.metric('model_api_cost_cents', l), expectedCents('gemini-2.5-flash', GEMINI_USAGE));
  assert.equal(h.metric('model_api_time_to_first_token_seconds', l), 1);
  assert.equal(h.histogramSum('model_api_time_to_first_token_seconds', l), ttfc);
  const sem = { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'gcp.gemini', 'gen_ai.request.model': 'gemini-2.5-flash' };
  assert.equal(h.metric('gen_ai.client.operation.time_to_first_chunk', sem), 1);
  // Three chunks: two gaps after the first.
  assert.equal(h.metric('gen_ai.client.operation.time_per_output_chunk', sem), 2);
});

test('embeddings: one span with operation embeddings and input tokens', async () => {
  const res = await withTenant('embedder', () => ai.models.embedContent({ model: 'gemini-embedding-001', contents: 'hello' }));
  assert.deepEqual(res.embeddings?.[0].values, [0.1, -0.2, 0.3]);
  const [s] = await waitForSpans(h, 1);
  assert.equal(s.name, 'embeddings gemini-embedding-001');
  assert.equal(s.attributes['gen_ai.operation.name'], 'embeddings');
  assert.equal(s.attributes['gen_ai.usage.input_tokens'], GEMINI_EMBED_USAGE.promptTokenCount);
  const l = { provider: 'gcp.gemini', model: 'gemini-embedding-001', tenant_id: 'embedder' };
  assert.equal(h.metric('model_api_tokens', { ...l, token_type: 'input' }), 42);
  assert.equal(h.metric('model_api_calls', { ...l, operation_type: 'embeddings', status: 'success' }), 1);
  // $0.15 per 1M: 42 tokens = 6,300,000 pico-dollars.
  assert.equal(h.metric('model_api_cost_cents', l), 0.00063);
});

test('an error status ends the span as an error with no usage', async () => {
  await assert.rejects(
    withTenant('limited', () => ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'x', config: { httpOptions: { headers: { 'x-peer-scenario': '429' } } } }))
  );
  const [s] = await waitForSpans(h, 1);
  assert.equal(s.attributes['error.type'], '429');
  assert.equal(h.metric('model_api_calls', { provider: 'gcp.gemini', model: 'gemini-2.5-flash', tenant_id: 'limited', operation_type: 'chat', status: 'error' }), 1);
});
