/**
 * AWS Bedrock with upstream `@opentelemetry/instrumentation-aws-sdk` also installed: it starts a CLIENT span per
 * AWS call (and its Bedrock extension ends a stream's span after the stream). tenantscope's Bedrock middleware
 * runs inside that span and enriches it: one span per call, never two, with our usage, cost and tenant
 * metrics. Real `@aws-sdk/client-bedrock-runtime` against the loopback HTTP/2 stand-in (no network here).
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { SpanKind } from '@opentelemetry/api';
import { AwsInstrumentation } from '@opentelemetry/instrumentation-aws-sdk';
import { withTenant } from '../../src/tenantApi';
import { startGenAIHarness, waitForSpans, type GenAIHarness } from '../helpers/genaiHarness';
import { BEDROCK_USAGE } from '../helpers/providerPeer';

type Bedrock = typeof import('@aws-sdk/client-bedrock-runtime');
let h: GenAIHarness;
let aws: AwsInstrumentation;
let sdk: Bedrock;
let client: InstanceType<Bedrock['BedrockRuntimeClient']>;
const MODEL = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';
const PROMPT = [{ role: 'user' as const, content: [{ text: 'x' }] }];

before(async () => {
  h = await startGenAIHarness();
  aws = new AwsInstrumentation();
  aws.setTracerProvider(h.tracerProvider);
  aws.enable();
  sdk = require('@aws-sdk/client-bedrock-runtime') as Bedrock;
  client = new sdk.BedrockRuntimeClient({
    region: 'us-east-1',
    endpoint: h.peer.bedrockUrl,
    credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' },
    maxAttempts: 1,
  });
});
after(async () => {
  client.destroy();
  aws.disable();
  await h.close();
});
beforeEach(() => h.reset());

function upstreamSpans(): ReturnType<GenAIHarness['allSpans']> {
  return h.allSpans().filter((s) => s.instrumentationScope.name === '@opentelemetry/instrumentation-aws-sdk');
}

test('Converse: the upstream span is the one span of the call, enriched with usage, cost and tenant', async () => {
  await withTenant('acme', () => client.send(new sdk.ConverseCommand({ modelId: MODEL, messages: PROMPT })));
  await waitForSpans(h, 1);
  const all = h.allSpans();
  assert.equal(all.length, 1, all.map((s) => `${s.instrumentationScope.name} ${s.name}`).join(', '));
  const [s] = upstreamSpans();
  assert.equal(s.kind, SpanKind.CLIENT);
  assert.equal(s.name, `chat ${MODEL}`);
  assert.equal(s.attributes['gen_ai.usage.output_tokens'], BEDROCK_USAGE.outputTokens);
  assert.equal(typeof s.attributes['tenantscope.cost.usd'], 'number');
  const l = { provider: 'aws.bedrock', model: MODEL, tenant_id: 'acme' };
  assert.equal(h.metric('model_api_tokens', { ...l, token_type: 'cache_read' }), BEDROCK_USAGE.cacheReadInputTokens);
  assert.equal(h.metric('model_api_calls', { ...l, operation_type: 'chat', status: 'success' }), 1);
  assert.ok(h.metric('model_api_cost_cents', l) > 0);
  // Upstream records gen_ai.client.* itself: ours are not recorded for its spans, so nothing counts twice.
  const sem = { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'aws.bedrock', 'gen_ai.request.model': MODEL, 'error.type': '' };
  assert.equal(h.metric('gen_ai.client.operation.duration', sem), 0);
});

test('ConverseStream: upstream ends its span after the stream, with our usage on it', async () => {
  await withTenant('streamer', async () => {
    const res = await client.send(new sdk.ConverseStreamCommand({ modelId: MODEL, messages: PROMPT }));
    for await (const e of res.stream!) void e;
  });
  await waitForSpans(h, 1);
  assert.equal(h.allSpans().length, 1);
  const [s] = upstreamSpans();
  assert.equal(s.attributes['gen_ai.usage.output_tokens'], BEDROCK_USAGE.outputTokens);
  assert.equal(h.metric('model_api_tokens', { provider: 'aws.bedrock', model: MODEL, tenant_id: 'streamer', token_type: 'output' }), 250);
});
