import type { Attributes, BatchObservableResult, Observable } from '@opentelemetry/api';
import { InstrumentationBase, InstrumentationNodeModuleDefinition, InstrumentationNodeModuleFile } from '@opentelemetry/instrumentation';
import { describeError, warnOnce } from '../../src/core/log';
import { VERSION } from '../../src/core/package';
import {
  METRIC_DB_CONNECTIONS_ACTIVE,
  METRIC_DB_CONNECTIONS_IDLE,
  METRIC_DB_CONNECTIONS_WAITING,
  VALUE_OTHER,
  type MetricSpec,
} from '../../src/core/semconv';
import type { PoolCounts, TrackedPool } from './internal-types';
import type { DbPoolsInstrumentationOptions } from './types';
import { isDatabaseName, mongoDatabaseName, pgDatabaseName, readMongoPool, readPgPool } from './utils';

/** Marks a pool object we already follow. */
const TRACKED = Symbol('tenantscope.trackedPool');
type Marked = { [TRACKED]?: true };
type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;

/**
 * Follows the connection pools of `pg` (pg-pool 3.x) and the `mongodb` driver (6.4–7.x) and reports, at collection
 * time, `database_connections_active`, `_idle` and `_waiting` per (database_type, database_name): observable gauges
 * read from the pools' own counters, so they follow each pool as it grows and shrinks, summed over the pools of a
 * database. A pool is found the first time it opens a connection (pg `newClient`) or checks one out (mongodb
 * `checkOut`), methods the upstream instrumentations do not wrap, and held weakly: a pool the app drops or ends is
 * forgotten, and its database then reports 0.
 */
export class DbPoolsInstrumentation extends InstrumentationBase<DbPoolsInstrumentationOptions> {
  private readonly _pools = new Set<TrackedPool>();
  /** (type, name) labels seen, so a database whose pools all closed reports 0 rather than vanishing. */
  private readonly _labels = new Map<string, Attributes>();

  constructor(config: DbPoolsInstrumentationOptions = {}) {
    super('tenantscope-instrumentation-dbpools', VERSION, config);
  }

  protected init(): InstrumentationNodeModuleDefinition[] {
    return [
      new InstrumentationNodeModuleDefinition(
        'pg-pool',
        ['>=3 <4'],
        (exports: unknown) => {
          this._patch((exports as { prototype?: object } | undefined)?.prototype, 'newClient', (pool) => this._track(pool, 'postgresql'));
          return exports;
        },
        (exports: unknown) => this._unpatch((exports as { prototype?: object } | undefined)?.prototype, 'newClient')
      ),
      new InstrumentationNodeModuleDefinition('mongodb', ['>=6.4 <8'], undefined, undefined, [
        new InstrumentationNodeModuleFile(
          'mongodb/lib/cmap/connection_pool.js',
          ['>=6.4 <8'],
          (exports: unknown) => {
            this._patch((exports as { ConnectionPool?: { prototype?: object } }).ConnectionPool?.prototype, 'checkOut', (pool) => this._track(pool, 'mongodb'));
            return exports;
          },
          (exports: unknown) => this._unpatch((exports as { ConnectionPool?: { prototype?: object } } | undefined)?.ConnectionPool?.prototype, 'checkOut')
        ),
      ]),
    ];
  }

  protected override _updateMetricInstruments(): void {
    const gauge = (spec: MetricSpec): Observable => this.meter.createObservableGauge(spec.name, { description: spec.description, unit: spec.unit });
    const active = gauge(METRIC_DB_CONNECTIONS_ACTIVE);
    const idle = gauge(METRIC_DB_CONNECTIONS_IDLE);
    const waiting = gauge(METRIC_DB_CONNECTIONS_WAITING);
    this.meter.addBatchObservableCallback(
      (result: BatchObservableResult) => {
        try {
          for (const [key, counts] of this._read()) {
            const attrs = this._labels.get(key) as Attributes;
            result.observe(active, counts.active, attrs);
            result.observe(idle, counts.idle, attrs);
            result.observe(waiting, counts.waiting, attrs);
          }
        } catch (err) {
          warnOnce('dbpools-collect', `database pool gauges were not read: ${describeError(err)}`);
        }
      },
      [active, idle, waiting]
    );
  }

  /** Pools currently followed (for tests). */
  get poolCount(): number {
    return this._pools.size;
  }

  /** Sums the live pools' counts per label; forgets closed and collected pools. */
  private _read(): Map<string, PoolCounts> {
    const out = new Map<string, PoolCounts>();
    for (const key of this._labels.keys()) out.set(key, { active: 0, idle: 0, waiting: 0 });
    for (const t of this._pools) {
      const pool = t.ref.deref();
      const counts = out.get(`${t.type}\u0000${t.name}`);
      if (pool === undefined || counts === undefined || !t.read(pool, counts)) this._pools.delete(t);
    }
    return out;
  }

  private _track(pool: unknown, type: 'postgresql' | 'mongodb'): void {
    if (typeof pool !== 'object' || pool === null || (pool as Marked)[TRACKED] === true) return;
    (pool as Marked)[TRACKED] = true;
    const raw = type === 'postgresql' ? pgDatabaseName(pool as never) : mongoDatabaseName(pool as never);
    let name = isDatabaseName(raw) ? raw : VALUE_OTHER;
    let key = `${type}\u0000${name}`;
    if (!this._labels.has(key)) {
      if (this._labels.size >= (this.getConfig().maxDatabases ?? 32)) {
        name = VALUE_OTHER;
        key = `${type}\u0000${name}`;
      }
      if (!this._labels.has(key)) this._labels.set(key, { database_type: type, database_name: name });
    }
    this._pools.add({ ref: new WeakRef(pool), type, name, read: type === 'postgresql' ? readPgPool : readMongoPool });
  }

  /** Wraps `proto[method]` so `onCall(this)` runs first, guarded; the app's call always goes through unchanged. */
  private _patch(proto: object | undefined, method: string, onCall: (self: unknown) => void): void {
    if (proto === undefined) return;
    const original = (proto as Record<string, unknown>)[method];
    if (typeof original !== 'function') {
      warnOnce(`dbpools-${method}`, `database pool gauges: ${method} not found; pools of this driver are not followed`);
      return;
    }
    this._wrap(proto as Record<string, AnyFunction>, method, (orig: AnyFunction) =>
      function (this: unknown, ...args: unknown[]): unknown {
        try {
          onCall(this);
        } catch (err) {
          warnOnce('dbpools-track', `a database pool was not followed: ${describeError(err)}`);
        }
        return orig.apply(this, args);
      }
    );
  }

  private _unpatch(proto: object | undefined, method: string): void {
    if (proto !== undefined) this._unwrap(proto as Record<string, AnyFunction>, method);
  }
}
