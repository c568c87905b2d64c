/**
 * A loopback OTLP/HTTP receiver for out-of-process tests: accepts `POST /v1/traces`, `POST /v1/metrics` and
 * `POST /v1/logs` as `application/x-protobuf` or `application/json`, and decodes them into plain objects. Protobuf
 * is decoded by protobufjs with the OTLP message definitions below (a subset of opentelemetry-proto v1: every
 * field the JS exporters write for traces, metrics and logs, plus histogram exemplars, field numbers as in the
 * upstream .proto files).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import * as protobuf from 'protobufjs';

const OTLP_PROTO = `
syntax = "proto3";
package otlp;

message AnyValue {
  oneof value {
    string string_value = 1;
    bool bool_value = 2;
    int64 int_value = 3;
    double double_value = 4;
    ArrayValue array_value = 5;
    KeyValueList kvlist_value = 6;
    bytes bytes_value = 7;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message InstrumentationScope {
  string name = 1;
  string version = 2;
  repeated KeyValue attributes = 3;
  uint32 dropped_attributes_count = 4;
}
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }

message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; string schema_url = 3; }
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; string schema_url = 3; }
message Span {
  bytes trace_id = 1;
  bytes span_id = 2;
  string trace_state = 3;
  bytes parent_span_id = 4;
  fixed32 flags = 16;
  string name = 5;
  int32 kind = 6;
  fixed64 start_time_unix_nano = 7;
  fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9;
  uint32 dropped_attributes_count = 10;
  message Event {
    fixed64 time_unix_nano = 1;
    string name = 2;
    repeated KeyValue attributes = 3;
    uint32 dropped_attributes_count = 4;
  }
  repeated Event events = 11;
  uint32 dropped_events_count = 12;
  message Link {
    bytes trace_id = 1;
    bytes span_id = 2;
    string trace_state = 3;
    repeated KeyValue attributes = 4;
    uint32 dropped_attributes_count = 5;
    fixed32 flags = 6;
  }
  repeated Link links = 13;
  uint32 dropped_links_count = 14;
  Status status = 15;
}
message Status { string message = 2; int32 code = 3; }

message ExportLogsServiceRequest { repeated ResourceLogs resource_logs = 1; }
message ResourceLogs { Resource resource = 1; repeated ScopeLogs scope_logs = 2; string schema_url = 3; }
message ScopeLogs { InstrumentationScope scope = 1; repeated LogRecord log_records = 2; string schema_url = 3; }
message LogRecord {
  fixed64 time_unix_nano = 1;
  fixed64 observed_time_unix_nano = 11;
  int32 severity_number = 2;
  string severity_text = 3;
  AnyValue body = 5;
  repeated KeyValue attributes = 6;
  uint32 dropped_attributes_count = 7;
  fixed32 flags = 8;
  bytes trace_id = 9;
  bytes span_id = 10;
  string event_name = 12;
}

message ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
message ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; string schema_url = 3; }
message ScopeMetrics { InstrumentationScope scope = 1; repeated Metric metrics = 2; string schema_url = 3; }
message Metric {
  string name = 1;
  string description = 2;
  string unit = 3;
  oneof data {
    Gauge gauge = 5;
    Sum sum = 7;
    Histogram histogram = 9;
  }
}
message Gauge { repeated NumberDataPoint data_points = 1; }
message Sum { repeated NumberDataPoint data_points = 1; int32 aggregation_temporality = 2; bool is_monotonic = 3; }
message Histogram { repeated HistogramDataPoint data_points = 1; int32 aggregation_temporality = 2; }
message NumberDataPoint {
  repeated KeyValue attributes = 7;
  fixed64 start_time_unix_nano = 2;
  fixed64 time_unix_nano = 3;
  oneof value {
    double as_double = 4;
    sfixed64 as_int = 6;
  }
  uint32 flags = 8;
}
message HistogramDataPoint {
  repeated KeyValue attributes = 9;
  fixed64 start_time_unix_nano = 2;
  fixed64 time_unix_nano = 3;
  fixed64 count = 4;
  optional double sum = 5;
  repeated fixed64 bucket_counts = 6;
  repeated double explicit_bounds = 7;
  repeated Exemplar exemplars = 8;
  uint32 flags = 10;
  optional double min = 11;
  optional double max = 12;
}
message Exemplar {
  repeated KeyValue filtered_attributes = 7;
  fixed64 time_unix_nano = 2;
  oneof value {
    double as_double = 3;
    sfixed64 as_int = 6;
  }
  bytes span_id = 4;
  bytes trace_id = 5;
}
`;

const root = protobuf.parse(OTLP_PROTO, { keepCase: false }).root;
const TraceRequest = root.lookupType('otlp.ExportTraceServiceRequest');
const MetricsRequest = root.lookupType('otlp.ExportMetricsServiceRequest');
const LogsRequest = root.lookupType('otlp.ExportLogsServiceRequest');
/** Options that make protobufjs produce the same shape as OTLP/JSON: ids as hex below, 64-bit ints as numbers. */
const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, bytes: Buffer as unknown as typeof String, defaults: false, arrays: true, oneofs: false };

/** Decodes an OTLP/protobuf ExportTraceServiceRequest body into a plain object (ids as Buffers, 64-bit as numbers). */
export function decodeTraceRequest(body: Uint8Array): Record<string, unknown> {
  return TraceRequest.toObject(TraceRequest.decode(body), TO_OBJECT);
}

export type AttributeValue = string | number | boolean | null | AttributeValue[] | { [k: string]: AttributeValue };

/** A received span, flattened. */
export interface ReceivedSpan {
  readonly name: string;
  /** OTLP enum value: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  readonly kind: number;
  readonly traceId: string;
  readonly spanId: string;
  /** Empty string for a root span. */
  readonly parentSpanId: string;
  readonly attributes: Record<string, AttributeValue>;
  /** 0 unset, 1 ok, 2 error. */
  readonly status: { code: number; message: string };
  readonly events: { name: string; attributes: Record<string, AttributeValue> }[];
  readonly resource: Record<string, AttributeValue>;
  readonly scope: string;
  /** Which encoding carried it. */
  readonly encoding: Encoding;
}

/** A received log record, flattened. */
export interface ReceivedLog {
  /** Empty string when the record was written outside any span. */
  readonly traceId: string;
  readonly spanId: string;
  /** W3C trace flags (the low 8 bits of the record's flags). */
  readonly traceFlags: number;
  /** OTLP SeverityNumber: 9 INFO, 13 WARN, 17 ERROR… */
  readonly severityNumber: number;
  readonly severityText: string;
  readonly body: AttributeValue;
  readonly attributes: Record<string, AttributeValue>;
  readonly resource: Record<string, AttributeValue>;
  readonly scope: string;
  readonly encoding: Encoding;
}

/** One data point of a received metric: sums and gauges have `value`, histograms the bucket fields. */
export interface ReceivedDataPoint {
  readonly attributes: Record<string, AttributeValue>;
  readonly value?: number;
  readonly count?: number;
  readonly sum?: number;
  readonly bucketCounts?: number[];
  readonly explicitBounds?: number[];
  /** Histogram exemplars (ids in hex, time in ns since the epoch), as sent; absent when none. */
  readonly exemplars?: { traceId: string; spanId: string; value: number; timeUnixNano: number }[];
}

/** One metric of one export request. */
export interface ReceivedMetric {
  readonly name: string;
  readonly unit: string;
  readonly type: 'sum' | 'gauge' | 'histogram';
  /** 1 delta, 2 cumulative (sums and histograms). */
  readonly temporality: number;
  readonly dataPoints: ReceivedDataPoint[];
  readonly resource: Record<string, AttributeValue>;
  readonly encoding: Encoding;
  /** Index of the export request that carried it (later requests carry newer cumulative values). */
  readonly batch: number;
}

export type Encoding = 'protobuf' | 'json';

/**
 * How the receiver misbehaves, for fault tests (a small local stand-in for a failing Collector): answer with an
 * HTTP status and keep nothing; read the request and never answer (blackhole); answer after a delay (slow, then
 * kept); or send a 200 header and then one byte every `everyMs`, never ending (drip).
 */
export type ReceiverFault =
  | { kind: 'status'; status: number }
  | { kind: 'blackhole' }
  | { kind: 'slow'; delayMs: number }
  | { kind: 'drip'; everyMs: number };

/** A running receiver. */
export interface OtlpReceiver {
  /** The current fault, if any (set it at any time; undefined = healthy). */
  fault: ReceiverFault | undefined;
  /** Requests answered with a fault, per path. */
  readonly faulted: string[];
  /** Most requests to one path open at the same time (the "one export in flight per signal" check). */
  readonly maxInFlight: Record<string, number>;
  readonly port: number;
  /** `http://127.0.0.1:<port>`, for `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  readonly endpoint: string;
  readonly spans: ReceivedSpan[];
  readonly metrics: ReceivedMetric[];
  readonly logs: ReceivedLog[];
  /** Requests received per path and content type, e.g. `POST /v1/traces application/x-protobuf`. */
  readonly requests: string[];
  /** Decoding failures (each answered 400); a test should assert this stays empty. */
  readonly errors: string[];
  /** Resolves once `predicate()` is true (checked on every request and every 50 ms); rejects after `timeoutMs`. */
  waitFor(predicate: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  /** The newest data points of metric `name` (from the last export request that carried it). */
  latest(name: string): ReceivedMetric | undefined;
  /** Forgets everything received so far. */
  clear(): void;
  close(): Promise<void>;
}

/** Starts a receiver on 127.0.0.1 and a free port. */
export async function startOtlpReceiver(options: { port?: number } = {}): Promise<OtlpReceiver> {
  const faulted: string[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const spans: ReceivedSpan[] = [];
  const metrics: ReceivedMetric[] = [];
  const logs: ReceivedLog[] = [];
  const requests: string[] = [];
  const errors: string[] = [];
  const waiters = new Set<() => void>();
  let batch = 0;

  const inFlight: Record<string, number> = {};
  const maxInFlight: Record<string, number> = {};
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '';
    inFlight[path] = (inFlight[path] ?? 0) + 1;
    maxInFlight[path] = Math.max(maxInFlight[path] ?? 0, inFlight[path]);
    res.once('close', () => inFlight[path]--);
    readBody(req)
      .then(async (body) => {
        const fault = receiver.fault;
        if (fault !== undefined && fault.kind !== 'slow') {
          faulted.push(`${req.method} ${req.url}`);
          if (fault.kind === 'status') {
            res.statusCode = fault.status;
            res.end();
          } else if (fault.kind === 'drip') {
            res.writeHead(200, { 'Content-Type': 'application/x-protobuf' });
            const t = setInterval(() => res.write('\0'), fault.everyMs);
            timers.add(t);
            res.on('close', () => clearInterval(t));
          }
          return;
        }
        if (fault?.kind === 'slow') await new Promise((r) => setTimeout(r, fault.delayMs));
        const type = (req.headers['content-type'] ?? '').split(';')[0].trim();
        requests.push(`${req.method} ${req.url} ${type}`);
        if (req.method !== 'POST' || (req.url !== '/v1/traces' && req.url !== '/v1/metrics' && req.url !== '/v1/logs')) {
          res.statusCode = 404;
          res.end();
          return;
        }
        const encoding: Encoding | undefined =
          type === 'application/x-protobuf' ? 'protobuf' : type === 'application/json' ? 'json' : undefined;
        if (encoding === undefined) {
          errors.push(`unsupported content type ${type} on ${req.url}`);
          res.statusCode = 415;
          res.end();
          return;
        }
        try {
          if (req.url === '/v1/traces') {
            const msg = encoding === 'protobuf' ? TraceRequest.toObject(TraceRequest.decode(body), TO_OBJECT) : JSON.parse(body.toString('utf8'));
            spans.push(...flattenTraces(msg, encoding));
          } else if (req.url === '/v1/logs') {
            const msg = encoding === 'protobuf' ? LogsRequest.toObject(LogsRequest.decode(body), TO_OBJECT) : JSON.parse(body.toString('utf8'));
            logs.push(...flattenLogs(msg, encoding));
          } else {
            const msg = encoding === 'protobuf' ? MetricsRequest.toObject(MetricsRequest.decode(body), TO_OBJECT) : JSON.parse(body.toString('utf8'));
            metrics.push(...flattenMetrics(msg, encoding, batch++));
          }
        } catch (err) {
          errors.push(`could not decode ${encoding} ${req.url}: ${(err as Error).message}`);
          res.statusCode = 400;
          res.end();
          return;
        }
        // An empty ExportXServiceResponse: `{}` in JSON, zero bytes in protobuf.
        res.setHeader('Content-Type', encoding === 'json' ? 'application/json' : 'application/x-protobuf');
        res.end(encoding === 'json' ? '{}' : '');
        for (const w of [...waiters]) w();
      })
      .catch(() => {
        res.statusCode = 400;
        res.end();
      });
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });

  const receiver: OtlpReceiver = {
    fault: undefined,
    faulted,
    maxInFlight,
    port,
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    metrics,
    logs,
    requests,
    errors,
    waitFor(predicate, timeoutMs = 10000, what = 'condition') {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          let ok = false;
          try {
            ok = predicate();
          } catch {
            ok = false;
          }
          if (!ok) return;
          cleanup();
          resolve();
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`OTLP receiver: ${what} not met within ${timeoutMs} ms (${spans.length} spans, ${metrics.length} metrics, ${logs.length} logs, requests: ${requests.length})`));
        }, timeoutMs);
        const poll = setInterval(check, 50);
        const cleanup = (): void => {
          clearTimeout(timer);
          clearInterval(poll);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    latest(name) {
      let found: ReceivedMetric | undefined;
      for (const m of metrics) if (m.name === name && (found === undefined || m.batch >= found.batch)) found = m;
      return found;
    },
    clear() {
      faulted.length = 0;
      spans.length = 0;
      metrics.length = 0;
      logs.length = 0;
      requests.length = 0;
      errors.length = 0;
    },
    close() {
      for (const t of timers) clearInterval(t);
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  return receiver;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

// --- Flattening: protobufjs objects (camelCase, Buffers) and OTLP/JSON (camelCase, hex ids) share one shape. ---

type Obj = Record<string, any>;  

/** Ids: hex in OTLP/JSON, bytes in protobuf. */
function hexId(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  return String(v).toLowerCase();
}

/** 64-bit integers arrive as numbers (protobuf, longs: Number) or decimal strings (OTLP/JSON). */
function num(v: unknown): number {
  if (v === undefined || v === null) return 0;
  return typeof v === 'number' ? v : Number(v);
}

function anyValue(v: Obj | undefined): AttributeValue {
  if (v === undefined || v === null) return null;
  if ('stringValue' in v) return v.stringValue as string;
  if ('boolValue' in v) return v.boolValue as boolean;
  if ('intValue' in v) return num(v.intValue);
  if ('doubleValue' in v) return num(v.doubleValue);
  if ('arrayValue' in v) return ((v.arrayValue?.values ?? []) as Obj[]).map(anyValue);
  if ('kvlistValue' in v) return attributes(v.kvlistValue?.values);
  if ('bytesValue' in v) return hexId(v.bytesValue);
  return null;
}

function attributes(list: Obj[] | undefined): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const kv of list ?? []) out[kv.key as string] = anyValue(kv.value as Obj | undefined);
  return out;
}

function flattenTraces(msg: Obj, encoding: Encoding): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of (msg.resourceSpans ?? []) as Obj[]) {
    const resource = attributes(rs.resource?.attributes);
    for (const ss of (rs.scopeSpans ?? []) as Obj[]) {
      for (const s of (ss.spans ?? []) as Obj[]) {
        out.push({
          name: s.name ?? '',
          kind: num(s.kind),
          traceId: hexId(s.traceId),
          spanId: hexId(s.spanId),
          parentSpanId: hexId(s.parentSpanId),
          attributes: attributes(s.attributes),
          status: { code: num(s.status?.code), message: s.status?.message ?? '' },
          events: ((s.events ?? []) as Obj[]).map((e) => ({ name: e.name ?? '', attributes: attributes(e.attributes) })),
          resource,
          scope: ss.scope?.name ?? '',
          encoding,
        });
      }
    }
  }
  return out;
}

function flattenLogs(msg: Obj, encoding: Encoding): ReceivedLog[] {
  const out: ReceivedLog[] = [];
  for (const rl of (msg.resourceLogs ?? []) as Obj[]) {
    const resource = attributes(rl.resource?.attributes);
    for (const sl of (rl.scopeLogs ?? []) as Obj[]) {
      for (const r of (sl.logRecords ?? []) as Obj[]) {
        out.push({
          traceId: hexId(r.traceId),
          spanId: hexId(r.spanId),
          traceFlags: num(r.flags) & 0xff,
          severityNumber: num(r.severityNumber),
          severityText: r.severityText ?? '',
          body: anyValue(r.body as Obj | undefined),
          attributes: attributes(r.attributes),
          resource,
          scope: sl.scope?.name ?? '',
          encoding,
        });
      }
    }
  }
  return out;
}

function flattenMetrics(msg: Obj, encoding: Encoding, batch: number): ReceivedMetric[] {
  const out: ReceivedMetric[] = [];
  for (const rm of (msg.resourceMetrics ?? []) as Obj[]) {
    const resource = attributes(rm.resource?.attributes);
    for (const sm of (rm.scopeMetrics ?? []) as Obj[]) {
      for (const m of (sm.metrics ?? []) as Obj[]) {
        const type = m.sum !== undefined ? 'sum' : m.gauge !== undefined ? 'gauge' : m.histogram !== undefined ? 'histogram' : undefined;
        if (type === undefined) continue;
        const data = m[type] as Obj;
        const dataPoints: ReceivedDataPoint[] = ((data.dataPoints ?? []) as Obj[]).map((p) =>
          type === 'histogram'
            ? {
                attributes: attributes(p.attributes),
                count: num(p.count),
                sum: num(p.sum),
                bucketCounts: ((p.bucketCounts ?? []) as unknown[]).map(num),
                explicitBounds: ((p.explicitBounds ?? []) as unknown[]).map(num),
                ...(p.exemplars === undefined
                  ? {}
                  : {
                      exemplars: (p.exemplars as Obj[]).map((e) => ({
                        traceId: hexId(e.traceId),
                        spanId: hexId(e.spanId),
                        value: num(e.asDouble ?? e.asInt),
                        timeUnixNano: num(e.timeUnixNano),
                      })),
                    }),
              }
            : { attributes: attributes(p.attributes), value: num(p.asInt ?? p.asDouble) }
        );
        out.push({ name: m.name, unit: m.unit ?? '', type, temporality: num(data.aggregationTemporality), dataPoints, resource, encoding, batch });
      }
    }
  }
  return out;
}
