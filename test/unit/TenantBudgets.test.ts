/**
 * Tenant budgets from TENANTSCOPE_BUDGETS_FILE, served as `tenant_model_budget_cents{tenant_id}` through the
 * real pipeline (startTenantScope with the in-process Prometheus endpoint), and the price info series.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { context, diag, DiagLogLevel, metrics, propagation, trace, type DiagLogger } from '@opentelemetry/api';
import { TenantBudgets } from '../../src/core/budgets/TenantBudgets';
import { TenantRegistry } from '../../src/core/tenant/TenantRegistry';
import { startTenantScope } from '../../src/sdk';
import { parseMetrics } from '../helpers/fixture';

const dir = mkdtempSync(join(tmpdir(), 'budgets-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}
function captureWarnings<T>(fn: () => T): { lines: string[]; value: T } {
  const lines: string[] = [];
  const logger: DiagLogger = { error: (m) => lines.push(m), warn: (m) => lines.push(m), info: () => undefined, debug: () => undefined, verbose: () => undefined };
  diag.setLogger(logger, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
  try {
    return { lines, value: fn() };
  } finally {
    diag.disable();
  }
}
/** Lets the next test start a pipeline in this process (each start registers the API globals). */
function releaseGlobals(): void {
  context.disable();
  propagation.disable();
  metrics.disable();
  trace.disable();
}
function collect(b: TenantBudgets): Record<string, number> {
  const out: Record<string, number> = {};
  b.forEach((t, c) => (out[t] = c));
  return out;
}

test('budgets in USD become cents: listed tenants, and the default for every tenant seen and not listed', () => {
  const tenants = new TenantRegistry({ maxTenants: 10 });
  const b = TenantBudgets.load(file('b.json', JSON.stringify({ default: 100, tenants: { acme: 500, globex: 2000.1 } })), tenants)!;
  assert.deepEqual(collect(b), { acme: 50_000, globex: 200_010 });
  tenants.label('initech');
  tenants.label('acme');
  assert.deepEqual(collect(b), { acme: 50_000, globex: 200_010, initech: 10_000 });
});

test('with a tenant hash key, budget labels are the hashed ids the cost metrics carry', () => {
  const tenants = new TenantRegistry({ maxTenants: 10, hashKey: 'a-long-random-hash-key' });
  const b = TenantBudgets.parse({ tenants: { acme: 1 } }, tenants) as TenantBudgets;
  assert.deepEqual(collect(b), { [tenants.spanId('acme')]: 100 });
  assert.match(tenants.spanId('acme'), /^t[0-9a-f]{16}$/);
});

test('a bad budgets file is one log line naming it and the problem, and no budgets', () => {
  const tenants = new TenantRegistry({ maxTenants: 10 });
  const cases: [string, string, RegExp][] = [
    ['notjson.json', '{"default": ', /cannot be read as JSON/],
    ['array.json', '[]', /is not a JSON object/],
    ['negative.json', JSON.stringify({ default: -1 }), /"default" is not an amount in USD/],
    ['badtenant.json', JSON.stringify({ tenants: { 'bad tenant!': 5 } }), /tenant "bad tenant!" is not a valid tenant id/],
    ['badamount.json', JSON.stringify({ tenants: { acme: '500' } }), /tenants\["acme"\] is not an amount in USD/],
    ['unknown.json', JSON.stringify({ default: 1, monthly: 2 }), /unknown field "monthly"/],
    ['empty.json', JSON.stringify({}), /neither "default" nor any "tenants"/],
  ];
  for (const [name, text, problem] of cases) {
    const path = file(name, text);
    const { lines, value } = captureWarnings(() => TenantBudgets.load(path, tenants));
    assert.equal(value, undefined, name);
    assert.equal(lines.length, 1, `${name}: ${lines.join(' | ')}`);
    assert.ok(lines[0].includes(path), lines[0]);
    assert.match(lines[0], problem);
    assert.match(lines[0], /no tenant budgets are exported/);
  }
});

test('/metrics serves tenant_model_budget_cents per tenant and tenantscope_prices_info', async () => {
  const budgets = file('served.json', JSON.stringify({ default: 100, tenants: { acme: 500 } }));
  const prices = file('prices.json', JSON.stringify({ version: 'acme-prices-1', models: { 'acme-llm': { input: 1, output: 2 } } }));
  const scope = startTenantScope({
    OTEL_SERVICE_NAME: 'budget-test',
    OTEL_TRACES_EXPORTER: 'none',
    OTEL_METRICS_EXPORTER: 'prometheus',
    OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
    OTEL_EXPORTER_PROMETHEUS_PORT: '0',
    OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http',
    TENANTSCOPE_BUDGETS_FILE: budgets,
    TENANTSCOPE_PRICES_FILE: prices,
  })!;
  try {
    // A tenant the metrics have seen (admitted by the registry) gets the default budget.
    scope.tenants.label(scope.tenants.spanId('initech'));
    const port = await scope.prometheus!.port;
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(text, /# TYPE tenant_model_budget_cents gauge/);
    const samples = parseMetrics(text);
    const budget = Object.fromEntries(samples.filter((s) => s.name === 'tenant_model_budget_cents').map((s) => [s.labels.tenant_id, s.value]));
    assert.deepEqual(budget, { acme: 50_000, initech: 10_000 });
    const info = samples.filter((s) => s.name === 'tenantscope_prices_info');
    assert.equal(info.length, 1);
    assert.equal(info[0].labels.source, '@pydantic/genai-prices');
    assert.equal(info[0].labels.override, 'acme-prices-1');
    assert.equal(info[0].value, 1);
  } finally {
    await scope.shutdown();
    releaseGlobals();
  }
});

test('without a budgets file no budget series is served', async () => {
  const scope = startTenantScope({
    OTEL_TRACES_EXPORTER: 'none',
    OTEL_METRICS_EXPORTER: 'prometheus',
    OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
    OTEL_EXPORTER_PROMETHEUS_PORT: '0',
    OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http',
  })!;
  try {
    const text = await (await fetch(`http://127.0.0.1:${await scope.prometheus!.port}/metrics`)).text();
    assert.ok(!text.includes('tenant_model_budget_cents'));
    assert.match(text, /tenantscope_prices_info\{source="@pydantic\/genai-prices",version="[^"]+"\} 1/);
  } finally {
    await scope.shutdown();
    releaseGlobals();
  }
});
