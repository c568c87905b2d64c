import type { MongoPoolLike, PgPoolLike, PoolCounts } from './internal-types';

/** A database name we keep as a label: a plain identifier-like name, no URL or credentials. */
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.$-]{0,62}$/;

/** The database a pg Pool connects to: `database`, else the connection string's path, else `PGDATABASE`. */
export function pgDatabaseName(pool: PgPoolLike): string | undefined {
  const o = pool.options ?? {};
  if (typeof o.database === 'string' && o.database !== '') return o.database;
  if (typeof o.connectionString === 'string') {
    try {
      const path = decodeURIComponent(new URL(o.connectionString).pathname.slice(1));
      if (path !== '') return path;
    } catch {
      // Not a URL (a key=value string): fall through.
    }
  }
  const env = process.env.PGDATABASE;
  return env !== undefined && env !== '' ? env : undefined;
}

/** The default database of the client a mongodb pool belongs to (the connection string's path, else `test`). */
export function mongoDatabaseName(pool: MongoPoolLike): string | undefined {
  const name = pool.server?.topology?.client?.options?.dbName;
  return typeof name === 'string' && name !== '' ? name : undefined;
}

/** True when `name` may be a label value. */
export function isDatabaseName(name: string | undefined): name is string {
  return name !== undefined && NAME.test(name);
}

export function readPgPool(pool: object, into: PoolCounts): boolean {
  const p = pool as PgPoolLike;
  if (p.ended === true) return false;
  const idle = p.idleCount;
  into.active += Math.max(0, p.totalCount - idle);
  into.idle += idle;
  into.waiting += p.waitingCount;
  return true;
}

export function readMongoPool(pool: object, into: PoolCounts): boolean {
  const p = pool as MongoPoolLike;
  if (p.closed === true) return false;
  into.active += p.currentCheckedOutCount;
  into.idle += p.availableConnectionCount;
  into.waiting += p.waitQueueSize;
  return true;
}
