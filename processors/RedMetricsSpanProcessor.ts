import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace';
import { EndpointMatch, type EndpointNormalizer } from '../src/core/EndpointNormalizer';
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
import { HTTP_METHOD_LABELS, httpMethodIndex, requestKey } from '../src/core/RequestKey';
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

/** A span name's cells, by status code then tenant index; `name` is the label (`_OTHER` when folded). */
interface Row<T> {
  readonly name: string;
  readonly slots: T[][];
}

/** The HTTP request tuple of the server span being recorded; one object per processor, filled when a span needs series resolved. */
interface RequestTuple {
  /** `method` label: a method of HTTP_METHOD_LABELS, or `_OTHER`. */
  method: string;
  /** `endpoint` label, from the endpoint normaliser. */
  endpoint: string;
  /** Response status, 0 … 999; 0 (label `_OTHER`) when unknown. */
  status: number;
  /** `requestKey(endpoint index, method index, status)`: equal keys, equal tuples. */
  key: number;
}

/**
 * Series one (method, endpoint, status, tenant) tuple updates, resolved once and reused: each as the array
 * and offset its numbers live at (see `SeriesData`), so a span reads no series object. For the first status of
 * a (tenant, endpoint, method) the counter and the duration histogram share one array.
 */
interface RequestCell {
  /** `http_requests_total`: `requestsData[requestsOffset]`. */
  readonly requestsData: SeriesData;
  readonly requestsOffset: number;
  /** `http_request_duration_seconds`: the histogram in `durationData` from `durationOffset`. */
  readonly durationData: SeriesData;
  readonly durationOffset: number;
  /** `http_request_size_bytes` (no tenant or status label, so shared by many cells). */
  readonly size: HistogramSeries;
}

/*
 * Layout of a span tuple's array (a SeriesData), by offset. One array per span tuple: one cold object for
 * everything a span updates in the common case (bench/processor.bench.ts).
 *
 *   CALLS      traces.span.metrics.calls counter
 *   SPAN_HIST  traces.span.metrics.duration histogram (HISTOGRAM_HEADER slots, then one per bucket)
 *   ── SPAN_SLOTS: a client, internal, producer or consumer span tuple's array ends here ──
 *   REQ        http_requests_total of the request tuple (endpoint, method, status) this server span tuple claimed
 *   REQ_HIST   http_request_duration_seconds of that request tuple
 *   KEY        that request tuple's requestKey, or KEY_UNCLAIMED / KEY_NONE (see `_claim`)
 *   ── SERVER_SLOTS: a server span tuple's array ends here ──
 */
const CALLS = 0;
const SPAN_HIST = 1;
const SPAN_SLOTS = SPAN_HIST + histogramSlots(SPAN_BOUNDARIES);
const REQ = SPAN_SLOTS;
const REQ_HIST = REQ + 1;
const KEY = REQ_HIST + histogramSlots(REQUEST_BOUNDARIES);
const SERVER_SLOTS = KEY + 1;
/** Offsets of the histograms in each kind of array (their min/max start at ±Infinity). */
const SPAN_HISTOGRAMS = [SPAN_HIST];
const SERVER_HISTOGRAMS = [SPAN_HIST, REQ_HIST];
/** Layout of a request cell's own array (the first status of a (tenant, endpoint, method), see `_requestCell`). */
const CELL_REQUESTS = 0;
const CELL_DURATION = 1;
const CELL_SLOTS = CELL_DURATION + histogramSlots(REQUEST_BOUNDARIES);
/** KEY values that are not a request key (keys are ≥ 0): no request seen yet; the first one's series already existed. */
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
  /** What the endpoint normaliser resolved for the span being recorded. */
  private readonly _endpoint = new EndpointMatch();
  private readonly _request: RequestTuple = { method: VALUE_OTHER, endpoint: '', status: 0, key: 0 };

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
      if (d === undefined) d = slots[tenantIndex] = this._spanData(kind, row.name, code, tenant);
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
    if (d === undefined) d = slots[tenantIndex] = this._spanData(kind, row.name, code, tenant);
    d[CALLS]++;
    const b = recordHistogram(d, SPAN_HIST, SPAN_BOUNDARIES, ms);
    if (exemplar) this._exemplar(this._spanDuration, d, SPAN_HIST, b, ms, span);
    if (tenant === TENANT_OVERFLOW) this._tenantsFolded.value++;
    if (code === SpanStatusCode.ERROR || requestErrorTypeOf(span) !== undefined) this._error(span, tenant);
    const rawMethod = attrs[ATTR_HTTP_REQUEST_METHOD];
    if (typeof rawMethod !== 'string') return; // not an HTTP server span

    // Seed catalog RED family, HTTP server spans.
    const methodIndex = httpMethodIndex(rawMethod);
    const rawStatus = attrs[ATTR_HTTP_RESPONSE_STATUS_CODE];
    let status = typeof rawStatus === 'number' ? rawStatus : code === SpanStatusCode.ERROR ? 500 : 0;
    if (!Number.isInteger(status) || status < 0 || status > 999) status = 0;
    const match = this._endpoints.resolve(attrs[ATTR_HTTP_ROUTE], attrs[ATTR_URL_PATH], status, this._endpoint);
    if (match.folded) this._endpointsFolded.value++;
    const key = requestKey(match.index, methodIndex, status);
    const seconds = ms / 1000;
    const size = attrs[ATTR_HTTP_REQUEST_BODY_SIZE];
    const hasSize = typeof size === 'number' && size >= 0;
    if (d[KEY] === KEY_UNCLAIMED) {
      const claimedSize = this._claim(d, tenant, this._requestTuple(methodIndex, status, key));
      if (claimedSize !== undefined) this._extra(row.name, code, tenantIndex).size = claimedSize;
    }
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
      rc = this._requestCell(tenant, this._requestTuple(methodIndex, status, key));
      x.lastKey = key;
      x.lastRequest = rc;
    }
    rc.requestsData[rc.requestsOffset]++;
    const rb = recordHistogram(rc.durationData, rc.durationOffset, REQUEST_BOUNDARIES, seconds);
    if (exemplar) this._exemplar(this._duration, rc.durationData, rc.durationOffset, rb, seconds, span);
    if (hasSize) rc.size.record(size);
  }

  /** The request tuple of the span being recorded (its endpoint is in `_endpoint`), for the paths that create series. */
  private _requestTuple(methodIndex: number, status: number, key: number): RequestTuple {
    const r = this._request;
    r.method = HTTP_METHOD_LABELS[methodIndex];
    r.endpoint = this._endpoint.label;
    r.status = status;
    r.key = key;
    return r;
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

  /** A new span tuple's array (server spans: with room for a request tuple, unclaimed) with its spanmetrics series created in place. */
  private _spanData(kind: SpanKind, name: string, code: SpanStatusCode, tenant: string): SeriesData {
    const values = [this._service, name, KIND_NAMES[kind] ?? KIND_NAMES[0], STATUS_NAMES[code] ?? STATUS_NAMES[0], tenant];
    const server = kind === SpanKind.SERVER;
    const d = server ? newSeriesData(SERVER_SLOTS, SERVER_HISTOGRAMS) : newSeriesData(SPAN_SLOTS, SPAN_HISTOGRAMS);
    if (server) d[KEY] = KEY_UNCLAIMED;
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
    if (server) home[KEY] = folded || home !== d ? KEY_NONE : KEY_UNCLAIMED;
    return home;
  }

  /**
   * Puts the first request tuple a server span tuple sees into the tuple's own array `d` (at `REQ`/`REQ_HIST`,
   * its key at `KEY`) when that request tuple's series do not exist yet; else marks the array `KEY_NONE`, and
   * requests resolve through the maps. Returns the request tuple's size histogram when claimed.
   */
  private _claim(d: SeriesData, tenant: string, request: RequestTuple): HistogramSeries | undefined {
    const { method, endpoint } = request;
    const requestValues = [method, endpoint, this._statusLabel(request.status), tenant, this._service];
    const durationValues = [method, endpoint, tenant, this._service];
    if (this._requests.has(requestValues) || this._duration.has(durationValues)) {
      d[KEY] = KEY_NONE;
      return undefined;
    }
    const requests = this._requests.get(requestValues, d, REQ);
    const duration = this._duration.get(durationValues, d, REQ_HIST);
    // Folded by the series budget into series that live elsewhere, or shared with other tuples: use the maps.
    const own = requests.data === d && duration.data === d && requests.attributes.endpoint === endpoint && requests.attributes.tenant_id === tenant;
    d[KEY] = own ? request.key : KEY_NONE;
    return this._size.get([method, endpoint, this._service]);
  }

  private _requestCell(tenant: string, request: RequestTuple): RequestCell {
    const { method, endpoint, status } = request;
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
      const d = first ? newSeriesData(CELL_SLOTS, [CELL_DURATION]) : undefined;
      const requests = this._requests.get([method, endpoint, this._statusLabel(status), tenant, this._service], d, CELL_REQUESTS);
      const duration = this._duration.get([method, endpoint, tenant, this._service], d, CELL_DURATION);
      c = {
        requestsData: requests.data,
        requestsOffset: requests.offset,
        durationData: duration.data,
        durationOffset: duration.offset,
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
