/** `pg` and `pg-pool` objects as the lean patches read them, and upstream instrumentation-pg's internals they call. */

export type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;
export type Patch = (original: AnyFunction) => AnyFunction;

/** The part of a `pg` Client these patches read. */
export interface PgClient {
  connectionParameters?: { database?: string; host?: string; port?: unknown };
}

/** The part of a `pg-pool` Pool these patches read. */
export interface PgPool {
  options?: { connectionString?: string; idleTimeoutMillis?: unknown; maxClient?: unknown; database?: string; host?: string; port?: unknown };
}

/** What `instrumentation-pg`'s own methods look like from here (they are not in its public types). */
export interface UpstreamInternals {
  _getClientQueryPatch(): Patch;
  _getPoolConnectPatch(): Patch;
  _setPoolConnectEventListeners(pool: unknown): void;
}
