import type { TenantScope } from './sdk';

const KEY = Symbol.for('tenantscope.instance');
type Holder = { [KEY]?: TenantScope | null };

/** The started pipeline of this process (shared across copies of the package), if any. */
export function getInstance(): TenantScope | null | undefined {
  return (globalThis as Holder)[KEY];
}

/** Records the started pipeline; `null` marks "start attempted", so a second preload does nothing. */
export function setInstance(i: TenantScope | null): void {
  (globalThis as Holder)[KEY] = i;
}
