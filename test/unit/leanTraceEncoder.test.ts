/**
 * The lean OTLP trace encoder prototype (bench/LeanTraceEncoder.ts, measured in bench/encode.bench.ts, not wired
 * into the export path) writes the same bytes as upstream's ProtobufTraceSerializer, and those bytes decode with
 * the OTLP message definitions into the spans that went in.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace, type SpanContext } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { LeanTraceEncoder } from '../../src/export/LeanTraceEncoder';
import { buildEncodeSpans } from '../../bench/encode.bench';
import { CollectingProcessor } from '../../bench/harness';
import { decodeTraceRequest } from '../helpers/otlpReceiver';

function same(spans: ReadableSpan[], encoder = new LeanTraceEncoder()): Uint8Array {
  const upstream = ProtobufTraceSerializer.serializeRequest(spans)!;
  const lean = encoder.encode(spans);
  assert.equal(Buffer.compare(Buffer.from(lean), Buffer.from(upstream)), 0, 'bytes differ from upstream');
  return Uint8Array.from(lean);
}

test('the bench batches (server, pg and redis spans, three scopes) encode to upstream\'s bytes', () => {
  const spans = buildEncodeSpans(600);
  const encoder = new LeanTraceEncoder();
  // Reused across calls, as an exporter would: the string cache and the buffer carry over.
  for (let i = 0; i < spans.length; i += 512) same(spans.slice(i, i + 512), encoder);
  const body = decodeTraceRequest(same(spans.slice(0, 3), encoder)) as {
    resourceSpans: { resource: { attributes: { key: string }[] }; scopeSpans: { scope: { name: string }; spans: { name: string; kind: number; attributes: { key: string; value: Record<string, unknown> }[] }[] }[] }[];
  };
  assert.equal(body.resourceSpans.length, 1);
  assert.deepEqual(
    body.resourceSpans[0].scopeSpans.map((s) => [s.scope.name, s.spans.map((x) => `${x.name}/${x.kind}`)]),
    [
      ['@opentelemetry/instrumentation-pg', ['pg.query:SELECT bench/3']],
      ['@opentelemetry/instrumentation-ioredis', ['get/3']],
      ['@opentelemetry/instrumentation-http', ['GET/2']],
    ]
  );
  const server = body.resourceSpans[0].scopeSpans[2].spans[0];
  const attr = (k: string): unknown => server.attributes.find((a) => a.key === k)?.value;
  assert.deepEqual(attr('http.request.method'), { stringValue: 'GET' });
  assert.deepEqual(attr('server.port'), { intValue: 8080 });
});

test('every value type, events, links, status, trace state and a remote parent encode to upstream\'s bytes and decode back', () => {
  const collector = new CollectingProcessor();
  const provider = new TracerProvider({ resource: resourceFromAttributes({ 'service.name': 'sérvice ✓' }), spanProcessors: [collector] });
  const tracer = provider.getTracer('scope', '1.0.0');
  const parent: SpanContext = {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
    traceState: new TraceState('vendor=x,other=y'),
  };
  const long = 'x'.repeat(300);
  const span = tracer.startSpan(
    'naïve name ✓',
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        s: 'short',
        long,
        unicode: 'ünïcødé ✓ '.repeat(10),
        int: 42,
        negative: -7,
        big: 2 ** 40,
        double: 0.125,
        yes: true,
        no: false,
        strings: ['a', 'b'],
        numbers: [1, 2.5],
      },
      links: [{ context: { ...parent, spanId: '00f067aa0ba902b7', isRemote: false }, attributes: { why: 'fan-in' } }],
    },
    trace.setSpanContext(ROOT_CONTEXT, parent)
  );
  span.addEvent('exception', { 'exception.type': 'TypeError', 'exception.message': 'boom ✗' });
  span.setStatus({ code: SpanStatusCode.ERROR, message: 'failed ✗' });
  span.end();
  const body = decodeTraceRequest(same(collector.spans)) as {
    resourceSpans: { resource: { attributes: unknown[] }; scopeSpans: { scope: { name: string; version: string }; spans: Record<string, unknown>[] }[] }[];
  };
  const s = body.resourceSpans[0].scopeSpans[0].spans[0] as {
    name: string;
    traceState: string;
    parentSpanId: Buffer;
    attributes: { key: string; value: unknown }[];
    events: { name: string }[];
    links: { spanId: Buffer; attributes: unknown[] }[];
    status: { code: number; message: string };
    flags: number;
  };
  assert.equal(body.resourceSpans[0].scopeSpans[0].scope.version, '1.0.0');
  assert.equal(s.name, 'naïve name ✓');
  assert.equal(s.traceState, 'vendor=x,other=y');
  assert.equal(Buffer.from(s.parentSpanId).toString('hex'), 'b7ad6b7169203331');
  assert.equal(s.flags, 0x301); // sampled, has-is-remote, parent is remote
  const values = Object.fromEntries(s.attributes.map((a) => [a.key, a.value]));
  assert.deepEqual(values.long, { stringValue: long });
  assert.deepEqual(values.unicode, { stringValue: 'ünïcødé ✓ '.repeat(10) });
  assert.deepEqual(values.negative, { intValue: -7 });
  assert.deepEqual(values.big, { intValue: 2 ** 40 });
  assert.deepEqual(values.double, { doubleValue: 0.125 });
  assert.deepEqual(values.no, { boolValue: false }); // a oneof member: written and read back even when false
  assert.deepEqual(values.numbers, { arrayValue: { values: [{ intValue: 1 }, { doubleValue: 2.5 }] } });
  assert.deepEqual(s.events.map((e) => e.name), ['exception']);
  assert.equal(Buffer.from(s.links[0].spanId).toString('hex'), '00f067aa0ba902b7');
  assert.deepEqual(s.status, { code: 2, message: 'failed ✗' });
});
