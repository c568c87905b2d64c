/** What a `pg-pool` Pool exposes that we read (pg-pool 3.x). */
export interface PgPoolLike {
  readonly options?: { database?: unknown; connectionString?: unknown };
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
  readonly ended?: boolean;
}

/** What the mongodb driver's ConnectionPool exposes that we read (driver 6.4–7.x). */
export interface MongoPoolLike {
  readonly currentCheckedOutCount: number;
  readonly availableConnectionCount: number;
  readonly waitQueueSize: number;
  readonly closed?: boolean;
  readonly server?: { topology?: { client?: { options?: { dbName?: unknown } } } };
}

/** Counts one pool reports, read at collection time. */
export interface PoolCounts {
  active: number;
  idle: number;
  waiting: number;
}

/** A pool we follow: a weak reference (a pool the app drops is forgotten) and its labels. */
export interface TrackedPool {
  readonly ref: WeakRef<object>;
  readonly type: string;
  readonly name: string;
  /** Adds the pool's counts into `into`; false when the pool is closed (then it is forgotten). */
  readonly read: (pool: object, into: PoolCounts) => boolean;
}
