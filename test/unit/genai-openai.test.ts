/**
 * OpenAI through the real `openai` 7 client against the loopback provider peer (a stand-in for
 * api.openai.com: no network here). Exact tokens, cost and spans per call.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { withTenant } from '../../src/tenantApi';
import { startGenAIHarness, waitForSpans, type GenAIHarness } from '../helpers/genaiHarness';
import { OPENAI_CHAT_USAGE } from '../helpers/providerPeer';

let h: GenAIHarness;
let OpenAI: typeof import('openai').default;
let client: InstanceType<typeof import('openai').default>;

// gpt-4o at $2.50 / $1.25 cached / $10 per 1M: 476 uncached + 1024 cached in, 400 out = 6,470,000,000 pico-dollars.
const GPT4O_CHAT_CENTS = 0.647;

before(async () => {
  h = await startGenAIHarness();
  // Loaded after the instrumentation is enabled, as under --require.
  OpenAI = (require('openai') as typeof import('openai')).default;
  client = new OpenAI({ apiKey: 'sk-test-secret-key', baseURL: `${h.peer.url}/v1`, maxRetries: 0 });
});
after(async () => h.close());
beforeEach(() => h.reset());

function attrs(span: { attributes: Record<string, unknown> }): Record<string, unknown> {
  return span.attributes;
}

test('a chat completion gives one CLIENT span with GenAI attributes, billed tokens and cost', async () => {
  const res = await withTenant('acme', () => client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'secret prompt' }] }));
  assert.equal(res.choices[0].message.content, 'Hello from the stand-in.');
  const spans = await waitForSpans(h, 1);
  assert.equal(spans.length, 1);
  const s = spans[0];
  assert.equal(s.name, 'chat gpt-4o');
  assert.equal(s.kind, SpanKind.CLIENT);
  const a = attrs(s);
  assert.equal(a['gen_ai.operation.name'], 'chat');
  assert.equal(a['gen_ai.provider.name'], 'openai');
  assert.equal(a['gen_ai.request.model'], 'gpt-4o');
  assert.equal(a['gen_ai.response.model'], 'gpt-4o-2024-08-06');
  assert.equal(a['gen_ai.response.id'], 'chatcmpl-standin1');
  assert.deepEqual(a['gen_ai.response.finish_reasons'], ['stop']);
  assert.equal(a['gen_ai.usage.input_tokens'], 1500);
  assert.equal(a['gen_ai.usage.output_tokens'], 400);
  assert.equal(a['gen_ai.usage.cache_read.input_tokens'], 1024);
  assert.equal(a['gen_ai.usage.reasoning.output_tokens'], 128);
  assert.equal(a['tenant.id'], 'acme');
  assert.equal(a['tenantscope.cost.usd'], 0.00647);
  assert.equal(a['openai.response.service_tier'], 'default');

  const l = { provider: 'openai', model: 'gpt-4o', tenant_id: 'acme' };
  assert.equal(h.metric('model_api_tokens', { ...l, token_type: 'input' }), 476);
  assert.equal(h.metric('model_api_tokens', { ...l, token_type: 'cache_read' }), 1024);
  assert.equal(h.metric('model_api_tokens', { ...l, token_type: 'cache_write' }), 0);
  assert.equal(h.metric('model_api_tokens', { ...l, token_type: 'output' }), 400);
  assert.equal(h.metric('model_api_cost_cents', l), GPT4O_CHAT_CENTS);
  assert.equal(h.metric('model_api_calls', { ...l, operation_type: 'chat', status: 'success' }), 1);
  assert.equal(h.metric('model_api_duration_seconds', { ...l, operation_type: 'chat' }), 1);
  const sem = { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o' };
  assert.equal(h.histogramSum('gen_ai.client.token.usage', { ...sem, 'gen_ai.token.type': 'input' }), 1500);
  assert.equal(h.histogramSum('gen_ai.client.token.usage', { ...sem, 'gen_ai.token.type': 'output' }), 400);
  assert.equal(h.metric('gen_ai.client.operation.duration', { ...sem, 'error.type': '' }), 1);
});

test('no prompt, completion, API key or Authorization header appears on the span by default', async () => {
  await withTenant('privacy', () => client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'secret prompt' }] }));
  const [s] = await waitForSpans(h, 1);
  const text = JSON.stringify(s.attributes);
  assert.ok(!text.includes('secret prompt'), text);
  assert.ok(!text.includes('Hello from the stand-in'), text);
  assert.ok(!text.includes('sk-test-secret-key'), text);
  assert.ok(!/authorization|bearer/i.test(text), text);
  assert.equal(s.attributes['gen_ai.input.messages'], undefined);
  // The request did reach the peer with its key: we removed nothing the app sent.
  assert.equal(h.peer.requests[0].headers.authorization, 'Bearer sk-test-secret-key');
});

test('tenant baggage is not sent to the model endpoint, though it is a loopback (internal) host', async () => {
  await withTenant('acme', async () => {
    await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] });
    // Control: the same host on a non-model path is an internal service and does get the tenant.
    await (await fetch(`${h.peer.url}/internal/health`)).text();
  });
  await waitForSpans(h, 1);
  assert.equal(h.peer.requests.length, 2);
  const [model, control] = h.peer.requests;
  assert.match(String(model.headers.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
  assert.ok(!String(model.headers.baggage ?? '').includes('tenant.id'), `baggage sent: ${model.headers.baggage}`);
  assert.equal(control.headers.baggage, 'tenant.id=acme');
  assert.equal(h.spans().length, 1);
});

test('a streamed chat completion is asked for usage, and the caller never sees the extra usage chunk', async () => {
  const chunks = await withTenant('streamer', async () => {
    const stream = await client.chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'x' }] });
    const got: { choices: unknown[]; usage?: unknown }[] = [];
    for await (const c of stream) got.push(c);
    return got;
  });
  const sent = JSON.parse(h.peer.requests[0].body) as { stream_options?: unknown };
  assert.deepEqual(sent.stream_options, { include_usage: true });
  assert.equal(chunks.length, 4);
  assert.ok(chunks.every((c) => c.choices.length === 1));
  const [s] = await waitForSpans(h, 1);
  assert.equal(s.attributes['gen_ai.usage.input_tokens'], OPENAI_CHAT_USAGE.prompt_tokens);
  assert.equal(s.attributes['gen_ai.usage.output_tokens'], OPENAI_CHAT_USAGE.completion_tokens);
  assert.deepEqual(s.attributes['gen_ai.response.finish_reasons'], ['stop']);
  const ttfc = s.attributes['gen_ai.response.time_to_first_chunk'];
  assert.equal(typeof ttfc, 'number');
  assert.ok((ttfc as number) > 0 && (ttfc as number) < 5, String(ttfc));
  assert.equal(h.metric('model_api_cost_cents', { provider: 'openai', model: 'gpt-4o', tenant_id: 'streamer' }), GPT4O_CHAT_CENTS);
});

test('a caller that asked for usage itself gets the usage chunk, and its request is sent unchanged', async () => {
  const body = { model: 'gpt-4o', stream: true as const, stream_options: { include_usage: true }, messages: [{ role: 'user' as const, content: 'x' }] };
  const chunks = await withTenant('asker', async () => {
    const got: { choices: unknown[]; usage?: unknown }[] = [];
    for await (const c of await client.chat.completions.create(body)) got.push(c);
    return got;
  });
  assert.equal(chunks.length, 5);
  assert.deepEqual(chunks[4].usage, OPENAI_CHAT_USAGE);
  assert.deepEqual(JSON.parse(h.peer.requests[0].body), body);
  await waitForSpans(h, 1);
  assert.equal(h.metric('model_api_tokens', { provider: 'openai', model: 'gpt-4o', tenant_id: 'asker', token_type: 'output' }), 400);
});

test('a stream the caller abandons still ends its span, once, with what was known', async () => {
  await withTenant('quitter', async () => {
    const stream = await client.chat.completions.create(
      { model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'x' }] },
      { headers: { 'x-peer-scenario': 'slow' } }
    );
    for await (const c of stream) {
      assert.equal(c.choices.length, 1);
      break;
    }
  });
  const spans = await waitForSpans(h, 1);
  assert.equal(spans.length, 1);
  const s = spans[0];
  assert.equal(s.attributes['tenantscope.model.stream_end'], 'abandoned');
  assert.equal(s.attributes['tenantscope.model.usage_missing'], true);
  assert.equal(s.status.code, SpanStatusCode.UNSET);
  assert.equal(h.metric('model_api_calls', { provider: 'openai', model: 'gpt-4o', tenant_id: 'quitter', operation_type: 'chat', status: 'success' }), 1);
  assert.equal(h.metric('model_api_tokens', { provider: 'openai', model: 'gpt-4o', tenant_id: 'quitter', token_type: 'input' }), 0);
});

test('a 429 reaches the app as the SDK error it always was, and counts as an error call', async () => {
  const err = await withTenant('limited', () =>
    client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-peer-scenario': '429' } })
  ).catch((e: unknown) => e);
  assert.ok(err instanceof OpenAI.RateLimitError, String(err));
  assert.equal((err as { status: number }).status, 429);
  const [s] = await waitForSpans(h, 1);
  assert.equal(s.status.code, SpanStatusCode.ERROR);
  assert.equal(s.attributes['error.type'], '429');
  assert.equal(h.metric('model_api_calls', { provider: 'openai', model: 'gpt-4o', tenant_id: 'limited', operation_type: 'chat', status: 'error' }), 1);
  const sem = { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o' };
  assert.equal(h.metric('gen_ai.client.operation.duration', { ...sem, 'error.type': '429' }), 1);
});

test('a 500 counts as an error call', async () => {
  const err = await withTenant('broken', () =>
    client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-peer-scenario': '500' } })
  ).catch((e: unknown) => e);
  assert.ok(err instanceof OpenAI.InternalServerError, String(err));
  await waitForSpans(h, 1);
  assert.equal(h.metric('model_api_calls', { provider: 'openai', model: 'gpt-4o', tenant_id: 'broken', operation_type: 'chat', status: 'error' }), 1);
});

test('a truncated stream ends its span; the app gets the same error it would without us', async () => {
  const err = await withTenant('cut', async () => {
    const stream = await client.chat.completions.create(
      { model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'x' }] },
      { headers: { 'x-peer-scenario': 'truncate' } }
    );
    let n = 0;
    try {
      for await (const c of stream) {
        assert.equal(c.choices.length, 1);
        n++;
      }
    } catch (e) {
      return { e, n };
    }
    return { e: undefined, n };
  });
  assert.equal(err.n, 2);
  const [s] = await waitForSpans(h, 1);
  assert.equal(s.attributes['tenantscope.model.usage_missing'], err.e === undefined ? true : undefined);
  assert.equal(h.metric('model_api_tokens', { provider: 'openai', model: 'gpt-4o', tenant_id: 'cut', token_type: 'output' }), 0);
  const status = err.e === undefined ? 'success' : 'error';
  assert.equal(h.metric('model_api_calls', { provider: 'openai', model: 'gpt-4o', tenant_id: 'cut', operation_type: 'chat', status }), 1);
});

test('a malformed JSON body: the SDK throws its own parse error, and the span ends without usage', async () => {
  const err = await withTenant('garbled', () =>
    client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-peer-scenario': 'malformed' } })
  ).catch((e: unknown) => e);
  assert.ok(err instanceof Error, String(err));
  const spans = await waitForSpans(h, 1);
  assert.equal(spans.length, 1);
  assert.equal(h.metric('model_api_tokens', { provider: 'openai', model: 'gpt-4o', tenant_id: 'garbled', token_type: 'input' }), 0);
});

test('a response without usage is counted as a call, with no tokens and no cost', async () => {
  await withTenant('nousage', () =>
    client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-peer-scenario': 'no-usage' } })
  );
  const [s] = await waitForSpans(h, 1);
  assert.equal(s.attributes['tenantscope.model.usage_missing'], true);
  assert.equal(s.attributes['tenantscope.cost.usd'], undefined);
  const l = { provider: 'openai', model: 'gpt-4o', tenant_id: 'nousage' };
  assert.equal(h.metric('model_api_calls', { ...l, operation_type: 'chat', status: 'success' }), 1);
  assert.equal(h.metric('model_api_cost_cents', l), 0);
});

test('an unknown model counts its tokens, gets no cost, and is counted as unpriced', async () => {
  await withTenant('lab', () => client.chat.completions.create({ model: 'my-finetune-7b', messages: [{ role: 'user', content: 'x' }] }));
  const [s] = await waitForSpans(h, 1);
  assert.equal(s.attributes['tenantscope.cost.usd'], undefined);
  const l = { provider: 'openai', model: 'my-finetune-7b', tenant_id: 'lab' };
  assert.equal(h.metric('model_api_tokens', { ...l, token_type: 'input' }), 476);
  assert.equal(h.metric('tenantscope.models.unpriced', { model: 'my-finetune-7b' }), 1);
});

test('the Responses API, streamed and not, is priced from input/output token details', async () => {
  await withTenant('resp', async () => {
    await client.responses.create({ model: 'gpt-4o', input: 'hi' });
    const stream = await client.responses.create({ model: 'gpt-4o', input: 'hi', stream: true });
    for await (const _ of stream) void _;
  });
  const spans = await waitForSpans(h, 2);
  assert.equal(spans.length, 2);
  for (const s of spans) {
    assert.equal(s.name, 'chat gpt-4o');
    assert.equal(s.attributes['gen_ai.usage.input_tokens'], 900);
    assert.equal(s.attributes['gen_ai.usage.cache_read.input_tokens'], 512);
    assert.equal(s.attributes['gen_ai.usage.reasoning.output_tokens'], 64);
    assert.equal(s.attributes['gen_ai.response.id'], 'resp_standin1');
  }
  // 388 × 2.5 + 512 × 1.25 + 250 × 10 = 4,110,000,000 pico-dollars per call.
  assert.equal(h.metric('model_api_cost_cents', { provider: 'openai', model: 'gpt-4o', tenant_id: 'resp' }), 0.822);
  // The Responses API always streams usage: nothing is added to its request.
  assert.equal((JSON.parse(h.peer.requests[1].body) as { stream_options?: unknown }).stream_options, undefined);
});

test('embeddings are one span each, priced on input tokens', async () => {
  await withTenant('embed', () => client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello' }));
  const [s] = await waitForSpans(h, 1);
  assert.equal(s.name, 'embeddings text-embedding-3-small');
  assert.equal(s.attributes['gen_ai.usage.input_tokens'], 42);
  // 42 × $0.02 / 1M = 840,000 pico-dollars = 0.000084 cents.
  assert.equal(h.metric('model_api_cost_cents', { provider: 'openai', model: 'text-embedding-3-small', tenant_id: 'embed' }), 0.000084);
});

test('a priority tier the price source does not price is billed at the standard price', async () => {
  await withTenant('vip', () => client.chat.completions.create({ model: 'gpt-4o', service_tier: 'priority', messages: [{ role: 'user', content: 'x' }] }));
  const [s] = await waitForSpans(h, 1);
  assert.equal(s.attributes['openai.response.service_tier'], 'priority');
  // @pydantic/genai-prices lists standard prices only; an operator's TENANTSCOPE_PRICES_FILE can add a tier price.
  assert.equal(h.metric('model_api_cost_cents', { provider: 'openai', model: 'gpt-4o', tenant_id: 'vip' }), GPT4O_CHAT_CENTS);
});
