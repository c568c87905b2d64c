import { warnOnce } from '../log';
import type { CounterFamily, SeriesData } from '../metrics/MetricFamily';
import type { MetricStore } from '../metrics/MetricStore';
import { METRIC_CACHE_EVICTIONS, METRIC_CACHE_REQUESTS, VALUE_INVALID, VALUE_OTHER } from '../semconv';
import type { TenantRegistry } from '../tenant/TenantRegistry';
import type { CacheTypes } from './CacheTypes';

/** A level the app names (`local`, `l1`, `memcached`): lower-case letters, digits and `_`, up to 32. */
const LEVEL = /^[a-z][a-z0-9_]{0,31}$/;
/** Distinct levels before later ones fold into `_OTHER`. */
const MAX_LEVELS = 16;

/** Slots of a (type, level, tenant) array: the hit counter, then the miss counter. */
const HIT = 0;
const MISS = 1;

/**
 * One (cache type, level): by tenant index (see TenantRegistry.index), one array holding that tenant's hit and miss
 * counters side by side, so a lookup touches one cold object (the layout bench/request.bench.ts measures).
 */
interface Row {
  readonly type: string;
  readonly level: string;
  readonly byTenant: SeriesData[];
}

/**
 * `cache_requests_total` and `cache_evictions_total`, shared by the processor that reads Redis spans and the
 * public `cacheLookup` / `cacheEviction`, so both count into the same series with the same bounds. Series are
 * resolved once per (type, level, result, tenant) and kept in arrays indexed by the tenant's dense index.
 */
export class CacheMetrics {
  readonly types: CacheTypes;
  private readonly _tenants: TenantRegistry;
  private readonly _requests: CounterFamily;
  private readonly _evictions: CounterFamily;
  /** level → cache type → row */
  private readonly _rows = new Map<string, Map<string, Row>>();
  private readonly _levels = new Set<string>();

  constructor(store: MetricStore, tenants: TenantRegistry, types: CacheTypes) {
    this.types = types;
    this._tenants = tenants;
    this._requests = store.counter(METRIC_CACHE_REQUESTS);
    this._evictions = store.counter(METRIC_CACHE_EVICTIONS);
  }

  /** The bounded `level` label for a level the app passed: `invalid` when unusable, `_OTHER` past the limit. */
  level(raw: unknown): string {
    if (typeof raw !== 'string' || !LEVEL.test(raw)) return VALUE_INVALID;
    if (this._levels.has(raw)) return raw;
    if (this._levels.size >= MAX_LEVELS) return VALUE_OTHER;
    this._levels.add(raw);
    return raw;
  }

  /** The row of a (bounded type label, bounded level label), created on first use. */
  row(type: string, level: string): Row {
    let byType = this._rows.get(level);
    if (byType === undefined) this._rows.set(level, (byType = new Map()));
    let row = byType.get(type);
    if (row === undefined) byType.set(type, (row = { type, level, byTenant: [] }));
    return row;
  }

  /** Counts `hits` and `misses` lookups of `row` for the tenant with dense index `tenantIndex`. */
  count(row: Row, tenantIndex: number, hits: number, misses: number): void {
    let d = row.byTenant[tenantIndex];
    if (d === undefined) d = row.byTenant[tenantIndex] = this._pair(row, tenantIndex);
    d[HIT] += hits;
    d[MISS] += misses;
  }

  /** Counts `n` evictions from an in-process cache (no tenant: an eviction belongs to the cache, not a request). */
  evicted(type: string, level: string, n: number): void {
    this._evictions.get([type, level]).value += n;
  }

  /** A tenant's hit and miss series of `row`, created together in one array (a miss series may stay at 0). */
  private _pair(row: Row, tenantIndex: number): SeriesData {
    const tenant = this._tenants.labelAt(tenantIndex);
    const d: SeriesData = [0, 0];
    const hit = this._requests.get([row.type, row.level, 'hit', tenant], d, HIT);
    const miss = this._requests.get([row.type, row.level, 'miss', tenant], d, MISS);
    if (hit.data !== d || miss.data !== d) {
      // Only when two CacheMetrics share one store: this one's counts would not reach those series.
      warnOnce('cache-shared-store', 'a MetricStore is shared by two CacheMetrics; cache_requests_total may be incomplete');
    }
    return d;
  }
}
