import { context, SpanKind, type Span } from '@opentelemetry/api';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import type { AmqplibInstrumentationConfig } from '@opentelemetry/instrumentation-amqplib';
import type { CacheTypes } from '../src/core/cache/CacheTypes';
import { linkRequestSpan, requestSizeAttributes } from '../src/core/RequestSpan';
import { ATTR_MESSAGE_TYPE, ATTR_QUEUE_NAME, LOG_FIELD_TENANT_ID } from '../src/core/semconv';
import { getTenantCell } from '../src/core/tenant/TenantCell';
import type { OwnServers } from '../src/core/OwnServers';
import { redisCacheResponseHook } from './redisCacheHook';

export { requestSizeAttributes };

/**
 * The `logHook` of the pino and winston instrumentations: upstream calls it for each record written while a valid
 * span is active, after adding `trace_id`, `span_id` and `trace_flags`. It adds `tenant_id`, the request's tenant
 * as its spans carry it (validated, hashed when configured, the `setTenant` value once the app set it). A
 * `tenant_id` the app wrote itself is left as written (winston hands its own record here; pino merges the app's
 * fields over these). Upstream runs the hook through `safeExecuteInTheMiddle`, so it cannot break a log call.
 */
export function tenantLogHook(_span: Span, record: Record<string, unknown>): void {
  const cell = getTenantCell(context.active());
  if (cell !== undefined && record[LOG_FIELD_TENANT_ID] === undefined) record[LOG_FIELD_TENANT_ID] = cell.id;
}

/**
 * Links an incoming request to its server span, so the connections instrumentation can stamp the time of the
 * response's first body byte on it (one property set per request).
 */
export function linkServerSpan(span: Span, request: unknown): void {
  if ((span as { kind?: SpanKind }).kind === SpanKind.SERVER && typeof request === 'object' && request !== null) linkRequestSpan(request, span);
}

/** Suffix upstream amqplib gives consume spans: `<queue> process`. */
const CONSUME_SUFFIX = ' process';

/**
 * Names the queue and message type on upstream amqplib's consume spans (`tenantscope.queue.name` from the span name,
 * which is the queue the app consumes; `tenantscope.message.type` from the AMQP `type` property), for
 * `queue_processing_duration_seconds`. Run by upstream through its hook guard.
 */
export const amqpConsumeHook: NonNullable<AmqplibInstrumentationConfig['consumeHook']> = (span, info) => {
  const name = (span as { name?: unknown }).name;
  if (typeof name === 'string' && name.endsWith(CONSUME_SUFFIX)) span.setAttribute(ATTR_QUEUE_NAME, name.slice(0, -CONSUME_SUFFIX.length));
  const type: unknown = info.msg?.properties?.type;
  if (typeof type === 'string' && type !== '') span.setAttribute(ATTR_MESSAGE_TYPE, type);
};

/**
 * The upstream instrumentations tenantscope enables, each loaded only when enabled and (src/sdk.ts) only when the
 * library it patches is first required (loading all of them costs start-up time: opentelemetry-js#3029). Names
 * as in OTEL_NODE_ENABLED_INSTRUMENTATIONS.
 */
const FACTORIES: Record<string, (o: UpstreamInstrumentationsOptions) => Instrumentation> = {
  http: (o) => {
    const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http') as typeof import('@opentelemetry/instrumentation-http');
    const own = o.ownServers;
    return new HttpInstrumentation({
      startIncomingSpanHook: requestSizeAttributes,
      requestHook: linkServerSpan,
      ignoreIncomingRequestHook: own === undefined ? undefined : (req) => own.isOwnRequest(req),
      // Server spans from our diagnostics-channel instrumentation instead (TENANTSCOPE_HTTP_SERVER=channel).
      disableIncomingRequestInstrumentation: o.httpServerChannel === true,
    });
  },
  undici: () => {
    const { UndiciInstrumentation } = require('@opentelemetry/instrumentation-undici') as typeof import('@opentelemetry/instrumentation-undici');
    return new UndiciInstrumentation();
  },
  express: () => {
    const { ExpressInstrumentation } = require('@opentelemetry/instrumentation-express') as typeof import('@opentelemetry/instrumentation-express');
    return new ExpressInstrumentation();
  },
  pg: (o) => {
    if (o.pg === 'upstream') {
      const { PgInstrumentation } = require('@opentelemetry/instrumentation-pg') as typeof import('@opentelemetry/instrumentation-pg');
      return new PgInstrumentation();
    }
    const { LeanPgInstrumentation } = require('./pg/instrumentation') as typeof import('./pg/instrumentation');
    return new LeanPgInstrumentation({ recordDuration: o.upstreamMetrics === true });
  },
  ioredis: (o) => {
    const { IORedisInstrumentation } = require('@opentelemetry/instrumentation-ioredis') as typeof import('@opentelemetry/instrumentation-ioredis');
    // The default statement serializer keeps keys and masks values; reads get cache attributes.
    return new IORedisInstrumentation(o.cacheTypes === undefined ? {} : { responseHook: redisCacheResponseHook(o.cacheTypes) });
  },
  mongodb: () => {
    const { MongoDBInstrumentation } = require('@opentelemetry/instrumentation-mongodb') as typeof import('@opentelemetry/instrumentation-mongodb');
    return new MongoDBInstrumentation();
  },
  // Log lines: trace and tenant fields always; records sent to the logs SDK only when a logs exporter is on
  // (pino's sending parses every line again).
  pino: (o) => {
    const { PinoInstrumentation } = require('@opentelemetry/instrumentation-pino') as typeof import('@opentelemetry/instrumentation-pino');
    return new PinoInstrumentation({ logHook: tenantLogHook, disableLogSending: !o.logSending });
  },
  winston: (o) => {
    const { WinstonInstrumentation } = require('@opentelemetry/instrumentation-winston') as typeof import('@opentelemetry/instrumentation-winston');
    return new WinstonInstrumentation({ logHook: tenantLogHook, disableLogSending: !o.logSending });
  },
  amqplib: () => {
    const { AmqplibInstrumentation } = require('@opentelemetry/instrumentation-amqplib') as typeof import('@opentelemetry/instrumentation-amqplib');
    return new AmqplibInstrumentation({ consumeHook: amqpConsumeHook });
  },
};

/**
 * The modules whose first `require`/`import` by the app loads each instrumentation (src/core/FirstRequireTrigger.ts).
 * An empty list loads it at start: undici's spans come from diagnostics channels that Node's global `fetch`
 * publishes with no module required.
 */
const LOAD_ON: Record<string, readonly string[]> = {
  http: ['http', 'https'],
  undici: [],
  express: ['express'],
  pg: ['pg'],
  ioredis: ['ioredis'],
  mongodb: ['mongodb'],
  pino: ['pino'],
  winston: ['winston'],
  amqplib: ['amqplib'],
};

/** An enabled upstream instrumentation, not built yet. */
export interface UpstreamInstrumentationFactory {
  readonly name: string;
  /** Modules whose first require or import should build it; empty: build it at start. */
  readonly loadOn: readonly string[];
  create(): Instrumentation;
}

export interface UpstreamInstrumentationsOptions {
  /** Names to enable (OTEL_NODE_ENABLED_INSTRUMENTATIONS); undefined enables all. */
  enabled: readonly string[] | undefined;
  /** Names to leave off (OTEL_NODE_DISABLED_INSTRUMENTATIONS). */
  disabled: readonly string[];
  /**
   * True when instrumentations/httpserver/ makes the server spans (TENANTSCOPE_HTTP_SERVER=channel): upstream's
   * http instrumentation then patches only the client side.
   */
  httpServerChannel?: boolean;
  /** Our own servers, whose requests the HTTP instrumentation ignores. */
  ownServers?: OwnServers;
  /** True when a logs exporter is on: pino and winston records go to the logs SDK as well as to their outputs. */
  logSending?: boolean;
  /** Names cache types from Redis keys; without it Redis reads get no cache attributes. */
  cacheTypes?: CacheTypes;
  /** TENANTSCOPE_PG: `lean` (default) or `upstream`'s patches of `pg`'s per-request calls. */
  pg?: 'lean' | 'upstream';
  /** TENANTSCOPE_UPSTREAM_METRICS: the instrumentations record their own histograms (then pg runs upstream's patches). */
  upstreamMetrics?: boolean;
}

/** The enabled upstream instrumentations, each with the modules that should load it. Loads none of them. */
export function upstreamInstrumentationFactories(options: UpstreamInstrumentationsOptions): UpstreamInstrumentationFactory[] {
  const enabled = options.enabled ?? Object.keys(FACTORIES);
  const out: UpstreamInstrumentationFactory[] = [];
  for (const name of enabled) {
    if (options.disabled.includes(name)) continue;
    const make = FACTORIES[name];
    if (make !== undefined) out.push({ name, loadOn: LOAD_ON[name] ?? [], create: () => make(options) });
  }
  return out;
}

/** Builds the enabled upstream instrumentations now (tests, and anything that wants them all at once). */
export function createUpstreamInstrumentations(options: UpstreamInstrumentationsOptions): Instrumentation[] {
  return upstreamInstrumentationFactories(options).map((f) => f.create());
}
