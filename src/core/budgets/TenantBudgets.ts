import { readFileSync } from 'node:fs';
import { clip, describeError, warn } from '../log';
import { TENANT_INVALID, TENANT_UNKNOWN } from '../semconv';
import type { TenantRegistry } from '../tenant/TenantRegistry';

/** Largest budget accepted, in USD per month. */
const MAX_USD = 1e9;
/** Tenants a budget file may list. */
const MAX_TENANTS = 100_000;

/**
 * Monthly model budgets per tenant from `TENANTSCOPE_BUDGETS_FILE`, in US cents:
 * `{"default": 100, "tenants": {"acme": 500, "globex": 2000}}` (USD per month; `default` applies to every tenant
 * not listed). Tenant ids are validated (and hashed, with `TENANTSCOPE_TENANT_HASH_KEY`) like request tenants,
 * so a budget's `tenant_id` label is the one the cost metrics carry. A file that cannot be read or fails
 * validation is rejected as a whole with one log line: no budgets, the app runs.
 */
export class TenantBudgets {
  private constructor(
    /** Cents per month for tenants not listed; undefined when the file gives no default. */
    readonly defaultCents: number | undefined,
    /** Cents per month by tenant label. */
    readonly listed: ReadonlyMap<string, number>,
    private readonly _tenants: TenantRegistry
  ) {}

  /** The budgets in `file`, or undefined (after one log line) when it is not usable. */
  static load(file: string, tenants: TenantRegistry): TenantBudgets | undefined {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      warn(`TENANTSCOPE_BUDGETS_FILE ${file}: cannot be read as JSON (${describeError(err)}); no tenant budgets are exported`);
      return undefined;
    }
    const parsed = TenantBudgets.parse(json, tenants);
    if (typeof parsed === 'string') {
      warn(`TENANTSCOPE_BUDGETS_FILE ${file}: ${parsed}; no tenant budgets are exported`);
      return undefined;
    }
    return parsed;
  }

  /** Validates a parsed budgets document; returns the problem as a sentence when it is not usable. */
  static parse(json: unknown, tenants: TenantRegistry): TenantBudgets | string {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) return 'is not a JSON object';
    const doc = json as { default?: unknown; tenants?: unknown };
    for (const k of Object.keys(doc)) if (k !== 'default' && k !== 'tenants') return `has an unknown field "${clip(k)}" (expected "default" and "tenants")`;
    let dflt: number | undefined;
    if (doc.default !== undefined) {
      if (!isUsd(doc.default)) return `"default" is not an amount in USD from 0 to ${MAX_USD}`;
      dflt = cents(doc.default);
    }
    const listed = new Map<string, number>();
    if (doc.tenants !== undefined) {
      if (typeof doc.tenants !== 'object' || doc.tenants === null || Array.isArray(doc.tenants)) return '"tenants" is not an object';
      const entries = Object.entries(doc.tenants);
      if (entries.length > MAX_TENANTS) return `"tenants" lists more than ${MAX_TENANTS} tenants`;
      for (const [id, usd] of entries) {
        const label = tenants.spanId(id);
        if (label === TENANT_INVALID || label === TENANT_UNKNOWN) return `tenant "${clip(id)}" is not a valid tenant id`;
        if (!isUsd(usd)) return `tenants["${clip(id)}"] is not an amount in USD from 0 to ${MAX_USD}`;
        listed.set(label, cents(usd));
      }
    }
    if (dflt === undefined && listed.size === 0) return 'has neither "default" nor any "tenants"';
    return new TenantBudgets(dflt, listed, tenants);
  }

  /** Calls `fn` for every budget to export: each listed tenant, and each tenant seen so far with the default. */
  forEach(fn: (tenantLabel: string, cents: number) => void): void {
    for (const [label, c] of this.listed) fn(label, c);
    const d = this.defaultCents;
    if (d === undefined) return;
    this._tenants.forEachAdmitted((label) => {
      if (!this.listed.has(label)) fn(label, d);
    });
  }
}

function isUsd(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= MAX_USD;
}

/** USD → cents, to a hundredth of a cent (so 0.1 USD is 10 cents, not 10.000000000000002). */
function cents(usd: number): number {
  return Math.round(usd * 10_000) / 100;
}
