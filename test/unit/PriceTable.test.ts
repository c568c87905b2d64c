/**
 * The price table: `@pydantic/genai-prices`' bundled data turned into integer pico-dollars per token, with the
 * operator's override file merged over it. Expected prices are read from the installed source package itself
 * (its bundled data, through `findProvider`), so these tests hold for whatever version is installed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api';
import { findProvider } from '@pydantic/genai-prices';
import { costPico, PriceTable, type BilledTokens } from '../../src/core/pricing/PriceTable';

const dir = mkdtempSync(join(tmpdir(), 'prices-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}
function captureWarnings(fn: () => void): string[] {
  const lines: string[] = [];
  const logger: DiagLogger = {
    error: (m: string) => lines.push(m),
    warn: (m: string) => lines.push(m),
    info: () => undefined,
    debug: () => undefined,
    verbose: () => undefined,
  };
  diag.setLogger(logger, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
  try {
    fn();
  } finally {
    diag.disable();
  }
  return lines;
}
function tokens(t: Partial<BilledTokens>): BilledTokens {
  return { input: 0, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0, output: 0, reasoning: 0, ...t };
}
/** A model's price map in the source's own data (the entry with that id), for one condition. */
function sourcePrices(provider: string, id: string, variant = 0): Record<string, unknown> {
  const m = findProvider({ providerId: provider })?.models.find((x) => x.id === id);
  assert.ok(m !== undefined, `${provider}/${id} not in the source`);
  return (Array.isArray(m.prices) ? m.prices[variant].prices : m.prices) as Record<string, unknown>;
}
const NOW = Date.parse('2026-11-15T12:00:00Z');
const table = new PriceTable();

test('the prices come from @pydantic/genai-prices, named with its installed version', () => {
  const main = require.resolve('@pydantic/genai-prices');
  const pkg = JSON.parse(readFileSync(join(dirname(main), '..', 'package.json'), 'utf8')) as { version: string };
  assert.equal(table.sourceVersion, pkg.version);
  assert.equal(table.version, `genai-prices ${pkg.version}`);
  assert.equal(table.overrideVersion, undefined);
});

test('prices are integer pico-dollars per token (USD per 1M tokens × 1e6); reasoning defaults to the output price', () => {
  const src = sourcePrices('openai', 'gpt-4o');
  const p = PriceTable.pricesFor(table.lookup('openai', 'gpt-4o')!, tokens({}), undefined, NOW);
  assert.equal(p.input, Math.round((src.input_mtok as number) * 1e6));
  assert.equal(p.cacheRead, Math.round((src.cache_read_mtok as number) * 1e6));
  assert.equal(p.output, Math.round((src.output_mtok as number) * 1e6));
  assert.deepEqual({ ...p }, { input: 2_500_000, cacheRead: 1_250_000, cacheWrite5m: 2_500_000, cacheWrite1h: 2_500_000, output: 10_000_000, reasoning: 10_000_000, call: 0 });
  assert.equal(PriceTable.pricesFor(table.lookup('openai', 'text-embedding-3-small')!, tokens({}), undefined, NOW).input, 20_000);
});

test('dated snapshots resolve by the source rules; a snapshot with its own price keeps it', () => {
  assert.equal(table.lookup('openai', 'gpt-4o-2024-08-06')?.model, 'gpt-4o');
  assert.equal(table.lookup('openai', 'gpt-4o-2024-05-13')?.model, 'gpt-4o-2024-05-13');
  assert.equal(table.lookup('anthropic', 'claude-sonnet-4-5-20250929')?.model, 'claude-sonnet-4-5');
  // The hand-kept table mapped these to gpt-3.5-turbo (0.5/1.5); they were priced 1.5/2.
  const old = PriceTable.pricesFor(table.lookup('openai', 'gpt-3.5-turbo-0613')!, tokens({}), undefined, NOW);
  assert.deepEqual([old.input, old.output], [1_500_000, 2_000_000]);
});

test('models released after the hand-kept table are priced, across providers', () => {
  const cases: [string, string][] = [
    ['openai', 'gpt-5.1'],
    ['openai', 'gpt-5.5'],
    ['openai', 'gpt-realtime'],
    ['anthropic', 'claude-sonnet-4-6'],
    ['anthropic', 'claude-opus-4-6'],
    ['anthropic', 'claude-sonnet-5'],
    ['anthropic', 'claude-opus-5'],
    ['gcp.gemini', 'gemini-2.5-pro'],
    ['gcp.gemini', 'gemini-2.5-flash'],
    ['aws.bedrock', 'us.anthropic.claude-sonnet-4-5-20250929-v1:0'],
    ['aws.bedrock', 'amazon.nova-pro-v1:0'],
    ['groq', 'llama-3.3-70b-versatile'],
    ['deepseek', 'deepseek-chat'],
    ['mistral', 'mistral-large-latest'],
    ['together', 'meta-llama/Llama-3.3-70B-Instruct-Turbo'],
    ['openrouter', 'anthropic/claude-sonnet-4.5'],
  ];
  for (const [provider, model] of cases) {
    const e = table.lookup(provider, model);
    assert.ok(e !== undefined, `${provider} ${model} unpriced`);
    assert.equal(e.origin, 'genai-prices');
    assert.ok(PriceTable.pricesFor(e, tokens({}), undefined, NOW).input > 0, `${provider} ${model}`);
  }
  assert.equal(table.lookup('gcp.gemini', 'gemini-2.5-pro')?.provider, 'google');
  assert.equal(table.lookup('aws.bedrock', 'amazon.nova-pro-v1:0')?.provider, 'aws');
});

test('an unknown model, an unknown provider, or a model under the wrong provider is unpriced, never guessed', () => {
  assert.equal(table.lookup('openai', 'my-finetune-7b'), undefined);
  assert.equal(table.lookup('ollama', 'llama3.1:8b'), undefined);
  assert.equal(table.lookup('anthropic', 'gpt-4o'), undefined);
  assert.equal(table.lookup('openai', ''), undefined);
});

test('cost counts cached reads at their discount, cache writes at 5-minute and 1-hour rates, reasoning as output', () => {
  const sonnet = table.lookup('anthropic', 'claude-sonnet-4-5')!;
  const t = tokens({ input: 300, cacheRead: 5000, cacheWrite5m: 1500, cacheWrite1h: 500, output: 700, reasoning: 200 });
  // 300×3 + 5000×0.30 + 1500×3.75 + 500×6 + 700×15 USD per 1M tokens.
  assert.equal(PriceTable.costOf(sonnet, t, undefined, NOW), 21_525_000_000);
  assert.equal(costPico(PriceTable.pricesFor(sonnet, t, undefined, NOW), t), 21_525_000_000);
});

test('long context: past the source threshold every class is billed at its tier price (Sonnet 4.5 above 200K input)', () => {
  const sonnet = table.lookup('anthropic', 'claude-sonnet-4-5')!;
  const src = sourcePrices('anthropic', 'claude-sonnet-4-5') as Record<string, { base: number; tiers: { start: number; price: number }[] }>;
  assert.equal(src.input_mtok.tiers[0].start, 200_000);
  const at = PriceTable.pricesFor(sonnet, tokens({ input: 200_000 }), undefined, NOW);
  assert.equal(at.input, 3_000_000, 'exactly 200K input is not above the threshold');
  const t = tokens({ input: 150_000, cacheRead: 40_000, cacheWrite5m: 10_001, output: 2_000 });
  const p = PriceTable.pricesFor(sonnet, t, undefined, NOW);
  assert.deepEqual([p.input, p.cacheRead, p.cacheWrite5m, p.cacheWrite1h, p.output], [6_000_000, 600_000, 7_500_000, 12_000_000, 22_500_000]);
  assert.equal(PriceTable.costOf(sonnet, t, undefined, NOW), 150_000 * 6_000_000 + 40_000 * 600_000 + 10_001 * 7_500_000 + 2_000 * 22_500_000);
});

test('conditional prices: a dated change applies from its date, a daily window in its UTC hours', () => {
  const sonnet46 = table.lookup('anthropic', 'claude-sonnet-4-6')!;
  const long = tokens({ input: 300_000 });
  // Before the source's start_date the 200K tier applies, from it on one flat price.
  assert.equal(PriceTable.pricesFor(sonnet46, long, undefined, Date.parse('2026-03-01T00:00:00Z')).input, 6_000_000);
  assert.equal(PriceTable.pricesFor(sonnet46, long, undefined, Date.parse('2026-03-13T00:00:00Z')).input, 3_000_000);
  const deepseek = table.lookup('deepseek', 'deepseek-chat')!;
  const src0 = sourcePrices('deepseek', 'deepseek-chat', 0);
  const src1 = sourcePrices('deepseek', 'deepseek-chat', 1);
  const at = (iso: string): number => PriceTable.pricesFor(deepseek, tokens({}), undefined, Date.parse(iso)).input;
  assert.equal(at('2026-11-15T12:00:00Z'), Math.round((src1.input_mtok as number) * 1e6));
  assert.equal(at('2026-11-15T20:00:00Z'), Math.round((src0.input_mtok as number) * 1e6));
});

test('service tiers: flex and batch at half price, a priority tier without a price at standard', () => {
  const gpt4o = table.lookup('openai', 'gpt-4o')!;
  const t = tokens({});
  assert.equal(PriceTable.pricesFor(gpt4o, t, 'flex', NOW).input, 1_250_000);
  assert.equal(PriceTable.pricesFor(gpt4o, t, 'batch', NOW).cacheRead, 625_000);
  assert.equal(PriceTable.pricesFor(gpt4o, t, 'default', NOW).input, 2_500_000);
  assert.equal(PriceTable.pricesFor(gpt4o, t, 'priority', NOW).output, 10_000_000);
  assert.equal(PriceTable.hasTier(gpt4o, 'priority'), false);
});

test('an override file is merged by model and wins; other models stay from the source', () => {
  const f = file(
    'override.json',
    JSON.stringify({
      version: 'acme-2026-01',
      models: {
        'gpt-4o': { provider: 'openai', input: 2, output: 8, tiers: { priority: { input: 4.25, cache_read: 2.125, output: 17 } } },
        'acme-llm': { input: 1, output: 2 },
      },
    })
  );
  const t = new PriceTable({ overrideFile: f });
  const e = t.lookup('openai', 'gpt-4o-2024-08-06')!;
  assert.equal(e.origin, 'override');
  assert.equal(PriceTable.pricesFor(e, tokens({}), undefined, NOW).input, 2_000_000);
  // Missing cache prices default to the entry's input price.
  assert.equal(PriceTable.pricesFor(e, tokens({}), undefined, NOW).cacheRead, 2_000_000);
  assert.equal(PriceTable.pricesFor(e, tokens({}), 'priority', NOW).output, 17_000_000);
  // An entry naming a provider applies to that provider only; one without applies to any.
  assert.equal(t.lookup('openrouter', 'openai/gpt-4o')?.origin, 'genai-prices');
  assert.equal(PriceTable.pricesFor(t.lookup('ollama', 'acme-llm')!, tokens({}), undefined, NOW).output, 2_000_000);
  assert.equal(t.lookup('anthropic', 'claude-haiku-4-5')?.origin, 'genai-prices');
  assert.equal(t.overrideVersion, 'acme-2026-01');
  assert.match(t.version, /^genai-prices \S+\+acme-2026-01$/);
});

test('the shipped example override file is valid', () => {
  const example = join(__dirname, '..', '..', '..', 'data', 'prices.example.json');
  const parsed = PriceTable.parseFile(example);
  assert.notEqual(typeof parsed, 'string', String(parsed));
  const lines = captureWarnings(() => new PriceTable({ overrideFile: example }));
  assert.deepEqual(lines, []);
});

test('a malformed price file is one log line naming the file and the problem; the source prices stay', () => {
  const cases: [string, string, RegExp][] = [
    ['notjson.json', '{"models": {', /is not valid JSON/],
    ['negative.json', JSON.stringify({ models: { 'gpt-4o': { input: -1, output: 1 } } }), /models\["gpt-4o"\]\.input is not a price/],
    ['nooutput.json', JSON.stringify({ models: { x: { input: 1 } } }), /models\["x"\] has no "output" price/],
    ['nomodels.json', JSON.stringify({ version: 'x' }), /has no "models" object/],
    ['decimals.json', JSON.stringify({ models: { x: { input: 0.0000001, output: 1 } } }), /more than 6 decimals/],
  ];
  for (const [name, text, problem] of cases) {
    const path = file(name, text);
    let t: PriceTable | undefined;
    const lines = captureWarnings(() => (t = new PriceTable({ overrideFile: path })));
    assert.equal(lines.length, 1, `${name}: ${lines.join(' | ')}`);
    assert.ok(lines[0].includes(path), lines[0]);
    assert.match(lines[0], problem);
    assert.match(lines[0], /using the @pydantic\/genai-prices \S+ prices alone/);
    assert.equal(PriceTable.pricesFor(t!.lookup('openai', 'gpt-4o')!, tokens({}), undefined, NOW).input, 2_500_000);
    assert.equal(t!.overrideVersion, undefined);
  }
  const missing = join(dir, 'absent.json');
  const lines = captureWarnings(() => new PriceTable({ overrideFile: missing }));
  assert.equal(lines.length, 1);
  assert.match(lines[0], /absent\.json: cannot be read/);
});

test('look-ups are memoised per provider and model, and bounded', () => {
  const t = new PriceTable();
  const a = t.lookup('openai', 'gpt-4o');
  assert.equal(t.lookup('openai', 'gpt-4o'), a);
  for (let i = 0; i < 2100; i++) t.lookup('openai', `no-such-model-${i}`);
  assert.ok((t as unknown as { _memoSize: number })._memoSize <= 2000);
  assert.equal(t.lookup('openai', 'gpt-4o')?.model, 'gpt-4o');
});

test('prices come from the bundled data only: looking models up makes no network request', () => {
  const http = require('node:http') as typeof import('node:http');
  const https = require('node:https') as typeof import('node:https');
  const g = globalThis as { fetch: typeof fetch };
  const calls: string[] = [];
  const saved = { fetch: g.fetch, http: http.request, https: https.request };
  g.fetch = ((...a: unknown[]) => {
    calls.push(`fetch ${String(a[0])}`);
    return saved.fetch(...(a as Parameters<typeof fetch>));
  }) as typeof fetch;
  http.request = ((...a: unknown[]) => {
    calls.push('http.request');
    return (saved.http as (...x: unknown[]) => unknown)(...a);
  }) as typeof http.request;
  https.request = ((...a: unknown[]) => {
    calls.push('https.request');
    return (saved.https as (...x: unknown[]) => unknown)(...a);
  }) as typeof https.request;
  try {
    const t = new PriceTable();
    for (const [p, m] of [['openai', 'gpt-5.5'], ['anthropic', 'claude-opus-4-6'], ['gcp.gemini', 'gemini-2.5-pro'], ['openai', 'no-such-model']]) t.lookup(p, m);
  } finally {
    g.fetch = saved.fetch;
    http.request = saved.http;
    https.request = saved.https;
  }
  assert.deepEqual(calls, []);
});
