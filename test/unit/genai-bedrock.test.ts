/**
 * AWS Bedrock through the real `@aws-sdk/client-bedrock-runtime` (its default HTTP/2 handler, SigV4 signing,
 * event-stream decoding) against the loopback provider peer's HTTP/2 Bedrock stand-in (no network here).
 * Converse, ConverseStream, InvokeModel and InvokeModelWithResponseStream (Anthropic models): one CLIENT span
 * per call, exact tokens and cost from the price source's `aws` prices.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { findProvider } from '@pydantic/genai-prices';
import { withTenant } from '../../src/tenantApi';
import { startGenAIHarness, waitForSpans, type GenAIHarness } from '../helpers/genaiHarness';
import { ANTHROPIC_USAGE, BEDROCK_USAGE } from '../helpers/providerPeer';

type Bedrock = typeof import('@aws-sdk/client-bedrock-runtime');
let h: GenAIHarness;
let sdk: Bedrock;
let client: InstanceType<Bedrock['BedrockRuntimeClient']>;
const MODEL = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';
const PROMPT = [{ role: 'user' as const, content: [{ text: 'secret prompt' }] }];

/** Pico-dollars → cents as the metric store keeps them (whole cents + remainder / 1e10). */
function cents(pico: bigint): number {
  return Number(pico / 10_000_000_000n) + Number(pico % 10_000_000_000n) / 1e10;
}
/** The source's `aws` price of a Bedrock model id, per class, in pico-dollars per token. */
function awsPrices(modelId: string): Record<'input' | 'read' | 'write' | 'output', bigint> {
  const m = findProvider({ providerId: 'aws' })!.models.find((x) => x.id === `regional.${modelId.replace(/^us\./, '')}`)!;
  const p = m.prices as Record<string, number>;
  const pico = (v: number | undefined): bigint => BigInt(Math.round((v ?? 0) * 1e6));
  return { input: pico(p.input_mtok), read: pico(p.cache_read_mtok ?? p.input_mtok), write: pico(p.cache_write_mtok ?? p.input_mtok), output: pico(p.output_mtok) };
}

before(async () => {
  h = await startGenAIHarness();
  // Loaded after the instrumentation is enabled, as under --require.
  sdk = require('@aws-sdk/client-bedrock-runtime') as Bedrock;
  client = new sdk.BedrockRuntimeClient({
    region: 'us-east-1',
    endpoint: h.peer.bedrockUrl,
    credentials: { accessKeyId: 'AKIDTESTSECRET', secretAccessKey: 'aws-test-secret-key' },
    maxAttempts: 1,
  });
});
after(async () => {
  client.destroy();
  await h.close();
});
beforeEach(() => h.reset());

test('Converse: one CLIENT span, usage with cache reads and writes, exact cost from the source aws prices', async () => {
  const res = await withTenant('acme', () => client.send(new sdk.ConverseCommand({ modelId: MODEL, messages: PROMPT })));
  assert.equal(res.output?.message?.content?.[0].text, 'Hello from the stand-in.');
  const spans = await waitForSpans(h, 1);
  assert.equal(spans.length, 1);
  const s = spans[0];
  assert.equal(s.name, `chat ${MODEL}`);
  assert.equal(s.kind, SpanKind.CLIENT);
  const a = s.attributes;
  assert.equal(a['gen_ai.provider.name'], 'aws.bedrock');
  assert.equal(a['gen_ai.request.model'], MODEL);
  assert.deepEqual(a['gen_ai.response.finish_reasons'], ['end_turn']);
  assert.equal(a['gen_ai.usage.input_tokens'], BEDROCK_USAGE.inputTokens + BEDROCK_USAGE.cacheReadInputTokens + BEDROCK_USAGE.cacheWriteInputTokens);
  assert.equal(a['gen_ai.usage.cache_read.input_tokens'], BEDROCK_USAGE.cacheReadInputTokens);
  assert.equal(a['gen_ai.usage.cache_creation.input_tokens'], BEDROCK_USAGE.cacheWriteInputTokens);
  assert.equal(a['gen_ai.usage.output_tokens'], BEDROCK_USAGE.outputTokens);
  assert.equal(a['tenant.id'], 'acme');
  const text = JSON.stringify(a);
  assert.ok(!text.includes('secret prompt') && !text.includes('aws-test-secret-key'), text);
  // The request went through the SDK's signing, as to the real service.
  assert.match(String(h.peer.requests[0].headers.authorization), /^AWS4-HMAC-SHA256 Credential=AKIDTESTSECRET\//);

  const l = { provider: 'aws.bedrock', model: MODEL, tenant_id: 'acme' };
  assert.equal(h.metric('model_api_tokens', { ...l, token_type: 'input' }), 400);
  assert.equal(h.metric('model_api_tokens', { ...l, token_type: 'cache_read' }), 3000);
  assert.equal(h.metric('model_api_tokens', { ...l, token_type: 'cache_write' }), 600);
  assert.equal(h.metric('model_api_tokens', { ...l, token_type: 'output' }), 250);
  const p = awsPrices(MODEL);
  assert.equal(h.metric('model_api_cost_cents', l), cents(400n * p.input + 3000n * p.read + 600n * p.write + 250n * p.output));
  assert.equal(h.metric('model_api_calls', { ...l, operation_type: 'chat', status: 'success' }), 1);
});

test('ConverseStream: one span ended after the last event, with its usage and streaming latency', async () => {
  const text = await withTenant('streamer', async () => {
    const res = await client.send(new sdk.ConverseStreamCommand({ modelId: MODEL, messages: PROMPT }));
    let t = '';
    for await (const e of res.stream!) t += e.contentBlockDelta?.delta?.text ?? '';
    return t;
  });
  assert.equal(text, 'Hello there');
  const [s] = await waitForSpans(h, 1);
  assert.equal(h.spans().length, 1);
  assert.equal(s.attributes['gen_ai.usage.output_tokens'], 250);
  assert.equal(s.attributes['tenantscope.model.stream_end'], undefined);
  assert.equal(typeof s.attributes['gen_ai.response.time_to_first_chunk'], 'number');
  const l = { provider: 'aws.bedrock', model: MODEL, tenant_id: 'streamer' };
  const p = awsPrices(MODEL);
  assert.equal(h.metric('model_api_cost_cents', l), cents(400n * p.input + 3000n * p.read + 600n * p.write + 250n * p.output));
  assert.equal(h.metric('model_api_time_to_first_token_seconds', l), 1);
  // Two text deltas: one gap after the first.
  const sem = { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'aws.bedrock', 'gen_ai.request.model': MODEL };
  assert.equal(h.metric('gen_ai.client.operation.time_per_output_chunk', sem), 1);
});

test('InvokeModel with an Anthropic model: usage read from the Anthropic response body', async () => {
  const body = JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 100, messages: [{ role: 'user', content: 'x' }] });
  const res = await withTenant('invoker', () => client.send(new sdk.InvokeModelCommand({ modelId: MODEL, body, contentType: 'application/json' })));
  const out = JSON.parse(new TextDecoder().decode(res.body)) as { content: { text: string }[] };
  assert.equal(out.content[0].text, 'Hello from the stand-in.');
  const [s] = await waitForSpans(h, 1);
  assert.equal(s.attributes['gen_ai.usage.output_tokens'], ANTHROPIC_USAGE.output_tokens);
  assert.equal(s.attributes['gen_ai.usage.cache_read.input_tokens'], ANTHROPIC_USAGE.cache_read_input_tokens);
  const l = { provider: 'aws.bedrock', model: MODEL, tenant_id: 'invoker' };
  assert.equal(h.metric('model_api_tokens', { ...l, token_type: 'input' }), 300);
  assert.equal(h.metric('model_api_tokens', { ...l, token_type: 'cache_write' }), 2000);
  const p = awsPrices(MODEL);
  // Bedrock's Anthropic prices have no 1-hour write price: all writes at the cache-write price.
  assert.equal(h.metric('model_api_cost_cents', l), cents(300n * p.input + 5000n * p.read + 2000n * p.write + 700n * p.output));
});

test('InvokeModelWithResponseStream with an Anthropic model: events decoded from the chunks', async () => {
  const body = JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 100, messages: [{ role: 'user', content: 'x' }] });
  const n = await withTenant('invstream', async () => {
    const res = await client.send(new sdk.InvokeModelWithResponseStreamCommand({ modelId: MODEL, body, contentType: 'application/json' }));
    let count = 0;
    for await (const e of res.body!) if (e.chunk?.bytes !== undefined) count++;
    return count;
  });
  assert.equal(n, 8);
  const [s] = await waitForSpans(h, 1);
  assert.equal(s.attributes['gen_ai.usage.output_tokens'], ANTHROPIC_USAGE.output_tokens);
  assert.equal(s.attributes['tenantscope.model.stream_end'], undefined);
  assert.equal(h.metric('model_api_tokens', { provider: 'aws.bedrock', model: MODEL, tenant_id: 'invstream', token_type: 'cache_read' }), 5000);
});

test('a throttled call is one error span with the exception name as error.type', async () => {
  client.middlewareStack.add(
    (next) => (args) => {
      (args.request as { headers: Record<string, string> }).headers['x-peer-scenario'] = '429';
      return next(args);
    },
    { step: 'build', name: 'peerScenario' }
  );
  try {
    await assert.rejects(
      withTenant('throttled', () => client.send(new sdk.ConverseCommand({ modelId: MODEL, messages: PROMPT }))),
      (err: Error) => err.name === 'ThrottlingException'
    );
  } finally {
    client.middlewareStack.remove('peerScenario');
  }
  const [s] = await waitForSpans(h, 1);
  assert.equal(s.status.code, SpanStatusCode.ERROR);
  assert.equal(s.attributes['error.type'], 'ThrottlingException');
  assert.equal(h.metric('model_api_calls', { provider: 'aws.bedrock', model: MODEL, tenant_id: 'throttled', operation_type: 'chat', status: 'error' }), 1);
});

test('breaking out of a ConverseStream ends the span as abandoned, without usage', async () => {
  await withTenant('quitter', async () => {
    const res = await client.send(new sdk.ConverseStreamCommand({ modelId: MODEL, messages: PROMPT }));
    for await (const e of res.stream!) if (e.contentBlockDelta !== undefined) break;
  });
  const [s] = await waitForSpans(h, 1);
  assert.equal(s.attributes['tenantscope.model.stream_end'], 'abandoned');
  assert.equal(s.attributes['tenantscope.model.usage_missing'], true);
});
