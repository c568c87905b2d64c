import { createContextKey, type Context } from '@opentelemetry/api';
import type { TenantRegistry } from './TenantRegistry';
import { TENANT_INVALID, TENANT_UNKNOWN } from '../semconv';

/** Context key under which a request's {@link TenantCell} travels. */
export const TENANT_CONTEXT_KEY = createContextKey('tenantscope.tenant');

/**
 * The tenant of one request (or one `withTenant` scope). It is shared, not copied, by every context that
 * descends from the request, so a tenant the app sets after auth is seen by every span that ends later.
 * Sources in order of precedence: the app (`setTenant`), the tenant header, the `tenant.id` baggage entry.
 *
 * The registry that created the cell validates (and hashes) its id. Metric labels are not the cell's business:
 * each metric processor asks its own registry ({@link TenantRegistry.indexOf}), which caches its answer here.
 */
export class TenantCell {
  private _explicit: unknown;
  /** Id for spans: validated (and hashed if configured), or `unknown` / `invalid`. */
  id: string = TENANT_UNKNOWN;
  /** The validated raw id to pass on to internal services; undefined when there is none. */
  forward: string | undefined;
  /**
   * Cache of one registry's answer for {@link id} (see `TenantRegistry.indexOf`): the registry, and the dense
   * index of the metric label it gave. Reset whenever the id changes.
   */
  cachedBy: TenantRegistry | undefined = undefined;
  cachedIndex = 0;

  constructor(
    private readonly _registry: TenantRegistry,
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

  private _resolve(): void {
    const raw = this._explicit ?? this._header ?? this._baggage;
    this.id = this._registry.spanId(raw);
    // A string `spanId` answered with neither `invalid` nor `unknown` has passed its TENANT_ID_PATTERN check.
    this.forward = typeof raw === 'string' && this.id !== TENANT_INVALID && this.id !== TENANT_UNKNOWN ? raw : undefined;
    this.cachedBy = undefined;
  }
}

/** The tenant cell of a context, if any. */
export function getTenantCell(ctx: Context): TenantCell | undefined {
  return ctx.getValue(TENANT_CONTEXT_KEY) as TenantCell | undefined;
}

/** Where a span keeps the tenant cell of the context it started in. */
const SPAN_CELL = Symbol('tenantscope.tenantCell');
type WithCell = { [SPAN_CELL]?: TenantCell };

/** Links `span` to the tenant cell it started under (TenantSpanProcessor does, at span start). */
export function linkTenantCell(span: object, cell: TenantCell): void {
  (span as WithCell)[SPAN_CELL] = cell;
}

/** The tenant cell a span started under, if any. */
export function tenantCellOf(span: object): TenantCell | undefined {
  return (span as WithCell)[SPAN_CELL];
}
