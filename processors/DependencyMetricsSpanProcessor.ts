import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace';
import type { CacheMetrics } from '../src/core/cache/CacheMetrics';
import { SQL_OPERATIONS, summarizeStatement } from '../src/core/db/statement';
import type { Integration, IntegrationPolicy } from '../src/core/IntegrationPolicy';
import { describeError, warnOnce } from '../src/core/log';
import type { CounterFamily, CounterSeries, HistogramFamily, HistogramSeries } from '../src/core/metrics/MetricFamily';
import type { MetricStore } from '../src/core/metrics/MetricStore';
import { isInsideModelCall, modelCallOf } from '../src/core/ModelCall';
import {
  ATTR_CACHE_HIT,
  ATTR_CACHE_HITS,
  ATTR_CACHE_MISSES,
  ATTR_CACHE_TYPE,
  ATTR_DB_COLLECTION_NAME,
  ATTR_DB_MONGODB_COLLECTION_OLD,
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_OPERATION_OLD,
  ATTR_DB_QUERY_TEXT,
  ATTR_DB_STATEMENT_OLD,
  ATTR_DB_SYSTEM_NAME,
  ATTR_DB_SYSTEM_OLD,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_TENANT_ID,
  CACHE_LEVEL_REDIS,
  METRIC_DB_QUERY_DURATION,
  METRIC_DB_SLOW_QUERIES,
  METRIC_INTEGRATION_CALLS,
  METRIC_INTEGRATION_DURATION,
  METRIC_LABELS_FOLDED,
  VALUE_OTHER,
} from '../src/core/semconv';
import { tenantCellOf } from '../src/core/tenant/TenantCell';
import type { TenantRegistry } from '../src/core/tenant/TenantRegistry';

export interface DependencyMetricsSpanProcessorOptions {
  store: MetricStore;
  tenants: TenantRegistry;
  /** cache_requests_total, shared with the public `cacheLookup`. */
  caches: CacheMetrics;
  /** Which outbound HTTP calls are integrations, and their labels. */
  integrations: IntegrationPolicy;
  /** Operations slower than this (ms) count as slow queries; 0 turns the counter off. */
  slowQueryMs: number;
  /** Distinct tables (collections) on database metrics before later ones fold into `_OTHER`. */
  maxTables: number;
}

/** Systems whose statements are SQL: operation and table come from a scan of the statement. */
const SQL_SYSTEMS = new Set(['postgresql', 'mysql', 'mariadb', 'mssql', 'microsoft.sql_server', 'sqlite', 'oracle.db', 'oracle', 'cockroachdb', 'db2', 'ibm.db2', 'trino', 'clickhouse', 'h2', 'hsqldb', 'derby']);
/** A non-SQL operation name we keep (`find`, `insert`, `get`, `json.get`). */
const OPERATION = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
/** A system name we keep (`postgresql`, `mongodb`, `redis`, `microsoft.sql_server`). */
const SYSTEM = /^[a-z][a-z0-9_.]{0,31}$/;
const MAX_SYSTEMS = 16;
const MAX_OPERATIONS = 64;
/** Statements memoised (parameterised statements repeat; ones with literals would only churn it, so it is cleared when full). */
const STATEMENT_MEMO_LIMIT = 2000;

/** One (database type, operation, table): its duration histogram and, by tenant index, its slow-query counters. */
interface QueryRow {
  readonly values: readonly string[];
  readonly duration: HistogramSeries;
  readonly slow: CounterSeries[];
}

/** One database system's tables. */
interface SystemRow {
  readonly label: string;
  /** SQL statements: operation and table come from a scan of the statement. */
  readonly sql: boolean;
  /** Redis: no tables; read commands may carry cache attributes. */
  readonly redis: boolean;
  /** operation → table → row (at most MAX_OPERATIONS operations and `_OTHER`) */
  readonly byOperation: Map<string, Map<string, QueryRow>>;
  /** statement text → row (SQL systems) */
  readonly statements: Map<string, QueryRow>;
}

/** One integration's series by tenant index: calls that succeeded, calls that failed, durations. */
interface IntegrationRow {
  readonly integration: Integration;
  readonly ok: CounterSeries[];
  readonly failed: CounterSeries[];
  readonly duration: HistogramSeries[];
}

/**
 * Derives metrics for the calls this process makes to its dependencies, from CLIENT spans: database operations
 * (`database_query_duration_seconds`, `database_slow_queries_total`) from the pg, mongodb and ioredis spans;
 * cache lookups (`cache_requests_total{level="redis"}`) from the cache attributes the Redis read hook sets; and
 * integrations (`integration_calls_total`, `integration_duration_seconds`) from outbound HTTP client spans that
 * are neither model calls nor calls to internal hosts. Labels come from semantic-convention attributes or a
 * bounded scan of a parameterised statement, never a literal; every label is bounded.
 */
export class DependencyMetricsSpanProcessor implements SpanProcessor {
  private readonly _tenants: TenantRegistry;
  private readonly _caches: CacheMetrics;
  private readonly _integrations: IntegrationPolicy;
  private readonly _slowMs: number;
  private readonly _maxTables: number;
  private readonly _duration: HistogramFamily;
  private readonly _slow: CounterFamily;
  private readonly _calls: CounterFamily;
  private readonly _integrationDuration: HistogramFamily;
  private readonly _tablesFolded: CounterSeries;
  private readonly _operationsFolded: CounterSeries;
  private readonly _integrationsFolded: CounterSeries;
  private readonly _systems = new Map<string, SystemRow>();
  private readonly _tables = new Set<string>();
  /** Raw `cache.type` attribute → the row of (that type, level redis). */
  private readonly _cacheRows = new Map<string, ReturnType<CacheMetrics['row']>>();
  private readonly _integrationRows: IntegrationRow[] = [];

  constructor(options: DependencyMetricsSpanProcessorOptions) {
    const { store } = options;
    this._tenants = options.tenants;
    this._caches = options.caches;
    this._integrations = options.integrations;
    this._slowMs = options.slowQueryMs;
    this._maxTables = options.maxTables;
    this._duration = store.histogram(METRIC_DB_QUERY_DURATION);
    this._slow = store.counter(METRIC_DB_SLOW_QUERIES);
    this._calls = store.counter(METRIC_INTEGRATION_CALLS);
    this._integrationDuration = store.histogram(METRIC_INTEGRATION_DURATION);
    const folded = store.counter(METRIC_LABELS_FOLDED);
    this._tablesFolded = folded.get(['table']);
    this._operationsFolded = folded.get(['operation']);
    this._integrationsFolded = folded.get(['integration_id']);
  }

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    if (span.kind !== SpanKind.CLIENT) return;
    try {
      const attrs = span.attributes;
      const system = attrs[ATTR_DB_SYSTEM_NAME] ?? attrs[ATTR_DB_SYSTEM_OLD];
      if (system !== undefined) this._database(span, system);
      else if (attrs[ATTR_HTTP_REQUEST_METHOD] !== undefined) this._integration(span);
    } catch (err) {
      warnOnce('dependency-onEnd', `dependency metrics skipped a span: ${describeError(err)}`);
    }
  }

  private _tenantIndex(span: ReadableSpan): number {
    const cell = tenantCellOf(span);
    return cell !== undefined ? this._tenants.indexOf(cell) : this._tenants.indexOfAttribute(span.attributes[ATTR_TENANT_ID]);
  }

  private _database(span: ReadableSpan, rawSystem: unknown): void {
    const attrs = span.attributes;
    const sys = this._system(rawSystem);
    const q = this._query(sys, attrs);
    let tenantIndex = -1;
    if (q !== undefined) {
      const d = span.duration;
      const ms = d[0] * 1e3 + d[1] / 1e6;
      q.duration.record(ms / 1000);
      if (this._slowMs > 0 && ms > this._slowMs) {
        tenantIndex = this._tenantIndex(span);
        let s = q.slow[tenantIndex];
        if (s === undefined) s = q.slow[tenantIndex] = this._slow.get([...q.values, this._tenants.labelAt(tenantIndex)]);
        s.value++;
      }
    }
    // Cache lookups the Redis read hook marked (only whether a value came back, never the value).
    if (!sys.redis) return;
    const hit = attrs[ATTR_CACHE_HIT];
    let hits: number;
    let misses: number;
    if (typeof hit === 'boolean') {
      hits = hit ? 1 : 0;
      misses = hit ? 0 : 1;
    } else {
      const h = attrs[ATTR_CACHE_HITS];
      const m = attrs[ATTR_CACHE_MISSES];
      if (typeof h !== 'number' || typeof m !== 'number') return;
      hits = h > 0 ? Math.floor(h) : 0;
      misses = m > 0 ? Math.floor(m) : 0;
    }
    if (tenantIndex === -1) tenantIndex = this._tenantIndex(span);
    this._caches.count(this._cacheRow(attrs[ATTR_CACHE_TYPE]), tenantIndex, hits, misses);
  }

  /** The (cache type, level redis) row for a span's `cache.type`, re-bounded (the attribute may be set by hand). */
  private _cacheRow(rawType: unknown): ReturnType<CacheMetrics['row']> {
    const key = typeof rawType === 'string' ? rawType : VALUE_OTHER;
    let row = this._cacheRows.get(key);
    if (row === undefined) {
      row = this._caches.row(this._caches.types.admit(key), CACHE_LEVEL_REDIS);
      if (this._cacheRows.size < 1000) this._cacheRows.set(key, row);
    }
    return row;
  }

  /** The bounded row of a database system, created on first use. */
  private _system(raw: unknown): SystemRow {
    const name = typeof raw === 'string' ? raw : VALUE_OTHER;
    let sys = this._systems.get(name);
    if (sys === undefined) {
      const label = SYSTEM.test(name) && this._systems.size < MAX_SYSTEMS ? name : VALUE_OTHER;
      sys = this._systems.get(label);
      if (sys === undefined) {
        sys = { label, sql: SQL_SYSTEMS.has(label), redis: label === 'redis', byOperation: new Map(), statements: new Map() };
        this._systems.set(label, sys);
      }
      if (label === name) this._systems.set(name, sys);
    }
    return sys;
  }

  /** The row of a database span's (operation, table), or undefined for spans that are no operation (connects). */
  private _query(sys: SystemRow, attrs: ReadableSpan['attributes']): QueryRow | undefined {
    if (sys.sql) {
      const text = attrs[ATTR_DB_QUERY_TEXT] ?? attrs[ATTR_DB_STATEMENT_OLD];
      if (typeof text !== 'string') return undefined;
      let q = sys.statements.get(text);
      if (q === undefined) {
        const { operation, table } = summarizeStatement(text);
        if (operation === '') return undefined;
        q = this._row(sys, SQL_OPERATIONS.has(operation) ? operation : VALUE_OTHER, table);
        if (sys.statements.size >= STATEMENT_MEMO_LIMIT) sys.statements.clear();
        sys.statements.set(text, q);
      }
      return q;
    }
    const rawOp = attrs[ATTR_DB_OPERATION_NAME] ?? attrs[ATTR_DB_OPERATION_OLD];
    if (typeof rawOp !== 'string' || rawOp === '') return undefined;
    // ioredis names queued commands `PIPELINE get` / `MULTI get`: the operation is still `get`.
    const space = rawOp.indexOf(' ');
    const op = space === -1 ? rawOp : rawOp.slice(space + 1);
    // Redis has keys, not tables.
    const collection = sys.redis ? undefined : (attrs[ATTR_DB_COLLECTION_NAME] ?? attrs[ATTR_DB_MONGODB_COLLECTION_OLD]);
    return this._row(sys, op, typeof collection === 'string' ? collection : '');
  }

  /** The row of (system, raw operation, raw table), bounding both labels. */
  private _row(sys: SystemRow, rawOp: string, rawTable: string): QueryRow {
    let byTable = sys.byOperation.get(rawOp);
    if (byTable !== undefined) return this._tableRow(sys, byTable, rawOp, rawTable);
    let op = rawOp;
    if (op !== VALUE_OTHER && (!OPERATION.test(op) || sys.byOperation.size >= MAX_OPERATIONS)) {
      // Folded operations are not remembered under their raw name: hostile names cannot grow the map.
      this._operationsFolded.value++;
      op = VALUE_OTHER;
    }
    byTable = sys.byOperation.get(op);
    if (byTable === undefined) sys.byOperation.set(op, (byTable = new Map()));
    return this._tableRow(sys, byTable, op, rawTable);
  }

  private _tableRow(sys: SystemRow, byTable: Map<string, QueryRow>, op: string, rawTable: string): QueryRow {
    let q = byTable.get(rawTable);
    if (q !== undefined) return q;
    let table = rawTable;
    if (table !== '' && !this._tables.has(table)) {
      if (this._tables.size >= this._maxTables || table.length > 127) {
        this._tablesFolded.value++;
        table = VALUE_OTHER;
      } else {
        this._tables.add(table);
      }
    }
    q = byTable.get(table);
    if (q === undefined) {
      const values = [sys.label, op, table];
      q = { values, duration: this._duration.get(values), slow: [] };
      byTable.set(table, q);
    }
    // Folded tables are not remembered under their raw name: hostile names cannot grow the map.
    return q;
  }

  private _integration(span: ReadableSpan): void {
    if (modelCallOf(span) !== undefined || isInsideModelCall(span)) return;
    const attrs = span.attributes;
    const integration = this._integrations.integrationOf(attrs[ATTR_SERVER_ADDRESS], attrs[ATTR_SERVER_PORT]);
    if (integration === undefined) return;
    if (integration.index === 0) this._integrationsFolded.value++;
    let row = this._integrationRows[integration.index];
    if (row === undefined) row = this._integrationRows[integration.index] = { integration, ok: [], failed: [], duration: [] };
    const tenantIndex = this._tenantIndex(span);
    const status = attrs[ATTR_HTTP_RESPONSE_STATUS_CODE];
    const failed = span.status.code === SpanStatusCode.ERROR || (typeof status === 'number' && status >= 400);
    const byTenant = failed ? row.failed : row.ok;
    let calls = byTenant[tenantIndex];
    if (calls === undefined) {
      calls = byTenant[tenantIndex] = this._calls.get([
        this._tenants.labelAt(tenantIndex),
        integration.id,
        integration.type,
        failed ? 'error' : 'success',
      ]);
    }
    calls.value++;
    let duration = row.duration[tenantIndex];
    if (duration === undefined) {
      duration = row.duration[tenantIndex] = this._integrationDuration.get([this._tenants.labelAt(tenantIndex), integration.id, integration.type]);
    }
    const d = span.duration;
    duration.record(d[0] + d[1] / 1e9);
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
