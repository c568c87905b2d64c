/**
 * Out of process, as a user runs it: `node --require ./register.js test/fixtures/llm-app.js`, an app that calls
 * openai 7, openai 4 and the Anthropic SDK (its own tracing on), streamed and not, for three tenants. The
 * provider is the loopback stand-in (no network here). Exact per-tenant tokens and cost from /metrics and
 * from the exported spans; one GenAI span per call; no content or key anywhere.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { parseMetrics, scrape, startFixture, sumOf, type RunningFixture } from '../helpers/fixture';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlpReceiver';
import { startProviderPeer, type ProviderPeer } from '../helpers/providerPeer';

/** Rounds per tenant: each round is 4 OpenAI calls (2 SDK majors × streamed or not) and 2 Anthropic calls. */
const ROUNDS: Record<string, number> = { acme: 1, globex: 2, initech: 3 };
const CALLS = [
  ['openai7', 0],
  ['openai7', 1],
  ['openai4', 0],
  ['openai4', 1],
  ['anthropic', 0],
  ['anthropic', 1],
] as const;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

describe('llm-app under --require ./register.js', () => {
  let peer: ProviderPeer;
  let receiver: OtlpReceiver;
  let app: RunningFixture;
  let metricsPort: number;
  let genai: ReceivedSpan[];

  before(async () => {
    peer = await startProviderPeer();
    receiver = await startOtlpReceiver();
    metricsPort = await freePort();
    app = await startFixture('llm-app.js', {
      env: {
        OTEL_SERVICE_NAME: 'llm-app',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_BSP_SCHEDULE_DELAY: '100',
        OTEL_METRICS_EXPORTER: 'prometheus',
        OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
        OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
        TENANTSCOPE_OPENAI_USAGE_HOSTS: '127.0.0.1',
        PEER_URL: peer.url,
      },
    });
    for (const [tenant, rounds] of Object.entries(ROUNDS)) {
      for (let r = 0; r < rounds; r++) {
        for (const [sdk, stream] of CALLS) {
          const res = await fetch(`http://127.0.0.1:${app.port}/ask?sdk=${sdk}&stream=${stream}`, { headers: { 'x-tenant-id': tenant } });
          const body = (await res.json()) as { text?: string; error?: string };
          assert.equal(res.status, 200, `${sdk} stream=${stream}: ${body.error}`);
          assert.equal(body.text, stream ? 'Hello there' : 'Hello from the stand-in.');
        }
      }
    }
    const expected = 6 * (1 + 2 + 3);
    await receiver.waitFor(() => receiver.spans.filter((s) => s.attributes['gen_ai.operation.name'] !== undefined).length >= expected, 15000, 'GenAI spans');
    genai = receiver.spans.filter((s) => s.attributes['gen_ai.operation.name'] !== undefined);
  });

  after(async () => {
    await app?.stop();
    await receiver?.close();
    await peer?.close();
  });

  it('one GenAI span per model call, with the tenant of the request', () => {
    assert.equal(genai.length, 36);
    for (const [tenant, rounds] of Object.entries(ROUNDS)) {
      const mine = genai.filter((s) => s.attributes['tenant.id'] === tenant);
      assert.equal(mine.filter((s) => s.name === 'chat gpt-4o').length, 4 * rounds, tenant);
      assert.equal(mine.filter((s) => s.name === 'chat claude-sonnet-4-5' && s.scope === 'com.anthropic.sdk.typescript').length, 2 * rounds, tenant);
    }
    assert.equal(receiver.errors.length, 0, receiver.errors.join('\n'));
  });

  it('spans carry GenAI usage and cost attributes', () => {
    const openai = genai.find((s) => s.name === 'chat gpt-4o')!;
    assert.equal(openai.kind, 3);
    assert.equal(openai.attributes['gen_ai.provider.name'], 'openai');
    assert.equal(openai.attributes['gen_ai.response.model'], 'gpt-4o-2024-08-06');
    assert.equal(openai.attributes['gen_ai.usage.input_tokens'], 1500);
    assert.equal(openai.attributes['gen_ai.usage.cache_read.input_tokens'], 1024);
    assert.equal(openai.attributes['gen_ai.usage.reasoning.output_tokens'], 128);
    assert.equal(openai.attributes['tenantscope.cost.usd'], 0.00647);
    const streamed = genai.filter((s) => s.name === 'chat gpt-4o' && s.attributes['gen_ai.response.time_to_first_chunk'] !== undefined);
    assert.equal(streamed.length, 12);
    for (const s of streamed) assert.equal(s.attributes['gen_ai.usage.output_tokens'], 400);
    const claude = genai.filter((s) => s.name === 'chat claude-sonnet-4-5' && s.scope === 'com.anthropic.sdk.typescript');
    for (const s of claude) {
      assert.equal(s.attributes['gen_ai.usage.input_tokens'], 7300);
      assert.equal(s.attributes['gen_ai.usage.cache_creation.input_tokens'], 2000);
      assert.equal(s.attributes['tenantscope.cost.usd'], 0.021525);
    }
    const costs = genai.map((s) => s.attributes['tenantscope.cost.usd'] as number);
    const total = costs.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(total - (24 * 0.00647 + 12 * 0.021525)) < 1e-12, String(total));
  });

  it('no prompt, completion or key is captured by default', () => {
    const text = JSON.stringify(receiver.spans.map((s) => s.attributes));
    for (const secret of ['confidential customer question', 'Hello from the stand-in', 'sk-app-secret', 'sk-ant-app-secret', 'Bearer']) {
      assert.ok(!text.includes(secret), secret);
    }
  });

  it('no model request carried tenant baggage', () => {
    assert.equal(peer.requests.length, 36);
    for (const r of peer.requests) assert.ok(!String(r.headers.baggage ?? '').includes('tenant.id'), String(r.headers.baggage));
  });

  it('/metrics has exact per-tenant tokens and cost in cents', async () => {
    const samples = parseMetrics(await scrape(metricsPort));
    for (const [tenant, n] of Object.entries(ROUNDS)) {
      const o = { provider: 'openai', model: 'gpt-4o', tenant_id: tenant };
      assert.equal(sumOf(samples, 'model_api_tokens_total', { ...o, token_type: 'input' }), 4 * n * 476, tenant);
      assert.equal(sumOf(samples, 'model_api_tokens_total', { ...o, token_type: 'cache_read' }), 4 * n * 1024, tenant);
      assert.equal(sumOf(samples, 'model_api_tokens_total', { ...o, token_type: 'output' }), 4 * n * 400, tenant);
      assert.equal(sumOf(samples, 'model_api_cost_cents_total', o), [2.588, 5.176, 7.764][n - 1], tenant);
      assert.equal(sumOf(samples, 'model_api_calls_total', { ...o, operation_type: 'chat', status: 'success' }), 4 * n);
      const a = { provider: 'anthropic', model: 'claude-sonnet-4-5', tenant_id: tenant };
      assert.equal(sumOf(samples, 'model_api_tokens_total', { ...a, token_type: 'input' }), 2 * n * 300, tenant);
      assert.equal(sumOf(samples, 'model_api_tokens_total', { ...a, token_type: 'cache_read' }), 2 * n * 5000, tenant);
      assert.equal(sumOf(samples, 'model_api_tokens_total', { ...a, token_type: 'cache_write' }), 2 * n * 2000, tenant);
      assert.equal(sumOf(samples, 'model_api_tokens_total', { ...a, token_type: 'output' }), 2 * n * 700, tenant);
      assert.equal(sumOf(samples, 'model_api_cost_cents_total', a), [4.305, 8.61, 12.915][n - 1], tenant);
      assert.equal(sumOf(samples, 'model_api_duration_seconds_count', { ...a, operation_type: 'chat' }), 2 * n);
    }
    assert.equal(sumOf(samples, 'gen_ai_client_token_usage_count', { gen_ai_provider_name: 'anthropic', gen_ai_token_type: 'input' }), 12);
    assert.equal(sumOf(samples, 'gen_ai_client_operation_duration_seconds_count', { gen_ai_provider_name: 'openai' }), 24);
  });
});
