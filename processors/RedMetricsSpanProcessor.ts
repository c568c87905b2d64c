import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace';
import type { EndpointNormalizer } from '../src/core/EndpointNormalizer';
import { requestErrorTypeOf } from '../src/core/ErrorType';
import { isExported } from '../src/core/ExportMark';
import { warnOnce, describeError } from '../src/core/log';
import {
  histogramSlots,
  newSeriesData,
  recordHistogram,
  type CounterFamily,
  type CounterSeries,
  type HistogramFamily,
  type HistogramSeries,
  type SeriesData,
} from '../src/core/metrics/MetricFamily';
import type { MetricStore } from '../src/core/metrics/MetricStore';
import {
  ATTR_ERROR_TYPE,
  ATTR_EXCEPTION_TYPE,
  ATTR_HTTP_REQUEST_BODY_SIZE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_TENANT_ID,
  ATTR_URL_PATH,
  EVENT_EXCEPTION,
  METRIC_ENDPOINTS_FOLDED,
  METRIC_ERRORS,
  METRIC_HTTP_REQUEST_DURATION,
  METRIC_HTTP_REQUEST_SIZE,
  METRIC_HTTP_REQUESTS,
  METRIC_LABELS_FOLDED,
  METRIC_SPAN_CALLS,
  METRIC_SPAN_DURATION,
  METRIC_TENANTS_FOLDED,
  TENANT_OVERFLOW,
  VALUE_OTHER,
} from '../src/core/semconv';
import { tenantCellOf } from '../src/core/tenant/TenantCell';
import type { TenantRegistry } from '../src/core/tenant/TenantRegistry';

export interface RedMetricsSpanProcessorOptions {
  store: MetricStore;
  tenants: TenantRegistry;
  endpoints: EndpointNormalizer;
  /** `service` / `service.name` label value. */
  serviceName: string;
  /** Distinct span names per process before they fold into `_OTHER`. */
  maxSpanNames: number;
  /** Distinct error types per process before they fold into `_OTHER`. */
  maxErrorTypes: number;
  /**
   * Keep the trace id of exported spans as exemplars of the two duration histograms (true when traces are exported
   * at all: a trace that is not exported must never become an exemplar). Default false.
   */
  exemplars?: boolean;
}

const SPAN_BOUNDARIES = METRIC_SPAN_DURATION.boundaries ?? [];
const REQUEST_BOUNDARIES = METRIC_HTTP_REQUEST_DURATION.boundaries ?? [];
const KIND_NAMES = ['SPAN_KIND_INTERNAL', 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT', 'SPAN_KIND_PRODUCER', 'SPAN_KIND_CONSUMER'];
const STATUS_NAMES = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);
/** Small numbers for methods, for request tuple keys (`_OTHER` is 0). */
const METHOD_INDEX = new Map([...METHODS].map((m, i) => [m, i + 1]));

/** A span name's cells, by status code then tenant index; `name` is the label (`_OTHER` when folded). */
interface Row<T> {
  readonly name: string;
  readonly slots: T[][];
}

/** Series one (method, endpoint, status, tenant) tuple updates, resolved once and reused. */
interface RequestCell {
  /** Request counter at `ro` and duration histogram at `dd`/`do`; for the first status of a (tenant, endpoint, method) they share one array. */
  readonly rd: SeriesData;
  readonly ro: number;
  readonly dd: SeriesData;
  readonly do: number;
  readonly size: HistogramSeries;
}
/**
 * Layout of a span tuple's array: the spanmetrics call counter, then its duration histogram; a server span
 * tuple's array goes on with the request counter and request-duration histogram of the first HTTP request
 * tuple (endpoint, method, status) it sees. One array per span: one cold object for everything a span updates
 * in the common case (bench/processor.bench.ts).
 */
const CALLS = 0;
const SPAN_HIST = 1;
const SPAN_SLOTS = SPAN_HIST + histogramSlots(SPAN_BOUNDARIES);
const REQ = SPAN_SLOTS;
const REQ_HIST = REQ + 1;
const SERVER_SLOTS = REQ_HIST + histogramSlots(REQUEST_BOUNDARIES);
/** Slot of a server span tuple's array holding the key of the request tuple stored in it (see `_claim`). */
const KEY = SERVER_SLOTS;
/** Key values that are not a request tuple key. */
const KEY_UNCLAIMED = -1;
const KEY_NONE = -2;

/** What a server span tuple needs besides its array, touched only for request bodies and other request tuples. */
interface ServerExtra {
  /** The size histogram of the request tuple stored in the array. */
  size: HistogramSeries | undefined;
  /** The request tuple resolved last through the maps, when it is not the one in the array. */
  lastKey: number;
  lastRequest: RequestCell | undefined;
}

/**
 * Derives RED metrics from ended spans, pre-aggregated in a {@link MetricStore}: the seed catalog for HTTP
 * server spans (`http_requests_total`, `http_request_duration_seconds`, `http_request_size_bytes`,
 * `errors_total`) and the Collector spanmetrics families for every span kind (Jaeger's Monitor tab).
 * Per span it does a few Map look-ups and increments; label objects are built once per tuple
 * (see bench/processor.bench.ts).
 */
export class RedMetricsSpanProcessor implements SpanProcessor {
  private readonly _tenants: TenantRegistry;
  private readonly _endpoints: EndpointNormalizer;
  private readonly _service: string;
  private readonly _maxSpanNames: number;
  private readonly _maxErrorTypes: number;
  private readonly _exemplars: boolean;
  private readonly _requests: CounterFamily;
  private readonly _duration: HistogramFamily;
  private readonly _size: HistogramFamily;
  private readonly _errors: CounterFamily;
  private readonly _calls: CounterFamily;
  private readonly _spanDuration: HistogramFamily;
  private readonly _tenantsFolded: CounterSeries;
  private readonly _endpointsFolded: CounterSeries;
  private readonly _spanNamesFolded: CounterSeries;
  private readonly _errorTypesFolded: CounterSeries;
  /** tenant → endpoint → method → status → cell */
  private readonly _red = new Map<string, Map<string, Map<string, Map<number, RequestCell>>>>();
  /** kind → span name → status code → tenant index (see TenantRegistry.index) → the tuple's array; server spans in `_server` */
  private readonly _spans: Map<string, Row<SeriesData>>[] = [];
  /** server span name → status code → tenant index → the tuple's array (with a request tuple, see KEY) */
  private readonly _server = new Map<string, Row<SeriesData>>();
  /** server span name → status code → tenant index → extra (parallel to `_server`) */
  private readonly _serverExtra = new Map<string, ServerExtra[][]>();
  private _spanNameCount = 0;
  /** tenant → error type → series */
  private readonly _errorSeries = new Map<string, Map<string, CounterSeries>>();
  private readonly _errorTypes = new Set<string>();
  private readonly _statusText = new Map<number, string>();

  constructor(options: RedMetricsSpanProcessorOptions) {
    const { store } = options;
    this._tenants = options.tenants;
    this._endpoints = options.endpoints;
    this._service = options.serviceName;
    this._maxSpanNames = options.maxSpanNames;
    this._maxErrorTypes = options.maxErrorTypes;
    this._exemplars = options.exemplars === true;
    this._requests = store.counter(METRIC_HTTP_REQUESTS);
    this._errors = store.counter(METRIC_ERRORS);
    this._calls = store.counter(METRIC_SPAN_CALLS);
    this._duration = store.histogram(METRIC_HTTP_REQUEST_DURATION);
    this._size = store.histogram(METRIC_HTTP_REQUEST_SIZE);
    this._spanDuration = store.histogram(METRIC_SPAN_DURATION);
    // One array holds a span tuple's calls and duration series: under the series budget they must fold alike.
    this._calls.shareBudget(this._spanDuration);
    this._tenantsFolded = store.counter(METRIC_TENANTS_FOLDED).get([]);
    this._endpointsFolded = store.counter(METRIC_ENDPOINTS_FOLDED).get([]);
    const labelsFolded = store.counter(METRIC_LABELS_FOLDED);
    this._spanNamesFolded = labelsFolded.get(['span_name']);
    this._errorTypesFolded = labelsFolded.get(['error_type']);
    for (let k = 0; k < KIND_NAMES.length; k++) this._spans.push(new Map());
  }

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    try {
      this._record(span);
    } catch (err) {
      warnOnce('red-onEnd', `RED metrics skipped a span: ${describeError(err)}`);
    }
  }

  private _record(span: ReadableSpan): void {
    const attrs = span.attributes;
    const cell = tenantCellOf(span);
    const tenantIndex = cell !== undefined ? this._tenants.indexOf(cell) : this._tenants.indexOfAttribute(attrs[ATTR_TENANT_ID]);
    const tenant = this._tenants.labelAt(tenantIndex);
    const dur = span.duration;
    const ms = dur[0] * 1e3 + dur[1] / 1e6;
    const kind = span.kind;
    const code = span.status.code;
    const exemplar = this._exemplars && isExported(span);

    if (kind !== SpanKind.SERVER) {
      // Collector spanmetrics family.
      const row = this._row(this._spans[kind] ?? this._spans[SpanKind.INTERNAL], span.name);
      const slots = row.slots[code] ?? row.slots[0];
      let d = slots[tenantIndex];
      if (d === undefined) d = slots[tenantIndex] = this._spanData(kind, row.name, code, tenant, SPAN_SLOTS);
      d[CALLS]++;
      const b = recordHistogram(d, SPAN_HIST, SPAN_BOUNDARIES, ms);
      if (exemplar) this._exemplar(this._spanDuration, d, SPAN_HIST, b, ms, span);
      if (kind !== SpanKind.CONSUMER) return;
      if (tenant === TENANT_OVERFLOW) this._tenantsFolded.value++;
      if (code === SpanStatusCode.ERROR || requestErrorTypeOf(span) !== undefined) this._error(span, tenant);
      return;
    }

    const row = this._row(this._server, span.name);
    const slots = row.slots[code] ?? row.slots[0];
    let d = slots[tenantIndex];
    if (d === undefined) d = slots[tenantIndex] = this._spanData(kind, row.name, code, tenant, SERVER_SLOTS + 1);
    d[CALLS]++;
    const b = recordHistogram(d, SPAN_HIST, SPAN_BOUNDARIES, ms);
    if (exemplar) this._exemplar(this._spanDuration, d, SPAN_HIST, b, ms, span);
    if (tenant === TENANT_OVERFLOW) this._tenantsFolded.value++;
    if (code === SpanStatusCode.ERROR || requestErrorTypeOf(span) !== undefined) this._error(span, tenant);
    const rawMethod = attrs[ATTR_HTTP_REQUEST_METHOD];
    if (typeof rawMethod !== 'string') return; // not an HTTP server span

    // Seed catalog RED family, HTTP server spans.
    const methodIndex = METHOD_INDEX.get(rawMethod);
    const method = methodIndex === undefined ? VALUE_OTHER : rawMethod;
    const rawStatus = attrs[ATTR_HTTP_RESPONSE_STATUS_CODE];
    let status = typeof rawStatus === 'number' ? rawStatus : code === SpanStatusCode.ERROR ? 500 : 0;
    if (!Number.isInteger(status) || status < 0 || status > 999) status = 0;
    const folded = this._endpoints.folded;
    const endpoint = this._endpoints.endpoint(attrs[ATTR_HTTP_ROUTE], attrs[ATTR_URL_PATH], status);
    if (this._endpoints.folded !== folded) this._endpointsFolded.value++;
    const key = (this._endpoints.lastIndex * 16 + (methodIndex ?? 0)) * 1024 + status;
    const seconds = ms / 1000;
    const size = attrs[ATTR_HTTP_REQUEST_BODY_SIZE];
    const hasSize = typeof size === 'number' && size >= 0;
    if (d[KEY] === KEY_UNCLAIMED) this._claim(d, row.name, code, tenantIndex, tenant, endpoint, method, status, key);
    if (d[KEY] === key) {
      d[REQ]++;
      const rb = recordHistogram(d, REQ_HIST, REQUEST_BOUNDARIES, seconds);
      if (exemplar) this._exemplar(this._duration, d, REQ_HIST, rb, seconds, span);
      if (hasSize) (this._extra(row.name, code, tenantIndex).size as HistogramSeries).record(size);
      return;
    }
    const x = this._extra(row.name, code, tenantIndex);
    let rc = x.lastRequest;
    if (rc === undefined || x.lastKey !== key) {
      rc = this._requestCell(tenant, endpoint, method, status);
      x.lastKey = key;
      x.lastRequest = rc;
    }
    rc.rd[rc.ro]++;
    const rb = recordHistogram(rc.dd, rc.do, REQUEST_BOUNDARIES, seconds);
    if (exemplar) this._exemplar(this._duration, rc.dd, rc.do, rb, seconds, span);
    if (hasSize) rc.size.record(size);
  }

  /** Makes an exported span the exemplar of the bucket it fell in (its end time; the context's own id strings). */
  private _exemplar(f: HistogramFamily, d: SeriesData, off: number, bucket: number, value: number, span: ReadableSpan): void {
    const sc = span.spanContext();
    const end = span.endTime;
    f.exemplar(d, off, bucket, value, sc.traceId, sc.spanId, end[0] * 1e3 + end[1] / 1e6);
  }

  /** The extra record of a server span tuple, created on first use. */
  private _extra(name: string, code: SpanStatusCode, tenantIndex: number): ServerExtra {
    let rows = this._serverExtra.get(name);
    if (rows === undefined) this._serverExtra.set(name, (rows = [[], [], []]));
    const slots = rows[code] ?? rows[0];
    let x = slots[tenantIndex];
    if (x === undefined) x = slots[tenantIndex] = { size: undefined, lastKey: -1, lastRequest: undefined };
    return x;
  }

  /** The per-name row of a kind's table, folding names past the limit into `_OTHER` (counted). */
  private _row<T>(byName: Map<string, Row<T>>, name: string): Row<T> {
    let row = byName.get(name);
    if (row === undefined) {
      if (this._spanNameCount >= this._maxSpanNames) {
        this._spanNamesFolded.value++;
        name = VALUE_OTHER;
        row = byName.get(name);
      }
      if (row === undefined) {
        row = { name, slots: [[], [], []] };
        byName.set(name, row);
        if (name !== VALUE_OTHER) this._spanNameCount++;
      }
    }
    return row;
  }

  /** A new span tuple's array with its spanmetrics series created in place. */
  private _spanData(kind: SpanKind, name: string, code: SpanStatusCode, tenant: string, slots: number): SeriesData {
    const values = [this._service, name, KIND_NAMES[kind] ?? KIND_NAMES[0], STATUS_NAMES[code] ?? STATUS_NAMES[0], tenant];
    const histograms = slots === SERVER_SLOTS ? [SPAN_HIST, REQ_HIST] : [SPAN_HIST];
    const d = newSeriesData(slots, histograms);
    const calls = this._calls.get(values, d, CALLS);
    const duration = this._spanDuration.get(values, d, SPAN_HIST);
    // The series budget folded this tuple (TENANTSCOPE_MAX_SERIES): its counts go to the folded series' array, which
    // other tuples share, so a server tuple must not claim a request tuple in it (the claim is per tenant).
    const folded = calls.attributes[ATTR_TENANT_ID] !== tenant;
    if (calls.data !== duration.data || calls.offset !== CALLS || duration.offset !== SPAN_HIST) {
      warnOnce('red-shared-store', 'a MetricStore is shared by two RED processors; span metrics may be incomplete');
      return d;
    }
    const home = calls.data;
    if (slots > SERVER_SLOTS) home[KEY] = folded || home !== d ? KEY_NONE : KEY_UNCLAIMED;
    return home;
  }

  /**
   * Puts the first request tuple a server span tuple sees into the tuple's own array, when that request tuple's
   * series do not exist yet (else it resolves requests through the maps).
   */
  private _claim(
    d: SeriesData,
    name: string,
    code: SpanStatusCode,
    tenantIndex: number,
    tenant: string,
    endpoint: string,
    method: string,
    status: number,
    key: number
  ): void {
    const requestValues = [method, endpoint, this._statusLabel(status), tenant, this._service];
    const durationValues = [method, endpoint, tenant, this._service];
    if (this._requests.has(requestValues) || this._duration.has(durationValues)) {
      d[KEY] = KEY_NONE;
      return;
    }
    const requests = this._requests.get(requestValues, d, REQ);
    const duration = this._duration.get(durationValues, d, REQ_HIST);
    this._extra(name, code, tenantIndex).size = this._size.get([method, endpoint, this._service]);
    // Folded by the series budget into series that live elsewhere, or shared with other tuples: use the maps.
    const own = requests.data === d && duration.data === d && requests.attributes.endpoint === endpoint && requests.attributes.tenant_id === tenant;
    d[KEY] = own ? key : KEY_NONE;
  }

  private _requestCell(tenant: string, endpoint: string, method: string, status: number): RequestCell {
    let byEndpoint = this._red.get(tenant);
    if (byEndpoint === undefined) this._red.set(tenant, (byEndpoint = new Map()));
    let byMethod = byEndpoint.get(endpoint);
    if (byMethod === undefined) byEndpoint.set(endpoint, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (byStatus === undefined) byMethod.set(method, (byStatus = new Map()));
    let c = byStatus.get(status);
    if (c === undefined) {
      // The first status seen for this (tenant, endpoint, method) shares one array with the duration histogram
      // (which has no status label); later statuses get their own counter.
      const first = byStatus.size === 0;
      const d = first ? newSeriesData(1 + histogramSlots(REQUEST_BOUNDARIES), [1]) : undefined;
      const requests = this._requests.get([method, endpoint, this._statusLabel(status), tenant, this._service], d, 0);
      const duration = this._duration.get([method, endpoint, tenant, this._service], d, 1);
      c = {
        rd: requests.data,
        ro: requests.offset,
        dd: duration.data,
        do: duration.offset,
        size: this._size.get([method, endpoint, this._service]),
      };
      byStatus.set(status, c);
    }
    return c;
  }

  private _statusLabel(status: number): string {
    let s = this._statusText.get(status);
    if (s === undefined) this._statusText.set(status, (s = status === 0 ? VALUE_OTHER : String(status)));
    return s;
  }

  /**
   * errors_total: the exception that escaped into the framework in this request's local trace (its class name,
   * see LocalTraceSpanProcessor), else the span's `error.type` (the status code of a 5xx), else its own exception
   * event's type, else `_OTHER`.
   */
  private _error(span: ReadableSpan, tenant: string): void {
    let type = requestErrorTypeOf(span) ?? span.attributes[ATTR_ERROR_TYPE];
    if (typeof type !== 'string' || type === '') {
      type = VALUE_OTHER;
      for (const e of span.events) {
        const t = e.name === EVENT_EXCEPTION ? e.attributes?.[ATTR_EXCEPTION_TYPE] : undefined;
        if (typeof t === 'string' && t !== '') {
          type = t;
          break;
        }
      }
    }
    let byType = this._errorSeries.get(tenant);
    if (byType === undefined) this._errorSeries.set(tenant, (byType = new Map()));
    let s = byType.get(type as string);
    if (s === undefined) {
      let label = type as string;
      if (!this._errorTypes.has(label)) {
        if (this._errorTypes.size >= this._maxErrorTypes || label.length > 128) {
          this._errorTypesFolded.value++;
          label = VALUE_OTHER;
        } else {
          this._errorTypes.add(label);
        }
      }
      s = byType.get(label);
      if (s === undefined) {
        s = this._errors.get([label, this._service, tenant]);
        byType.set(label, s);
      }
      if (label === type) byType.set(type, s);
    }
    s.value++;
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
