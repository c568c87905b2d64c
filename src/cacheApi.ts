import { context, trace } from '@opentelemetry/api';
import { describeError, warnOnce } from './core/log';
import { ATTR_CACHE_HIT, ATTR_CACHE_LEVEL, ATTR_CACHE_TYPE, EVENT_CACHE_LOOKUP } from './core/semconv';
import { getTenantCell } from './core/tenant/TenantCell';
import { getInstance } from './instance';

/** Options of {@link cacheLookup} and {@link cacheEviction}. */
export interface CacheLevelOptions {
  /** The cache level (`local` for an in-process cache, the default; `l1`, `memcached`, …): lower-case, up to 32 characters. */
  level?: string;
}

/**
 * Records one lookup in an in-process cache (the seed's two-level cache): counts it in
 * `cache_requests_total{cache_type, level, result, tenant_id}` for the current tenant, and adds a `cache.lookup`
 * event (`cache.type`, `cache.level`, `cache.hit`) to the current span. `hit` is whether a value was found: a
 * boolean, or the looked-up value itself (`undefined` and `null` count as a miss; the value is never read).
 * Labels are bounded: a `cacheType` that is not a name (1–64 letters, digits, `_`, `-`, `.`, starting with a letter
 * or `_`) or a bad level is counted as `invalid`. Never throws.
 */
export function cacheLookup(cacheType: string, hit: unknown, options?: CacheLevelOptions): void {
  try {
    const scope = getInstance();
    if (!scope) return;
    const caches = scope.caches;
    const type = caches.types.fromName(cacheType);
    const level = caches.level(options?.level ?? 'local');
    const found = typeof hit === 'boolean' ? hit : hit !== undefined && hit !== null;
    const ctx = context.active();
    const cell = getTenantCell(ctx);
    const tenantIndex = cell !== undefined ? scope.tenants.indexOf(cell) : scope.tenants.indexOfAttribute(undefined);
    caches.count(caches.row(type, level), tenantIndex, found ? 1 : 0, found ? 0 : 1);
    const span = trace.getSpan(ctx);
    if (span !== undefined && span.isRecording()) {
      span.addEvent(EVENT_CACHE_LOOKUP, { [ATTR_CACHE_TYPE]: type, [ATTR_CACHE_LEVEL]: level, [ATTR_CACHE_HIT]: found });
    }
  } catch (err) {
    warnOnce('cacheLookup', `cacheLookup() was not recorded: ${describeError(err)}`);
  }
}

/**
 * Records `n` entries (default 1) evicted from an in-process cache, in `cache_evictions_total{cache_type, level}`.
 * A count that is not a positive finite number is ignored (logged once). Never throws.
 */
export function cacheEviction(cacheType: string, n: number = 1, options?: CacheLevelOptions): void {
  try {
    const scope = getInstance();
    if (!scope) return;
    if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) {
      warnOnce('cacheEviction-n', `cacheEviction() was given a count that is not a positive number (${typeof n}); ignored`);
      return;
    }
    const caches = scope.caches;
    caches.evicted(caches.types.fromName(cacheType), caches.level(options?.level ?? 'local'), n);
  } catch (err) {
    warnOnce('cacheEviction', `cacheEviction() was not recorded: ${describeError(err)}`);
  }
}
