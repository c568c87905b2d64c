import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api';
import { costPico, PriceTable } from '../../src/core/pricing/PriceTable';

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

const shipped = new PriceTable();

test('the shipped table is dated, names its source, and has about fifty OpenAI and Anthropic models', () => {
  const raw = JSON.parse(require('node:fs').readFileSync(join(__dirname, '..', '..', '..', 'data', 'prices.json'), 'utf8')) as {
    version: string;
    source: string;
    models: Record<string, { provider: string }>;
  };
  assert.match(raw.version, /^\d{4}-\d{2}-\d{2}$/);
  assert.match(raw.source, /openai\.com/);
  assert.match(raw.source, /anthropic\.com/);
  const providers = Object.values(raw.models).map((m) => m.provider);
  assert.ok(providers.filter((p) => p === 'openai').length >= 30);
  assert.ok(providers.filter((p) => p === 'anthropic').length >= 12);
  assert.equal(shipped.size, Object.keys(raw.models).length);
  assert.equal(shipped.version, raw.version);
});

test('prices are integer pico-dollars per token', () => {
  const p = shipped.lookup('gpt-4o')!.standard;
  assert.deepEqual({ ...p }, { input: 2_500_000, cacheRead: 1_250_000, cacheWrite5m: 2_500_000, cacheWrite1h: 2_500_000, output: 10_000_000 });
  const e = shipped.lookup('text-embedding-3-small')!.standard;
  assert.equal(e.input, 20_000);
});

test('dated snapshots match their model; an exact snapshot entry wins over its alias', () => {
  assert.equal(shipped.lookup('gpt-4o-2024-08-06')?.model, 'gpt-4o');
  assert.equal(shipped.lookup('gpt-4o-2024-05-13')?.model, 'gpt-4o-2024-05-13');
  assert.equal(shipped.lookup('claude-sonnet-4-5-20250929')?.model, 'claude-sonnet-4-5');
  assert.equal(shipped.lookup('claude-3-7-sonnet-latest')?.model, 'claude-3-7-sonnet');
  assert.equal(shipped.lookup('gpt-4-0613')?.model, 'gpt-4');
  assert.equal(shipped.lookup('openai/gpt-4o-mini')?.model, 'gpt-4o-mini');
  assert.equal(shipped.lookup('GPT-4O')?.model, 'gpt-4o');
});

test('an unknown model is not guessed from a prefix', () => {
  assert.equal(shipped.lookup('gpt-4o-transcribe-custom'), undefined);
  assert.equal(shipped.lookup('my-finetune-7b'), undefined);
  assert.equal(shipped.lookup('claude'), undefined);
});

test('cost counts cached reads at their discount, cache writes at 5-minute and 1-hour rates, reasoning as output', () => {
  const sonnet = shipped.lookup('claude-sonnet-4-5')!;
  const pico = costPico(sonnet.standard, { input: 300, cacheRead: 5000, cacheWrite5m: 1500, cacheWrite1h: 500, output: 700 });
  assert.equal(pico, 21_525_000_000);
});

test('service tiers: explicit priority prices, flex and batch at half price, unknown tiers at standard', () => {
  const gpt4o = shipped.lookup('gpt-4o')!;
  assert.equal(PriceTable.pricesFor(gpt4o, 'priority').output, 17_000_000);
  assert.equal(PriceTable.pricesFor(gpt4o, 'flex').input, 1_250_000);
  assert.equal(PriceTable.pricesFor(gpt4o, 'batch').cacheRead, 625_000);
  assert.equal(PriceTable.pricesFor(gpt4o, 'default').input, 2_500_000);
  assert.equal(PriceTable.pricesFor(gpt4o, 'scale').input, 2_500_000);
  const haiku = shipped.lookup('claude-3-haiku')!;
  assert.equal(PriceTable.pricesFor(haiku, 'batch').output, 625_000);
});

test('an override file is merged by model and wins; other models stay shipped', () => {
  const f = file('override.json', JSON.stringify({ version: 'acme-2026-01', models: { 'gpt-4o': { input: 2, output: 8 }, 'acme-llm': { input: 1, output: 2 } } }));
  const t = new PriceTable({ overrideFile: f });
  assert.equal(t.lookup('gpt-4o-2024-08-06')!.standard.input, 2_000_000);
  // Missing cache prices default to the entry's input price.
  assert.equal(t.lookup('gpt-4o')!.standard.cacheRead, 2_000_000);
  assert.equal(t.lookup('acme-llm')!.standard.output, 2_000_000);
  assert.equal(t.lookup('claude-3-haiku')!.standard.input, 250_000);
  assert.match(t.version, /\+acme-2026-01$/);
});

test('a malformed price file is one log line naming the file and the problem; the shipped table stays', () => {
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
    assert.match(lines[0], /using the shipped price table/);
    assert.equal(t!.lookup('gpt-4o')!.standard.input, 2_500_000);
  }
  const missing = join(dir, 'absent.json');
  const lines = captureWarnings(() => new PriceTable({ overrideFile: missing }));
  assert.equal(lines.length, 1);
  assert.match(lines[0], /absent\.json: cannot be read/);
});
