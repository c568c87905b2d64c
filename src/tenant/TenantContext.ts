import { context, createContextKey, type Context } from '@opentelemetry/api';
import { TENANT_ID_PATTERN, TenantRegistry } from './TenantRegistry';
import { TENANT_INVALID, TENANT_UNKNOWN } from '../semconv';
import { warnOnce } from '../log';

/** Context key under which a request's {@link TenantCell} travels. */
export const TENANT_CONTEXT_KEY = createContextKey('tenantscope.tenant');

let registry = new TenantRegistry({ maxTenants: 1000 });
/** True once tenantscope started; before that (or with OTEL_SDK_DISABLED) setTenant is silently a no-op. */
let started = false;

/** Installs the registry that validates and admits tenants (called once at start). */
export function setTenantRegistry(r: TenantRegistry): void {
  registry = r;
  started = true;
}

/** The registry in force. */
export function getTenantRegistry(): TenantRegistry {
  return registry;
}

/**
 * The tenant of one request (or one `withTenant` scope). It is shared, not copied, by every context that
 * descends from the request, so a tenant the app sets after auth is seen by every span that ends later.
 * Sources in order of precedence: the app (`setTenant`), the tenant header, the `tenant.id` baggage entry.
 */
export class TenantCell {
  private _explicit: unknown;
  /** Id for spans: validated (and hashed if configured), or `unknown` / `invalid`. */
  id: string = TENANT_UNKNOWN;
  /** The validated raw id to pass on to internal services; undefined when there is none. */
  forward: string | undefined;
  /** Metric label, admitted lazily (see {@link label}). */
  private _label: string | undefined;

  constructor(
    private readonly _header?: unknown,
    private readonly _baggage?: unknown
  ) {
    this._resolve();
  }

  /** Sets the tenant from the app; it wins over header and baggage. */
  set(id: unknown): void {
    this._explicit = id;
    this._resolve();
  }

  /** Dense index of {@link label} (see `TenantRegistry.index`). */
  private _index = 0;

  /** The metric label: the span id if admitted, `overflow` past the tenant limit. */
  label(): string {
    let l = this._label;
    if (l === undefined) {
      l = this._label = registry.label(this.id);
      this._index = registry.index(l);
    }
    return l;
  }

  /** The dense index of the metric label, for array-indexed per-tenant tables. */
  labelIndex(): number {
    if (this._label === undefined) this.label();
    return this._index;
  }

  private _resolve(): void {
    const raw = this._explicit ?? this._header ?? this._baggage;
    this.id = registry.spanId(raw);
    this.forward =
      typeof raw === 'string' && this.id !== TENANT_INVALID && this.id !== TENANT_UNKNOWN && TENANT_ID_PATTERN.test(raw)
        ? raw
        : undefined;
    this._label = undefined;
  }
}

/** The tenant cell of a context, if any. */
export function getTenantCell(ctx: Context): TenantCell | undefined {
  return ctx.getValue(TENANT_CONTEXT_KEY) as TenantCell | undefined;
}

/**
 * Sets the tenant of the current request, for apps that learn it only after authentication. It lands on the
 * request's server span, on its metrics, and on every span of the request that ends after this call.
 * Returns false (and logs once) when called outside a request or `withTenant` scope.
 */
export function setTenant(id: string): boolean {
  try {
    const cell = getTenantCell(context.active());
    if (cell === undefined) {
      // Not running (OTEL_SDK_DISABLED, old Node): no request has a tenant cell, and saying so would mislead.
      if (started) warnOnce('setTenant-outside', 'setTenant() was called outside a request or withTenant() scope; ignored');
      return false;
    }
    cell.set(id);
    return true;
  } catch {
    return false;
  }
}

/** Runs `fn` with `id` as the tenant, for work outside an HTTP request (jobs, consumers, scripts). */
export function withTenant<A extends unknown[], R>(id: string, fn: (...args: A) => R, ...args: A): R {
  let ctx: Context;
  try {
    const cell = new TenantCell();
    cell.set(id);
    ctx = context.active().setValue(TENANT_CONTEXT_KEY, cell);
  } catch {
    return fn(...args);
  }
  return context.with(ctx, fn, undefined, ...args);
}

/** The current tenant id as it appears on spans (`unknown` when none is set). */
export function getTenant(): string {
  return getTenantCell(context.active())?.id ?? TENANT_UNKNOWN;
}
