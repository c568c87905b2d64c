/** tenantscope's public API. Loading this module starts nothing: use `--require tenantscope/register`. */
import { getInstance } from './instance';

export { setTenant, withTenant, getTenant } from './tenantApi';
export { cacheLookup, cacheEviction } from './cacheApi';
export type { CacheLevelOptions } from './cacheApi';
export { TENANT_ID_PATTERN } from './core/tenant/TenantRegistry';
export type { TenantScopeConfig } from './core/config';

/** Flushes spans and metrics and stops tenantscope; idempotent. Resolves at once when it is not running. */
export function shutdown(): Promise<void> {
  return getInstance()?.shutdown() ?? Promise.resolve();
}

/** Exports buffered spans and metrics now, without stopping. */
export function forceFlush(): Promise<void> {
  return getInstance()?.forceFlush() ?? Promise.resolve();
}
