import type { Attributes, AttributeValue, HrTime } from '@opentelemetry/api';
import type { Histogram, MetricData, ResourceMetrics, ScopeMetrics } from '@opentelemetry/sdk-metrics';
import { debug } from '../core/log';
import type { ExemplarRecord } from '../core/metrics/MetricFamily';

/**
 * OTLP exemplars for the duration histograms of our metric store. The upstream OTLP metric serializers
 * (`@opentelemetry/otlp-transformer` 0.301) write no exemplars, so the exporter's serializer is wrapped: the
 * histograms whose data points carry `exemplars` (see `HistogramPointWithExemplars` in src/core/metrics/MetricStore.ts)
 * get them written, everything else is serialized by upstream as before.
 *
 * - OTLP/JSON: upstream's request, parsed back, with an `exemplars` list added to those data points (hex ids, as
 *   OTLP/JSON writes ids).
 * - OTLP/protobuf: upstream's request for everything but those histograms, followed by a second `ResourceMetrics`
 *   (same resource and scope) holding them with their exemplars, encoded here. Two serialized messages of one type
 *   concatenated are one message whose repeated fields are joined (protobuf encoding rules), so the request
 *   carries both, and upstream's wire format is left untouched.
 * Runs once per export (not per span); a failure falls back to upstream's request without exemplars.
 */
interface Serializer {
  serializeRequest(request: ResourceMetrics): Uint8Array | undefined;
  deserializeResponse(data: Uint8Array): unknown;
}

type PointWithExemplars = MetricData['dataPoints'][number] & { exemplars?: ExemplarRecord[] };

/**
 * Wraps the serializer of an upstream OTLP/HTTP metric exporter (`_delegate._serializer`, otlp-exporter-base 0.301)
 * so the store's exemplars are exported. Returns false, changing nothing, when the exporter has another shape.
 */
export function installExemplarSerializer(exporter: object, protocol: 'http/json' | 'http/protobuf'): boolean {
  const delegate = (exporter as { _delegate?: { _serializer?: Serializer } })._delegate;
  const inner = delegate?._serializer;
  if (delegate === undefined || inner === undefined || typeof inner.serializeRequest !== 'function') {
    debug('the OTLP metric exporter has an unexpected shape; exemplars are not exported over OTLP');
    return false;
  }
  delegate._serializer = {
    serializeRequest: (rm) => serializeWithExemplars(inner, rm, protocol),
    deserializeResponse: (data) => inner.deserializeResponse(data),
  };
  return true;
}

/** The request for `rm` with the exemplars of its data points that carry some. */
export function serializeWithExemplars(inner: Serializer, rm: ResourceMetrics, protocol: 'http/json' | 'http/protobuf'): Uint8Array | undefined {
  if (!hasExemplars(rm)) return inner.serializeRequest(rm);
  try {
    return protocol === 'http/json' ? jsonWithExemplars(inner, rm) : protobufWithExemplars(inner, rm);
  } catch (err) {
    debug(`exemplars left out of an OTLP metric export: ${String(err)}`);
    return inner.serializeRequest(rm);
  }
}

function carriesExemplars(m: MetricData): boolean {
  for (const p of m.dataPoints as PointWithExemplars[]) if (p.exemplars !== undefined && p.exemplars.length > 0) return true;
  return false;
}

function hasExemplars(rm: ResourceMetrics): boolean {
  for (const sm of rm.scopeMetrics) for (const m of sm.metrics) if (carriesExemplars(m)) return true;
  return false;
}

function nanos(t: HrTime): bigint {
  return BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);
}

function msToNanos(ms: number): bigint {
  const whole = Math.floor(ms);
  return BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6));
}

// --- OTLP/JSON ---

type Json = Record<string, any>;

function jsonWithExemplars(inner: Serializer, rm: ResourceMetrics): Uint8Array | undefined {
  const bytes = inner.serializeRequest(rm);
  if (bytes === undefined) return undefined;
  const req = JSON.parse(new TextDecoder().decode(bytes)) as Json;
  // Upstream writes one ResourceMetrics, scopes, metrics and data points in input order.
  const scopes = req.resourceMetrics[0].scopeMetrics as Json[];
  rm.scopeMetrics.forEach((sm, si) => {
    sm.metrics.forEach((m, mi) => {
      if (!carriesExemplars(m)) return;
      const points = scopes[si].metrics[mi].histogram.dataPoints as Json[];
      (m.dataPoints as PointWithExemplars[]).forEach((p, pi) => {
        if (p.exemplars === undefined || p.exemplars.length === 0) return;
        points[pi].exemplars = p.exemplars.map((e) => ({
          timeUnixNano: msToNanos(e.timeMs).toString(),
          asDouble: e.value,
          spanId: e.spanId,
          traceId: e.traceId,
        }));
      });
    });
  });
  return new TextEncoder().encode(JSON.stringify(req));
}

// --- OTLP/protobuf (field numbers from opentelemetry-proto v1 metrics.proto, common.proto, resource.proto) ---

function protobufWithExemplars(inner: Serializer, rm: ResourceMetrics): Uint8Array | undefined {
  const rest: ScopeMetrics[] = [];
  const mine: ScopeMetrics[] = [];
  for (const sm of rm.scopeMetrics) {
    const withEx = sm.metrics.filter(carriesExemplars);
    if (withEx.length === 0) {
      rest.push(sm);
      continue;
    }
    rest.push({ scope: sm.scope, metrics: sm.metrics.filter((m) => !carriesExemplars(m)) });
    mine.push({ scope: sm.scope, metrics: withEx });
  }
  const head = inner.serializeRequest({ resource: rm.resource, scopeMetrics: rest });
  if (head === undefined) return undefined;
  // ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
  const tail = ld(1, resourceMetrics(rm, mine));
  return Buffer.concat([Buffer.from(head.buffer, head.byteOffset, head.byteLength), tail]);
}

/** ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; } */
function resourceMetrics(rm: ResourceMetrics, scopes: ScopeMetrics[]): Buffer {
  const parts = [ld(1, Buffer.concat(keyValues(1, rm.resource.attributes)))];
  for (const sm of scopes) {
    // ScopeMetrics { InstrumentationScope scope = 1; repeated Metric metrics = 2; }
    const scope = [str(1, sm.scope.name)];
    if (sm.scope.version) scope.push(str(2, sm.scope.version));
    const body = [ld(1, Buffer.concat(scope))];
    for (const m of sm.metrics) body.push(ld(2, histogramMetric(m)));
    parts.push(ld(2, Buffer.concat(body)));
  }
  return Buffer.concat(parts);
}

/** Metric { name = 1; description = 2; unit = 3; Histogram histogram = 9; } Histogram { data_points = 1; aggregation_temporality = 2; } */
function histogramMetric(m: MetricData): Buffer {
  const points = (m.dataPoints as PointWithExemplars[]).map((p) => ld(1, histogramPoint(p)));
  // AggregationTemporality: the store is cumulative (2).
  const histogram = Buffer.concat([...points, tag(2, 0), varint(2n)]);
  const d = m.descriptor;
  const parts = [str(1, d.name)];
  if (d.description) parts.push(str(2, d.description));
  if (d.unit) parts.push(str(3, d.unit));
  parts.push(ld(9, histogram));
  return Buffer.concat(parts);
}

/**
 * HistogramDataPoint { attributes = 9; start_time_unix_nano = 2 (fixed64); time_unix_nano = 3; count = 4 (fixed64);
 * sum = 5 (double); bucket_counts = 6 (packed fixed64); explicit_bounds = 7 (packed double); exemplars = 8;
 * min = 11; max = 12; }
 */
function histogramPoint(p: PointWithExemplars): Buffer {
  const h = p.value as Histogram;
  const parts = [...keyValues(9, p.attributes), fixed64(2, nanos(p.startTime)), fixed64(3, nanos(p.endTime)), fixed64(4, BigInt(h.count))];
  if (h.sum !== undefined) parts.push(double(5, h.sum));
  const counts = Buffer.alloc(8 * h.buckets.counts.length);
  h.buckets.counts.forEach((c, i) => counts.writeBigUInt64LE(BigInt(c), 8 * i));
  parts.push(ld(6, counts));
  const bounds = Buffer.alloc(8 * h.buckets.boundaries.length);
  h.buckets.boundaries.forEach((b, i) => bounds.writeDoubleLE(b, 8 * i));
  parts.push(ld(7, bounds));
  for (const e of p.exemplars ?? []) {
    // Exemplar { time_unix_nano = 2 (fixed64); as_double = 3; span_id = 4 (bytes); trace_id = 5 (bytes); }
    parts.push(ld(8, Buffer.concat([fixed64(2, msToNanos(e.timeMs)), double(3, e.value), ld(4, Buffer.from(e.spanId, 'hex')), ld(5, Buffer.from(e.traceId, 'hex'))])));
  }
  if (h.min !== undefined) parts.push(double(11, h.min));
  if (h.max !== undefined) parts.push(double(12, h.max));
  return Buffer.concat(parts);
}

/** repeated KeyValue at `field`: KeyValue { string key = 1; AnyValue value = 2; } */
function keyValues(field: number, attrs: Attributes): Buffer[] {
  const out: Buffer[] = [];
  for (const k of Object.keys(attrs)) {
    const v = attrs[k];
    if (v === undefined || v === null) continue;
    out.push(ld(field, Buffer.concat([str(1, k), ld(2, anyValue(v))])));
  }
  return out;
}

/** AnyValue { string_value = 1; bool_value = 2; int_value = 3; double_value = 4; ArrayValue array_value = 5; } */
function anyValue(v: AttributeValue | null | undefined): Buffer {
  if (typeof v === 'string') return str(1, v);
  if (typeof v === 'boolean') return Buffer.concat([tag(2, 0), varint(v ? 1n : 0n)]);
  if (typeof v === 'number') return Number.isInteger(v) ? Buffer.concat([tag(3, 0), varint(BigInt.asUintN(64, BigInt(v)))]) : double(4, v);
  if (Array.isArray(v)) return ld(5, Buffer.concat((v as (AttributeValue | null | undefined)[]).map((x) => ld(1, anyValue(x)))));
  return Buffer.alloc(0);
}

function varint(n: bigint): Buffer {
  const bytes: number[] = [];
  while (n > 0x7fn) {
    bytes.push(Number(n & 0x7fn) | 0x80);
    n >>= 7n;
  }
  bytes.push(Number(n));
  return Buffer.from(bytes);
}

function tag(field: number, wire: number): Buffer {
  return varint(BigInt((field << 3) | wire));
}

function ld(field: number, body: Buffer): Buffer {
  return Buffer.concat([tag(field, 2), varint(BigInt(body.length)), body]);
}

function str(field: number, s: string): Buffer {
  return ld(field, Buffer.from(s, 'utf8'));
}

function fixed64(field: number, n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, n));
  return Buffer.concat([tag(field, 1), b]);
}

function double(field: number, v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(v);
  return Buffer.concat([tag(field, 1), b]);
}
