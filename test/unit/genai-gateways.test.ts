/**
 * OpenAI-compatible gateways: the provider is named from the host (built-in gateway hosts, or an operator's
 * `provider=host` entry in TENANTSCOPE_MODEL_HOSTS), priced from the price source when it knows the
 * provider/model pair, otherwise counted as unpriced. The real `openai` 7 client against two loopback peers
 * standing in for a Groq endpoint and an Ollama server (no network here).
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { diag, DiagLogLevel } from '@opentelemetry/api';
import { GATEWAY_HOSTS, ModelEndpointPolicy } from '../../src/core/tenant/ModelEndpointPolicy';
import { HostPolicy } from '../../src/core/tenant/HostPolicy';
import { PriceTable } from '../../src/core/pricing/PriceTable';
import { loadConfig } from '../../src/core/config';
import { classify } from '../../instrumentations/genai/utils';
import type { Settings } from '../../instrumentations/genai/internal-types';
import { withTenant } from '../../src/tenantApi';
import { startGenAIHarness, waitForSpans, type GenAIHarness } from '../helpers/genaiHarness';
import { startProviderPeer, type ProviderPeer } from '../helpers/providerPeer';

let groq: ProviderPeer;
let ollama: ProviderPeer;
let h: GenAIHarness;
let OpenAI: typeof import('openai').default;

before(async () => {
  groq = await startProviderPeer();
  ollama = await startProviderPeer();
  const port = (url: string): string => new URL(url).port;
  h = await startGenAIHarness({
    openaiUsageHosts: [],
    modelEndpoints: new ModelEndpointPolicy([`groq=127.0.0.1:${port(groq.url)}`, `ollama=localhost:${port(ollama.url)}`]),
  });
  OpenAI = (require('openai') as typeof import('openai')).default;
});
after(async () => {
  await h.close();
  await groq.close();
  await ollama.close();
});
beforeEach(() => {
  h.reset();
  groq.requests.length = 0;
});

function settings(endpoints: ModelEndpointPolicy): Settings {
  return { prices: new PriceTable(), endpoints, usageHosts: new HostPolicy([]), capture: false, bodyTimeoutMs: 30_000 };
}

test('built-in gateway hosts name the provider; provider hosts keep theirs; an unknown host is no model call', () => {
  const s = settings(new ModelEndpointPolicy());
  const provider = (url: string): string | undefined => classify(new URL(url), 'POST', {}, s)?.provider;
  assert.equal(provider('https://openrouter.ai/api/v1/chat/completions'), 'openrouter');
  assert.equal(provider('https://api.groq.com/openai/v1/chat/completions'), 'groq');
  assert.equal(provider('https://api.deepseek.com/chat/completions'), 'deepseek');
  assert.equal(provider('https://api.together.xyz/v1/chat/completions'), 'together');
  assert.equal(provider('https://api.mistral.ai/v1/chat/completions'), 'mistral');
  assert.equal(provider('https://api.x.ai/v1/responses'), 'x-ai');
  assert.equal(provider('https://api.openai.com/v1/chat/completions'), 'openai');
  assert.equal(provider('https://api.anthropic.com/v1/messages'), 'anthropic');
  assert.equal(provider('https://generativelanguage.googleapis.com/v1beta/openai/chat/completions'), 'gcp.gemini');
  assert.equal(provider('https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent'), 'gcp.gemini');
  assert.equal(provider('https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro:generateContent'), 'gcp.vertex_ai');
  assert.equal(provider('https://internal.example.com/v1/chat/completions'), undefined);
  // Every built-in gateway is a model host: no tenant baggage reaches it.
  const policy = new ModelEndpointPolicy();
  for (const host of Object.keys(GATEWAY_HOSTS)) assert.ok(policy.isModelHost(host), host);
});

test('an operator entry names the provider of a host; a plain entry keeps the API dialect', () => {
  const s = settings(new ModelEndpointPolicy(['ollama=localhost:11434', 'llm-gw.internal', 'acme=*.models.acme.dev']));
  const provider = (url: string): string | undefined => classify(new URL(url), 'POST', {}, s)?.provider;
  assert.equal(provider('http://localhost:11434/v1/chat/completions'), 'ollama');
  assert.equal(provider('http://localhost:8080/v1/chat/completions'), undefined, 'another port is not listed');
  assert.equal(provider('http://llm-gw.internal/v1/chat/completions'), 'openai');
  assert.equal(provider('http://llm-gw.internal/v1/messages'), 'anthropic');
  assert.equal(provider('https://eu.models.acme.dev/v1/embeddings'), 'acme');
});

test('TENANTSCOPE_MODEL_HOSTS accepts provider=host entries; a malformed one is one log line and ignored', () => {
  const lines: string[] = [];
  diag.setLogger({ error: (m) => lines.push(m), warn: (m) => lines.push(m), info: () => undefined, debug: () => undefined, verbose: () => undefined }, DiagLogLevel.WARN);
  try {
    const c = loadConfig({ TENANTSCOPE_MODEL_HOSTS: 'ollama=localhost:11434,vllm.internal:8000,bad name=x,=nohost' });
    assert.deepEqual(c.modelHosts, ['ollama=localhost:11434', 'vllm.internal:8000']);
  } finally {
    diag.disable();
  }
  assert.equal(lines.length, 1, lines.join('\n'));
  assert.match(lines[0], /TENANTSCOPE_MODEL_HOSTS: "bad name=x", "=nohost" not a \[provider=\]host/);
});

test('a call through a named gateway is counted and priced under that provider', async () => {
  const client = new OpenAI({ apiKey: 'gsk-test-secret', baseURL: `${groq.url}/openai/v1`, maxRetries: 0 });
  await withTenant('acme', () => client.chat.completions.create({ model: 'llama-3.3-70b-versatile', messages: [{ role: 'user', content: 'x' }] }));
  const [s] = await waitForSpans(h, 1);
  assert.equal(s.attributes['gen_ai.provider.name'], 'groq');
  assert.equal(s.name, 'chat llama-3.3-70b-versatile');
  const l = { provider: 'groq', model: 'llama-3.3-70b-versatile', tenant_id: 'acme' };
  assert.equal(h.metric('model_api_tokens', { ...l, token_type: 'input' }), 476);
  // Groq lists no cached-input price, so cached tokens are billed at the input price:
  // 1,500 × $0.59 + 400 × $0.79 per 1M = 1,201,000,000 pico-dollars.
  assert.equal(h.metric('model_api_cost_cents', l), 0.1201);
  // A model endpoint: no tenant baggage, though it is a loopback host.
  assert.ok(!String(groq.requests[0].headers.baggage ?? '').includes('tenant.id'));
});

test('a model the price source does not know for that provider is counted as unpriced', async () => {
  const client = new OpenAI({ apiKey: 'ollama', baseURL: `${ollama.url.replace('127.0.0.1', 'localhost')}/v1`, maxRetries: 0 });
  await withTenant('selfhost', () => client.chat.completions.create({ model: 'llama3.1:8b', messages: [{ role: 'user', content: 'x' }] }));
  const [s] = await waitForSpans(h, 1);
  assert.equal(s.attributes['gen_ai.provider.name'], 'ollama');
  assert.equal(s.attributes['tenantscope.cost.usd'], undefined);
  const l = { provider: 'ollama', model: 'llama3.1:8b', tenant_id: 'selfhost' };
  assert.equal(h.metric('model_api_tokens', { ...l, token_type: 'output' }), 400);
  assert.equal(h.metric('model_api_cost_cents', l), 0);
  assert.equal(h.metric('tenantscope.models.unpriced', { model: 'llama3.1:8b' }), 1);
});
