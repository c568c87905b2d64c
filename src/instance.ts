import type { TenantScope } from './sdk';

/**
 * The one place with module state: the pipeline this process started, reached by the public API
 * (`setTenant`, `withTenant`, `shutdown`, `forceFlush`), which has no other way to find it. It lives on
 * `globalThis` under a registered symbol, so two copies of the package in one process share it.
 */
const KEY = Symbol.for('tenantscope.instance');
type Holder = { [KEY]?: TenantScope | null };

/** The started pipeline of this process, if any; `null` while a start was attempted and failed or is disabled. */
export function getInstance(): TenantScope | null | undefined {
  return (globalThis as Holder)[KEY];
}

/** Records the started pipeline; `null` marks "start attempted", so a second preload does nothing. */
export function setInstance(i: TenantScope | null): void {
  (globalThis as Holder)[KEY] = i;
}
