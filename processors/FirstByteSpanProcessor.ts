import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace';
import type { EndpointNormalizer } from '../src/core/EndpointNormalizer';
import { describeError, warnOnce } from '../src/core/log';
import type { HistogramFamily, HistogramSeries } from '../src/core/metrics/MetricFamily';
import type { MetricStore } from '../src/core/metrics/MetricStore';
import {
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_RESPONSE_TIME_TO_FIRST_BYTE,
  ATTR_HTTP_ROUTE,
  ATTR_TENANT_ID,
  ATTR_URL_PATH,
  HTTP_METHODS,
  METRIC_HTTP_RESPONSE_FIRST_BYTE,
  VALUE_OTHER,
} from '../src/core/semconv';
import { tenantCellOf } from '../src/core/tenant/TenantCell';
import type { TenantRegistry } from '../src/core/tenant/TenantRegistry';

export interface FirstByteSpanProcessorOptions {
  store: MetricStore;
  tenants: TenantRegistry;
  /** The RED processor's normaliser: the same request gets the same `endpoint` in both families. */
  endpoints: EndpointNormalizer;
  /** `service` label value. */
  serviceName: string;
}

/**
 * `http_response_first_byte_seconds{method,endpoint,tenant_id,service}` from HTTP server spans that carry
 * `http.response.time_to_first_byte` (streamed responses: tenantscope's connections instrumentation sets it when a
 * response writes its first body byte before it ends). Labels are made as for `http_request_duration_seconds`, so
 * the two families join. Other spans cost one kind check and one attribute read.
 */
export class FirstByteSpanProcessor implements SpanProcessor {
  private readonly _family: HistogramFamily;
  private readonly _tenants: TenantRegistry;
  private readonly _endpoints: EndpointNormalizer;
  private readonly _service: string;
  /** tenant index → endpoint → method → series */
  private readonly _series: (Map<string, Map<string, HistogramSeries>> | undefined)[] = [];

  constructor(options: FirstByteSpanProcessorOptions) {
    this._family = options.store.histogram(METRIC_HTTP_RESPONSE_FIRST_BYTE);
    this._tenants = options.tenants;
    this._endpoints = options.endpoints;
    this._service = options.serviceName;
  }

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    if (span.kind !== SpanKind.SERVER) return;
    const attrs = span.attributes;
    const seconds = attrs[ATTR_HTTP_RESPONSE_TIME_TO_FIRST_BYTE];
    if (typeof seconds !== 'number') return;
    try {
      const rawMethod = attrs[ATTR_HTTP_REQUEST_METHOD];
      if (typeof rawMethod !== 'string') return;
      const method = HTTP_METHODS.has(rawMethod) ? rawMethod : VALUE_OTHER;
      const rawStatus = attrs[ATTR_HTTP_RESPONSE_STATUS_CODE];
      const status = typeof rawStatus === 'number' ? rawStatus : span.status.code === SpanStatusCode.ERROR ? 500 : 0;
      const endpoint = this._endpoints.endpoint(attrs[ATTR_HTTP_ROUTE], attrs[ATTR_URL_PATH], status);
      const cell = tenantCellOf(span);
      const tenantIndex = cell !== undefined ? this._tenants.indexOf(cell) : this._tenants.indexOfAttribute(attrs[ATTR_TENANT_ID]);
      let byEndpoint = this._series[tenantIndex];
      if (byEndpoint === undefined) byEndpoint = this._series[tenantIndex] = new Map();
      let byMethod = byEndpoint.get(endpoint);
      if (byMethod === undefined) byEndpoint.set(endpoint, (byMethod = new Map()));
      let s = byMethod.get(method);
      if (s === undefined) {
        s = this._family.get([method, endpoint, this._tenants.labelAt(tenantIndex), this._service]);
        byMethod.set(method, s);
      }
      s.record(seconds);
    } catch (err) {
      warnOnce('first-byte-onEnd', `first-byte metrics skipped a span: ${describeError(err)}`);
    }
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
