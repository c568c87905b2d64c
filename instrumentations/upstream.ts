import type { Instrumentation } from '@opentelemetry/instrumentation';
import type { IncomingMessage } from 'node:http';
import type { TenantScopeConfig } from '../src/config';
import { ATTR_HTTP_REQUEST_BODY_SIZE } from '../src/semconv';
import { isOwnServerRequest } from '../src/ownServers';

/**
 * Request size for `http_request_size_bytes`, from the `content-length` header only: the body is never read or
 * listened to (a `data` listener would change the app's stream).
 */
export function requestSizeAttributes(request: IncomingMessage): Record<string, number> {
  const raw = request.headers['content-length'];
  if (raw === undefined) return {};
  const n = Number(raw);
  return Number.isSafeInteger(n) && n >= 0 ? { [ATTR_HTTP_REQUEST_BODY_SIZE]: n } : {};
}

/**
 * The upstream instrumentations tenantscope enables, each loaded only when enabled (loading all of them
 * costs start-up time: opentelemetry-js#3029). Names as in OTEL_NODE_ENABLED_INSTRUMENTATIONS.
 */
const FACTORIES: Record<string, () => Instrumentation> = {
  http: () => {
    const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http') as typeof import('@opentelemetry/instrumentation-http');
    return new HttpInstrumentation({ startIncomingSpanHook: requestSizeAttributes, ignoreIncomingRequestHook: isOwnServerRequest });
  },
  undici: () => {
    const { UndiciInstrumentation } = require('@opentelemetry/instrumentation-undici') as typeof import('@opentelemetry/instrumentation-undici');
    return new UndiciInstrumentation();
  },
  express: () => {
    const { ExpressInstrumentation } = require('@opentelemetry/instrumentation-express') as typeof import('@opentelemetry/instrumentation-express');
    return new ExpressInstrumentation();
  },
  pg: () => {
    const { PgInstrumentation } = require('@opentelemetry/instrumentation-pg') as typeof import('@opentelemetry/instrumentation-pg');
    return new PgInstrumentation();
  },
  ioredis: () => {
    const { IORedisInstrumentation } = require('@opentelemetry/instrumentation-ioredis') as typeof import('@opentelemetry/instrumentation-ioredis');
    return new IORedisInstrumentation();
  },
  mongodb: () => {
    const { MongoDBInstrumentation } = require('@opentelemetry/instrumentation-mongodb') as typeof import('@opentelemetry/instrumentation-mongodb');
    return new MongoDBInstrumentation();
  },
};

/** Builds the enabled upstream instrumentations from the config. */
export function createUpstreamInstrumentations(config: TenantScopeConfig): Instrumentation[] {
  const enabled = config.enabledInstrumentations ?? Object.keys(FACTORIES);
  const out: Instrumentation[] = [];
  for (const name of enabled) {
    if (config.disabledInstrumentations.includes(name)) continue;
    const make = FACTORIES[name];
    if (make !== undefined) out.push(make());
  }
  return out;
}
