import { context, SpanKind, trace } from '@opentelemetry/api';
import { PgInstrumentation, type PgInstrumentationConfig } from '@opentelemetry/instrumentation-pg';
import type { AnyFunction, Patch, PgClient, PgPool, UpstreamInternals } from './internal-types';
import type { LeanPgInstrumentationOptions } from './types';
import { connectionAttributes, endWhenSettled, endingCallback, endingPoolCallback, errorMessage, fail, integer, operationName } from './utils';

/** Config keys whose behaviour lives in upstream's patches: with any of them set, upstream's patches run. */
const UPSTREAM_ONLY_KEYS: readonly (keyof PgInstrumentationConfig)[] = [
  'requireParentSpan',
  'requestHook',
  'responseHook',
  'connectionHook',
  'enhancedDatabaseReporting',
  'addSqlCommenterCommentToQueries',
  'ignoreConnectSpans',
  'enableTraceContextPropagation',
];

/**
 * `@opentelemetry/instrumentation-pg` with leaner patches of the two calls on every request, `Client.query` and
 * `Pool.connect`: the same spans (names, kind, attributes, exception events, status, parent), the same context for
 * callbacks, the same pool metrics (upstream's pool listeners still run), but without the work the span does not
 * need. Per query upstream also builds the `db.client.operation.duration` attributes and reads the clock for a
 * histogram our span processors already derive (and that tenantscope hands a no-op instrument), copies the query
 * config, and chains two more promises per result; per checkout it parses the pool's connection string as a URL.
 *
 * Everything else is upstream's: module matching, `Client.connect`, `Pool.end`, pg-native, ESM. Upstream's
 * patches run instead when upstream's histograms are wanted (`TENANTSCOPE_UPSTREAM_METRICS=true`), when the config
 * sets anything they implement (hooks, `requireParentSpan`, …), or when the upstream version no longer has the
 * methods this class replaces (then it logs nothing and behaves exactly as upstream).
 */
export class LeanPgInstrumentation extends PgInstrumentation {
  private readonly _recordDuration: boolean;
  /** Per pool `options` object: the connection string last parsed and what it gave. */
  private readonly _poolUrls = new WeakMap<object, { source: string; namespace?: string; host?: string; port?: number }>();

  constructor(config: LeanPgInstrumentationOptions = {}) {
    const { recordDuration, ...rest } = config;
    super(rest);
    this._recordDuration = recordDuration === true;
    // Upstream calls these through `this` when it patches a module (at require time, after this constructor):
    // own properties here take precedence over its prototype's methods, which TypeScript keeps private.
    const internals = this as unknown as UpstreamInternals;
    const proto = PgInstrumentation.prototype as unknown as Partial<UpstreamInternals>;
    const query = proto._getClientQueryPatch;
    const connect = proto._getPoolConnectPatch;
    const listen = proto._setPoolConnectEventListeners;
    if (typeof query === 'function') internals._getClientQueryPatch = () => (this._lean() ? this._queryPatch() : query.call(this));
    if (typeof connect === 'function') {
      internals._getPoolConnectPatch = () => (this._lean() && typeof listen === 'function' ? this._poolConnectPatch(listen) : connect.call(this));
    }
  }

  /** True when this class's patches apply: upstream's internals are as expected and nothing needs upstream's. */
  private _lean(): boolean {
    if (this._recordDuration) return false;
    const config = this.getConfig();
    return !UPSTREAM_ONLY_KEYS.some((k) => config[k] !== undefined && config[k] !== false);
  }

  /** The lean `Client.prototype.query` patch. */
  private _queryPatch(): Patch {
    const self = this;
    return (original) =>
      function query(this: unknown, ...args: unknown[]): unknown {
        const arg0 = args[0] as { text?: unknown; name?: unknown; callback?: unknown } | string | null | undefined;
        let text: string | undefined;
        let planName: unknown;
        let valid = true;
        if (typeof arg0 === 'string') text = arg0;
        else if (typeof arg0 === 'object' && arg0 !== null && typeof arg0.text === 'string') {
          text = arg0.text;
          planName = arg0.name;
        } else valid = false;
        const params = (this as PgClient).connectionParameters ?? {};
        const dbName = params.database;
        const name = valid
          ? `pg.query:${typeof planName === 'string' && planName ? planName : operationName(text!)}${dbName ? ` ${dbName}` : ''}`
          : 'pg.query';
        const span = self.tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes: connectionAttributes(params) });
        if (valid) {
          if (text) span.setAttribute('db.query.text', text);
          if (typeof planName === 'string') span.setAttribute('db.postgresql.plan', planName);
        }
        const last = args.length - 1;
        if (last >= 0) {
          const active = context.active();
          const parent = trace.getSpan(active) !== undefined;
          const cb = args[last];
          if (typeof cb === 'function') {
            const patched = endingCallback(span, cb as AnyFunction);
            args[last] = parent ? context.bind(active, patched) : patched;
          } else if (valid && typeof arg0 === 'object' && arg0 !== null && typeof arg0.callback === 'function') {
            const patched = endingCallback(span, arg0.callback as AnyFunction);
            arg0.callback = parent ? context.bind(active, patched) : patched;
          }
        }
        let result: unknown;
        try {
          result = original.apply(this, args);
        } catch (e) {
          fail(span, e, errorMessage(e));
          span.end();
          throw e;
        }
        return endWhenSettled(span, result);
      };
  }

  /** The lean `Pool.prototype.connect` patch; `listen` is upstream's pool-metrics listener setup, run as upstream does. */
  private _poolConnectPatch(listen: UpstreamInternals['_setPoolConnectEventListeners']): Patch {
    const self = this;
    return (original) =>
      function connect(this: unknown, callback?: unknown): unknown {
        listen.call(self, this);
        const span = self.tracer.startSpan('pg-pool.connect', { kind: SpanKind.CLIENT, attributes: self._poolAttributes((this as PgPool).options ?? {}) });
        let cb = callback;
        if (typeof cb === 'function') {
          const active = context.active();
          const patched = endingPoolCallback(span, cb as AnyFunction);
          cb = trace.getSpan(active) !== undefined ? context.bind(active, patched) : patched;
        }
        return endWhenSettled(
          span,
          context.with(trace.setSpan(context.active(), span), () => original.call(this, cb))
        );
      };
  }

  /** Upstream's `getSemanticAttributesFromPoolConnection`, parsing each pool's connection string once. */
  private _poolAttributes(options: NonNullable<PgPool['options']>): Record<string, unknown> {
    let url: { namespace?: string; host?: string; port?: number } | undefined;
    const source = options.connectionString;
    if (source) {
      url = this._poolUrls.get(options);
      if (url === undefined || (url as { source: string }).source !== source) {
        let parsed: URL | undefined;
        try {
          parsed = new URL(source);
        } catch {
          parsed = undefined;
        }
        const entry = parsed === undefined ? { source } : { source, namespace: parsed.pathname.slice(1), host: parsed.hostname, port: Number(parsed.port) || undefined };
        this._poolUrls.set(options, entry);
        url = entry;
      }
    }
    const parsedOk = url !== undefined && url.host !== undefined;
    return {
      'db.postgresql.idle.timeout.millis': options.idleTimeoutMillis,
      'db.postgresql.max.client': options.maxClient,
      'db.system.name': 'postgresql',
      'db.namespace': parsedOk ? url!.namespace : options.database,
      'server.address': parsedOk ? url!.host : options.host,
      'server.port': (parsedOk ? url!.port : undefined) || integer(options.port),
    };
  }
}

