import type { CounterFamily, CounterSeries } from '../metrics/MetricFamily';
import type { MetricStore } from '../metrics/MetricStore';
import { METRIC_CACHE_EVICTIONS, METRIC_CACHE_REQUESTS, VALUE_INVALID, VALUE_OTHER } from '../semconv';
import type { TenantRegistry } from '../tenant/TenantRegistry';
import type { CacheTypes } from './CacheTypes';

/** A level the app names (`local`, `l1`, `memcached`): lower-case letters, digits and `_`, up to 32. */
const LEVEL = /^[a-z][a-z0-9_]{0,31}$/;
/** Distinct levels before later ones fold into `_OTHER`. */
const MAX_LEVELS = 16;

/** One (cache type, level): its hit and miss series, by tenant index (see TenantRegistry.index). */
interface Row {
  readonly type: string;
  readonly level: string;
  readonly hit: CounterSeries[];
  readonly miss: CounterSeries[];
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
    if (row === undefined) byType.set(type, (row = { type, level, hit: [], miss: [] }));
    return row;
  }

  /** Counts `hits` and `misses` lookups of `row` for the tenant with dense index `tenantIndex`. */
  count(row: Row, tenantIndex: number, hits: number, misses: number): void {
    if (hits > 0) {
      let s = row.hit[tenantIndex];
      if (s === undefined) s = row.hit[tenantIndex] = this._series(row, 'hit', tenantIndex);
      s.value += hits;
    }
    if (misses > 0) {
      let s = row.miss[tenantIndex];
      if (s === undefined) s = row.miss[tenantIndex] = this._series(row, 'miss', tenantIndex);
      s.value += misses;
    }
  }

  /** Counts `n` evictions from an in-process cache (no tenant: an eviction belongs to the cache, not a request). */
  evicted(type: string, level: string, n: number): void {
    this._evictions.get([type, level]).value += n;
  }

  private _series(row: Row, result: string, tenantIndex: number): CounterSeries {
    return this._requests.get([row.type, row.level, result, this._tenants.labelAt(tenantIndex)]);
  }
}
