/**
 * Cost on /metrics, as a user runs it (`node --require ./register.js`), for current models across providers,
 * each called through its official SDK against loopback stand-ins (no network here): the value of
 * `model_api_cost_cents_total` must equal the price source's per-token prices × the tokens the stand-in
 * reported, exactly in integer pico-dollars (and agree with the source's own float total). Long-context calls
 * are billed at their tier.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { calcPrice, extractUsage, findProvider } from '@pydantic/genai-prices';
import { parseMetrics, scrape, startFixture, type RunningFixture } from '../helpers/fixture';
import {
  ANTHROPIC_USAGE,
  ANTHROPIC_USAGE_LONG,
  BEDROCK_USAGE,
  GEMINI_USAGE,
  GEMINI_USAGE_LONG,
  OPENAI_CHAT_USAGE,
  OPENAI_CHAT_USAGE_LONG,
  SNAPSHOTS,
  startProviderPeer,
  type ProviderPeer,
} from '../helpers/providerPeer';

/** [sdk, model, long, our provider label, the source's provider id, source extractor flavor] */
const CALLS: ReadonlyArray<readonly [string, string, boolean, string, string, string]> = [
  ['openai', 'gpt-4o', false, 'openai', 'openai', 'chat'],
  ['openai', 'gpt-5.1', false, 'openai', 'openai', 'chat'],
  ['openai', 'gpt-5.5', false, 'openai', 'openai', 'chat'],
  ['openai', 'gpt-5.5', true, 'openai', 'openai', 'chat'],
  ['openai', 'gpt-realtime', false, 'openai', 'openai', 'chat'],
  ['anthropic', 'claude-sonnet-4-6', false, 'anthropic', 'anthropic', 'default'],
  ['anthropic', 'claude-opus-4-6', false, 'anthropic', 'anthropic', 'default'],
  ['anthropic', 'claude-sonnet-5', false, 'anthropic', 'anthropic', 'default'],
  ['anthropic', 'claude-haiku-4-5', false, 'anthropic', 'anthropic', 'default'],
  ['anthropic', 'claude-sonnet-4-5', true, 'anthropic', 'anthropic', 'default'],
  ['gemini', 'gemini-2.5-pro', false, 'gcp.gemini', 'google', 'default'],
  ['gemini', 'gemini-2.5-pro', true, 'gcp.gemini', 'google', 'default'],
  ['gemini', 'gemini-2.5-flash', false, 'gcp.gemini', 'google', 'default'],
  ['gemini', 'gemini-3.5-flash', false, 'gcp.gemini', 'google', 'default'],
  ['bedrock', 'us.anthropic.claude-sonnet-4-5-20250929-v1:0', false, 'aws.bedrock', 'aws', 'default'],
  ['bedrock', 'amazon.nova-pro-v1:0', false, 'aws.bedrock', 'aws', 'default'],
  ['groq', 'llama-3.3-70b-versatile', false, 'groq', 'groq', 'default'],
  ['deepseek', 'deepseek-chat', false, 'deepseek', 'deepseek', 'chat'],
];

/** The usage object the stand-in returned for a call, in its provider's wire shape. */
function wireUsage(sdk: string, long: boolean): Record<string, unknown> {
  if (sdk === 'anthropic') return long ? ANTHROPIC_USAGE_LONG : ANTHROPIC_USAGE;
  if (sdk === 'gemini') return long ? GEMINI_USAGE_LONG : GEMINI_USAGE;
  if (sdk === 'bedrock') return BEDROCK_USAGE;
  return long ? OPENAI_CHAT_USAGE_LONG : OPENAI_CHAT_USAGE;
}

/** Token classes of that usage, as each provider documents its fields. */
function classes(sdk: string, u: Record<string, number | Record<string, number>>): { input: number; read: number; write5m: number; write1h: number; output: number; reasoning: number } {
  const n = (v: unknown): number => (typeof v === 'number' ? v : 0);
  if (sdk === 'anthropic') {
    const cc = u.cache_creation as Record<string, number>;
    return { input: n(u.input_tokens), read: n(u.cache_read_input_tokens), write5m: n(u.cache_creation_input_tokens) - n(cc.ephemeral_1h_input_tokens), write1h: n(cc.ephemeral_1h_input_tokens), output: n(u.output_tokens), reasoning: 0 };
  }
  if (sdk === 'gemini') {
    return { input: n(u.promptTokenCount) - n(u.cachedContentTokenCount), read: n(u.cachedContentTokenCount), write5m: 0, write1h: 0, output: n(u.candidatesTokenCount) + n(u.thoughtsTokenCount), reasoning: n(u.thoughtsTokenCount) };
  }
  if (sdk === 'bedrock') return { input: n(u.inputTokens), read: n(u.cacheReadInputTokens), write5m: n(u.cacheWriteInputTokens), write1h: 0, output: n(u.outputTokens), reasoning: 0 };
  const cached = n((u.prompt_tokens_details as Record<string, number>).cached_tokens);
  return { input: n(u.prompt_tokens) - cached, read: cached, write5m: 0, write1h: 0, output: n(u.completion_tokens), reasoning: n((u.completion_tokens_details as Record<string, number>).reasoning_tokens) };
}

/**
 * Expected cost in pico-dollars from the source's price map in force at `when`: each class at its price (a tier's
 * once the total input exceeds its start), a class without a price of its own at its parent's, as the source bills.
 */
function expectedPico(providerId: string, model: string, sdk: string, long: boolean, when: Date): bigint {
  const found = calcPrice({ input_tokens: 0, output_tokens: 0 }, model, { providerId, timestamp: when });
  assert.ok(found !== null, `${providerId} ${model} is not in the price source`);
  const p = found.model_price as Record<string, number | { base: number; tiers: { start: number; price: number }[] } | undefined>;
  const t = classes(sdk, wireUsage(sdk, long) as Record<string, number | Record<string, number>>);
  const total = t.input + t.read + t.write5m + t.write1h;
  const price = (k: string): number | undefined => {
    const v = p[k];
    if (v === undefined || typeof v === 'number') return v;
    let x = v.base;
    for (const tier of v.tiers) if (total > tier.start) x = tier.price;
    return x;
  };
  const pico = (usd: number | undefined): bigint => BigInt(Math.round((usd ?? 0) * 1e6));
  const input = price('input_mtok');
  const write = price('cache_write_mtok') ?? input;
  const output = price('output_mtok');
  return (
    BigInt(t.input) * pico(input) +
    BigInt(t.read) * pico(price('cache_read_mtok') ?? input) +
    BigInt(t.write5m) * pico(write) +
    BigInt(t.write1h) * pico(price('cache_write_1h_mtok') ?? write) +
    BigInt(t.output - t.reasoning) * pico(output) +
    BigInt(t.reasoning) * pico(price('output_reasoning_mtok') ?? output)
  );
}

/** The source's own float total for the same response, through its own usage extractor. */
function sourceTotalUsd(providerId: string, model: string, sdk: string, long: boolean, flavor: string, when: Date): number {
  const provider = findProvider({ providerId })!;
  const { usage } = extractUsage(provider, { model, usage: wireUsage(sdk, long), usageMetadata: wireUsage(sdk, long), modelVersion: model }, flavor);
  return calcPrice(usage, model, { providerId, timestamp: when })!.total_price;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

describe('cost on /metrics equals the price source × tokens, exactly', () => {
  let peer: ProviderPeer;
  let groq: ProviderPeer;
  let deepseek: ProviderPeer;
  let app: RunningFixture;
  let samples: ReturnType<typeof parseMetrics>;
  const times: Date[] = [];

  before(async () => {
    peer = await startProviderPeer();
    groq = await startProviderPeer();
    deepseek = await startProviderPeer();
    const metricsPort = await freePort();
    const port = (u: string): string => new URL(u).port;
    app = await startFixture('pricing-app.js', {
      env: {
        OTEL_SERVICE_NAME: 'pricing-app',
        OTEL_TRACES_EXPORTER: 'none',
        OTEL_METRICS_EXPORTER: 'prometheus',
        OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
        OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
        TENANTSCOPE_OPENAI_USAGE_HOSTS: '127.0.0.1',
        TENANTSCOPE_MODEL_HOSTS: `groq=127.0.0.1:${port(groq.url)},deepseek=127.0.0.1:${port(deepseek.url)}`,
        PEER_URL: peer.url,
        BEDROCK_URL: peer.bedrockUrl,
        GROQ_URL: groq.url,
        DEEPSEEK_URL: deepseek.url,
      },
    });
    for (let i = 0; i < CALLS.length; i++) {
      const [sdk, model, long] = CALLS[i];
      times.push(new Date());
      const res = await fetch(`http://127.0.0.1:${app.port}/call?sdk=${sdk}&model=${encodeURIComponent(model)}&long=${long ? 1 : 0}`, { headers: { 'x-tenant-id': `p${i}` } });
      assert.equal(res.status, 200, `${sdk} ${model}: ${await res.text()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
    samples = parseMetrics(await scrape(metricsPort));
  });

  after(async () => {
    await app?.stop();
    await peer?.close();
    await groq?.close();
    await deepseek?.close();
  });

  it('prices every model of the list, each at the source price × its tokens, to the pico-dollar', () => {
    for (let i = 0; i < CALLS.length; i++) {
      const [sdk, model, long, provider, sourceId, flavor] = CALLS[i];
      const what = `${provider} ${model}${long ? ' (long context)' : ''}`;
      const priced = SNAPSHOTS[model] ?? model;
      const pico = expectedPico(sourceId, priced, sdk, long, times[i]);
      assert.ok(pico > 0n, what);
      const series = samples.filter((s) => s.name === 'model_api_cost_cents_total' && s.labels.tenant_id === `p${i}`);
      assert.equal(series.length, 1, what);
      assert.deepEqual(series[0].labels, { provider, model, tenant_id: `p${i}` }, what);
      // The store keeps whole cents and an integer pico-dollar remainder; the exported value is the only float.
      const expected = Number(pico / 10_000_000_000n) + Number(pico % 10_000_000_000n) / 1e10;
      assert.equal(series[0].value, expected, `${what}: ${series[0].value} cents, expected ${pico} pico-dollars`);
      // The source's own float total agrees (its extractor, its arithmetic).
      const usd = sourceTotalUsd(sourceId, priced, sdk, long, flavor, times[i]);
      assert.ok(Math.abs(Number(pico) / 1e12 - usd) <= 1e-12 + 1e-9 * usd, `${what}: source says ${usd} USD, we ${Number(pico) / 1e12}`);
    }
    assert.equal(samples.filter((s) => s.name === 'tenantscope_models_unpriced_total').length, 0);
  });

  it('bills long-context calls at the tier price, not the base price', () => {
    const at = (i: number): number => samples.find((s) => s.name === 'model_api_cost_cents_total' && s.labels.tenant_id === `p${i}`)!.value;
    const index = (model: string, long: boolean): number => CALLS.findIndex((c) => c[1] === model && c[2] === long);
    // Claude Sonnet 4.5 above 200K input: $6 / $0.60 / $7.50 / $22.50 per 1M instead of $3 / $0.30 / $3.75 / $15:
    // 150,000 × 6 + 60,000 × 0.6 + 10,000 × 7.5 + 3,000 × 22.5 = 1,078,500 micro-dollars = 107.85 cents.
    assert.equal(at(index('claude-sonnet-4-5', true)), 107.85);
    // Gemini 2.5 Pro above 200K: 200,000 × 2.5 + 50,000 × 0.25 + 1,500 × 15 = 535,000 micro-dollars.
    assert.equal(at(index('gemini-2.5-pro', true)), 53.5);
    // GPT-5.5 above 272K input: its tier prices (the source's), for every class.
    const p = calcPrice({ input_tokens: 0, output_tokens: 0 }, 'gpt-5.5', { providerId: 'openai' })!.model_price as Record<string, { base: number; tiers: { price: number }[] }>;
    const microUsd = 200_000 * p.input_mtok.tiers[0].price + 100_000 * p.cache_read_mtok.tiers[0].price + 2_000 * p.output_mtok.tiers[0].price;
    assert.equal(at(index('gpt-5.5', true)), Math.round(microUsd * 1e6) / 1e10);
  });

  it('serves the price data in force as tenantscope_prices_info', () => {
    const info = samples.filter((s) => s.name === 'tenantscope_prices_info');
    assert.equal(info.length, 1);
    assert.equal(info[0].value, 1);
    assert.equal(info[0].labels.source, '@pydantic/genai-prices');
    assert.match(info[0].labels.version, /^\d+\.\d+\.\d+/);
  });
});
