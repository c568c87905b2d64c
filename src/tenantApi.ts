import { context, type Context } from '@opentelemetry/api';
import { warnOnce } from './core/log';
import { TENANT_UNKNOWN } from './core/semconv';
import { TENANT_CONTEXT_KEY, TenantCell, getTenantCell } from './core/tenant/TenantCell';
import { getInstance } from './instance';

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
      if (getInstance()) warnOnce('setTenant-outside', 'setTenant() was called outside a request or withTenant() scope; ignored');
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
    const scope = getInstance();
    // Not running: there is no registry to validate the id and nothing records it.
    if (!scope) return fn(...args);
    const cell = new TenantCell(scope.tenants);
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
