import type { Meter } from '@opentelemetry/api';
import type { TenantBudgets } from '../budgets/TenantBudgets';
import { PRICE_SOURCE, type PriceTable } from '../pricing/PriceTable';
import { METRIC_PRICES_INFO, METRIC_TENANT_MODEL_BUDGET } from '../semconv';

/**
 * Observed gauges of configuration, read at each collection through the SDK meter (a handful of series):
 * `tenantscope_prices_info` (the price data in force) and, when a budgets file is loaded,
 * `tenant_model_budget_cents{tenant_id}`.
 */
export function registerSelfGauges(meter: Meter, prices: PriceTable, budgets: TenantBudgets | undefined): void {
  const infoAttrs: Record<string, string> = { source: PRICE_SOURCE, version: prices.sourceVersion };
  if (prices.overrideVersion !== undefined) infoAttrs.override = prices.overrideVersion;
  meter
    .createObservableGauge(METRIC_PRICES_INFO.name, { description: METRIC_PRICES_INFO.description, unit: METRIC_PRICES_INFO.unit })
    .addCallback((r) => r.observe(1, infoAttrs));
  if (budgets === undefined) return;
  meter
    .createObservableGauge(METRIC_TENANT_MODEL_BUDGET.name, { description: METRIC_TENANT_MODEL_BUDGET.description, unit: METRIC_TENANT_MODEL_BUDGET.unit })
    .addCallback((r) => budgets.forEach((tenant, cents) => r.observe(cents, { tenant_id: tenant })));
}
