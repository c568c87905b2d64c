import type { TenantRegistry } from '../../src/core/tenant/TenantRegistry';
import { setInstance } from '../../src/instance';
import type { TenantScope } from '../../src/sdk';

/**
 * Makes the public tenant API (`withTenant`, `setTenant`) use `tenants`, as a started pipeline does: it reaches
 * the running instance through src/instance.ts. Stand-in: only the registry of a TenantScope is provided, since
 * these in-process tests build their providers themselves.
 */
export function useTenantApi(tenants: TenantRegistry): void {
  setInstance({ tenants } as unknown as TenantScope);
}
