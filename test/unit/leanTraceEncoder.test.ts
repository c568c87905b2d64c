/**
 * The lean OTLP/protobuf trace encoder (src/export/LeanTraceEncoder.ts), the serializer of tenantscope's
 * http/protobuf trace exporter, writes exactly the bytes of upstream's ProtobufTraceSerializer
 * (@opentelemetry/otlp-transformer 0.301): on spans the real SDK made through the whole tenantscope pipeline
 * (startTenantScope, OTLP to a loopback sink that keeps the raw bodies), covering every field of the OTLP Span, and
 * on SDK spans with several resources and scopes. The bytes are decoded with the OTLP message definitions
 * (test/helpers/otlpReceiver.ts, field numbers of opentelemetry-proto v1). Also: the fallback to upstream when
 * encoding fails, the install's shape check, and the bounded string cache.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import {
  context,
  diag,
  DiagLogLevel,
  metrics,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type DiagLogger,
  type Link,
  type SpanContext,
} from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { buildEncodeSpans } from '../../bench/encode.bench';
import { CollectingProcessor } from '../../bench/harness';
import { installLeanTraceSerializer, LeanTraceEncoder } from '../../src/export/LeanTraceEncoder';
import { startTenantScope, type TenantScope } from '../../src/sdk';
import { decodeTraceRequest } from '../helpers/otlpReceiver';

function upstreamBytes(spans: ReadableSpan[]): Buffer {
  return Buffer.from(ProtobufTraceSerializer.serializeRequest(spans)!);
}

/** Encodes with `encoder`, asserts the bytes are upstream's, returns them. */
function same(spans: ReadableSpan[], encoder = new LeanTraceEncoder()): Buffer {
  const lean = Buffer.from(encoder.encode(spans));
  assert.equal(lean.toString('hex'), upstreamBytes(spans).toString('hex'), 'bytes differ from upstream');
  return lean;
}

// --- decoded shapes (protobufjs toObject: camelCase, ids as Buffers, 64-bit as numbers, defaults left out) ---

interface KV {
  key: string;
  value: Record<string, unknown>;
}
interface DecodedSpan {
  traceId: Buffer;
  spanId: Buffer;
  traceState?: string;
  parentSpanId?: Buffer;
  name: string;
  kind?: number;
  startTimeUnixNano: number;
  endTimeUnixNano: number;
  attributes?: KV[];
  droppedAttributesCount?: number;
  events?: { timeUnixNano: number; name: string; attributes?: KV[]; droppedAttributesCount?: number }[];
  droppedEventsCount?: number;
  links?: { traceId: Buffer; spanId: Buffer; traceState?: string; attributes?: KV[]; droppedAttributesCount?: number; flags: number }[];
  droppedLinksCount?: number;
  status: { code?: number; message?: string };
  flags: number;
}
interface DecodedRequest {
  resourceSpans: {
    resource: { attributes?: KV[] };
    schemaUrl?: string;
    scopeSpans: { scope: { name: string; version?: string }; schemaUrl?: string; spans: DecodedSpan[] }[];
  }[];
}

const decode = (bytes: Uint8Array): DecodedRequest => decodeTraceRequest(bytes) as unknown as DecodedRequest;
const hex = (b: Buffer | undefined): string => (b === undefined ? '' : Buffer.from(b).toString('hex'));
const attrs = (list: KV[] | undefined): Record<string, Record<string, unknown>> => Object.fromEntries((list ?? []).map((a) => [a.key, a.value]));

// --- every attribute value type the SDK accepts ---

const LONG_ASCII = 'x'.repeat(300);
const LONG_EMOJI = '🚀'.repeat(40); // 80 UTF-16 units, 160 bytes: past the cache's 64-unit limit
const VALUES: Attributes = {
  s: 'short',
  empty: '',
  ascii64: 'a'.repeat(64),
  ascii65: 'b'.repeat(65),
  long: LONG_ASCII,
  nonAscii: 'ünïcødé ✓ — 日本語',
  emoji: '👩‍💻🚀',
  longEmoji: LONG_EMOJI,
  yes: true,
  no: false,
  zero: 0,
  int: 42,
  negative: -7,
  minSafe: -Number.MAX_SAFE_INTEGER,
  big: 2 ** 60,
  beyondSafe: 2 ** 53 + 2,
  min64: -(2 ** 63),
  two63: 2 ** 63, // not below 2^63: written as a double, as upstream does
  double: 0.125,
  negDouble: -1.5,
  nan: NaN,
  inf: Infinity,
  negInf: -Infinity,
  negZero: -0,
  strings: ['a', '', 'ü🚀', null as unknown as string],
  bools: [true, false, null as unknown as boolean],
  ints: [1, -2, 2 ** 60, null as unknown as number],
  doubles: [0.5, NaN, -Infinity],
  mixedNumbers: [1, 2.5],
  emptyArray: [],
  nulls: [null as unknown as string, undefined as unknown as string],
};

const PARENT_TRACE = '0af7651916cd43dd8448eb211c80319c';
const PARENT_SPAN = 'b7ad6b7169203331';
const SCHEMA = 'https://opentelemetry.io/schemas/1.30.0';

// --- a loopback OTLP sink that keeps the raw request bodies, and the pipeline in this process ---

let sink: Server;
const bodies: Buffer[] = [];
let scope: TenantScope;
/** What the exporter's encoder was given and wrote (a spy on the real prototype method). */
const encoded: { spans: ReadableSpan[]; bytes: Buffer }[] = [];
const warnings: string[] = [];

before(async () => {
  sink = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/v1/traces') bodies.push(Buffer.concat(chunks));
      res.setHeader('Content-Type', 'application/x-protobuf');
      res.end();
    });
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  const original = LeanTraceEncoder.prototype.encode;
  LeanTraceEncoder.prototype.encode = function (this: LeanTraceEncoder, spans: readonly ReadableSpan[]): Uint8Array {
    const bytes = original.call(this, spans);
    encoded.push({ spans: [...spans], bytes: Buffer.from(bytes) });
    return bytes;
  };
  // The resource is read from the process environment.
  process.env.OTEL_SERVICE_NAME = 'encoder-test ✓';
  process.env.OTEL_RESOURCE_ATTRIBUTES = 'deployment.environment.name=test';
  scope = startTenantScope({
    OTEL_SERVICE_NAME: 'encoder-test ✓',
    OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test',
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${(sink.address() as AddressInfo).port}/v1/traces`,
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
    // pg loads only when the app requires pg (never here): no span from the sink's own HTTP traffic.
    OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'pg',
    TENANTSCOPE_RUNTIME_METRICS: 'false',
    TENANTSCOPE_PROCESS_METRICS: 'false',
  })!;
  const logger: DiagLogger = { error: (m) => warnings.push(m), warn: (m) => warnings.push(m), info: () => undefined, debug: () => undefined, verbose: () => undefined };
  diag.setLogger(logger, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
});

after(async () => {
  await scope.shutdown();
  context.disable();
  propagation.disable();
  metrics.disable();
  trace.disable();
  diag.disable();
  await new Promise((r) => sink.close(r));
});

/** Makes spans through the pipeline's tracers, under an incoming request's context (remote parent, tenant). */
function makeSpans(): void {
  const incoming = propagation.extract(ROOT_CONTEXT, {
    traceparent: `00-${PARENT_TRACE}-${PARENT_SPAN}-01`,
    tracestate: 'vendor=x,other=y',
    'x-tenant-id': 'acme',
  });
  const chat = trace.getTracerProvider().getTracer('@acme/chat', '2.3.4', { schemaUrl: SCHEMA });
  const plain = trace.getTracer('second-scope');
  const remoteLink: Link = {
    context: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: TraceFlags.SAMPLED, isRemote: true, traceState: new TraceState('lk=1') },
    attributes: { why: 'fan-in ✓', n: 3, tags: ['a', 'b'] },
  };
  const localLink: Link = { context: { traceId: '5bf92f3577b34da6a3ce929d0e0e4737', spanId: '10f067aa0ba902b8', traceFlags: TraceFlags.NONE, isRemote: false } };
  const root = chat.startSpan('naïve root ✓ 🚀', { kind: SpanKind.SERVER, attributes: VALUES, links: [remoteLink, localLink], startTime: [1_700_000_000, 0] }, incoming);
  root.addEvent('plain event');
  root.addEvent('with attributes', { 'exception.type': 'TypeError', 'exception.message': 'boom ✗', count: 2, ok: false, list: [1.5, 2.5] }, [1_700_000_000, 123_456_789]);
  root.recordException(new TypeError('a recorded exception'));
  const inRoot = trace.setSpan(incoming, root);
  // A span hitting every default limit (128 attributes, events, links, attributes per event and link).
  const many: Attributes = {};
  for (let i = 0; i < 130; i++) many[`k${i}`] = i;
  const links: Link[] = [];
  for (let i = 0; i < 130; i++) links.push({ context: { ...localLink.context, spanId: (0x1000000000000000 + i * 0x100).toString(16) } });
  const full = chat.startSpan('limits', { kind: SpanKind.INTERNAL, attributes: many, links }, inRoot);
  // Added after start, a link's attributes are limited too (and the oldest link makes room).
  full.addLink({ context: { ...localLink.context, spanId: 'feedfacecafebeef' }, attributes: many });
  for (let i = 0; i < 129; i++) full.addEvent(`e${i}`);
  full.addEvent('many attributes', many); // past the event limit the SDK drops the oldest events
  full.end();
  for (const kind of [SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER]) {
    const s = plain.startSpan(`child ${SpanKind[kind].toLowerCase()}`, { kind, attributes: { 'db.system.name': 'postgresql', n: kind } }, inRoot);
    if (kind === SpanKind.CLIENT) s.setStatus({ code: SpanStatusCode.OK });
    s.end();
  }
  root.setStatus({ code: SpanStatusCode.ERROR, message: 'failed ✗ 💥' });
  root.end([1_700_000_001, 5]);
}

test('spans made through tenantscope are exported in exactly the bytes upstream writes, and decode back', async () => {
  makeSpans();
  await scope.forceFlush();
  assert.equal(encoded.length, 1, 'one export batch went through the lean encoder');
  const { spans, bytes } = encoded[0];
  assert.equal(spans.length, 5);
  // What the sink received is what the encoder wrote, and it is upstream's request for the same spans.
  assert.deepEqual(bodies, [bytes]);
  assert.equal(bytes.toString('hex'), upstreamBytes(spans).toString('hex'));

  const body = decode(bytes);
  assert.equal(body.resourceSpans.length, 1);
  const rs = body.resourceSpans[0];
  assert.deepEqual(attrs(rs.resource.attributes)['service.name'], { stringValue: 'encoder-test ✓' });
  assert.deepEqual(attrs(rs.resource.attributes)['deployment.environment.name'], { stringValue: 'test' });
  assert.deepEqual(
    rs.scopeSpans.map((s) => [s.scope.name, s.scope.version ?? '', s.schemaUrl ?? '', s.spans.map((x) => `${x.name}/${x.kind}`)]),
    [
      ['@acme/chat', '2.3.4', SCHEMA, ['limits/1', 'naïve root ✓ 🚀/2']],
      ['second-scope', '', '', ['child client/3', 'child producer/4', 'child consumer/5']],
    ]
  );
  const all = rs.scopeSpans.flatMap((s) => s.spans);
  // Every span: the tenant, the incoming trace id and trace state.
  for (const s of all) {
    assert.deepEqual(attrs(s.attributes)['tenant.id'], { stringValue: 'acme' }, s.name);
    assert.equal(hex(s.traceId), PARENT_TRACE);
    assert.equal(s.traceState, 'vendor=x,other=y');
  }
  const root = rs.scopeSpans[0].spans[1];
  assert.equal(hex(root.parentSpanId), PARENT_SPAN);
  assert.equal(root.flags, 0x301); // sampled, has-is-remote, parent is remote
  assert.equal(root.endTimeUnixNano, 1_700_000_001_000_000_005);
  assert.deepEqual(root.status, { code: 2, message: 'failed ✗ 💥' });
  const v = attrs(root.attributes);
  assert.deepEqual(v.s, { stringValue: 'short' });
  assert.deepEqual(v.empty, { stringValue: '' });
  assert.deepEqual(v.ascii65, { stringValue: 'b'.repeat(65) });
  assert.deepEqual(v.long, { stringValue: LONG_ASCII });
  assert.deepEqual(v.nonAscii, { stringValue: 'ünïcødé ✓ — 日本語' });
  assert.deepEqual(v.emoji, { stringValue: '👩‍💻🚀' });
  assert.deepEqual(v.longEmoji, { stringValue: LONG_EMOJI });
  assert.deepEqual(v.yes, { boolValue: true });
  assert.deepEqual(v.no, { boolValue: false });
  assert.deepEqual(v.zero, { intValue: 0 });
  assert.deepEqual(v.negative, { intValue: -7 });
  assert.deepEqual(v.minSafe, { intValue: -Number.MAX_SAFE_INTEGER });
  assert.deepEqual(v.big, { intValue: 2 ** 60 });
  assert.deepEqual(v.beyondSafe, { intValue: 2 ** 53 + 2 });
  assert.deepEqual(v.min64, { intValue: -(2 ** 63) });
  assert.deepEqual(v.two63, { doubleValue: 2 ** 63 });
  assert.deepEqual(v.double, { doubleValue: 0.125 });
  assert.deepEqual(v.negDouble, { doubleValue: -1.5 });
  assert.ok(Number.isNaN(v.nan.doubleValue));
  assert.deepEqual(v.inf, { doubleValue: Infinity });
  assert.deepEqual(v.negInf, { doubleValue: -Infinity });
  assert.deepEqual(v.negZero, { intValue: 0 });
  // Null entries of an array are empty AnyValues, as upstream writes them.
  assert.deepEqual(v.strings, { arrayValue: { values: [{ stringValue: 'a' }, { stringValue: '' }, { stringValue: 'ü🚀' }, {}] } });
  assert.deepEqual(v.bools, { arrayValue: { values: [{ boolValue: true }, { boolValue: false }, {}] } });
  assert.deepEqual(v.ints, { arrayValue: { values: [{ intValue: 1 }, { intValue: -2 }, { intValue: 2 ** 60 }, {}] } });
  assert.deepEqual(v.mixedNumbers, { arrayValue: { values: [{ intValue: 1 }, { doubleValue: 2.5 }] } });
  assert.deepEqual(v.emptyArray, { arrayValue: { values: [] } });
  assert.deepEqual(v.nulls, { arrayValue: { values: [{}, {}] } });
  assert.deepEqual(
    root.events!.map((e) => [e.name, Object.keys(attrs(e.attributes))]),
    [
      ['plain event', []],
      ['with attributes', ['exception.type', 'exception.message', 'count', 'ok', 'list']],
      ['exception', ['exception.type', 'exception.message', 'exception.stacktrace']],
    ]
  );
  assert.equal(root.events![1].timeUnixNano, 1_700_000_000_123_456_789);
  assert.deepEqual(
    root.links!.map((l) => [hex(l.traceId), hex(l.spanId), l.traceState ?? '', attrs(l.attributes), l.flags]),
    [
      ['4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7', 'lk=1', { why: { stringValue: 'fan-in ✓' }, n: { intValue: 3 }, tags: { arrayValue: { values: [{ stringValue: 'a' }, { stringValue: 'b' }] } } }, 0x301],
      ['5bf92f3577b34da6a3ce929d0e0e4737', '10f067aa0ba902b8', '', {}, 0x100],
    ]
  );
  const limits = rs.scopeSpans[0].spans[0];
  assert.equal(hex(limits.parentSpanId), hex(root.spanId));
  assert.equal(limits.flags, 0x101); // sampled, has-is-remote, local parent
  // 128 of the 130 attributes, and tenant.id, which tenantscope stamps past the limit at the span's end; the SDK
  // counted tenant.id as dropped when TenantSpanProcessor set it at start (limit reached), hence 3.
  assert.equal(limits.attributes!.length, 129);
  assert.equal(limits.droppedAttributesCount, 3);
  assert.equal(limits.events!.length, 128);
  assert.equal(limits.droppedEventsCount, 2);
  assert.deepEqual([limits.events![0].name, limits.events![127].name], ['e2', 'many attributes']);
  assert.equal(limits.events![127].attributes!.length, 128);
  assert.equal(limits.events![127].droppedAttributesCount, 2);
  assert.equal(limits.links!.length, 128);
  assert.equal(limits.droppedLinksCount, 3);
  assert.deepEqual([hex(limits.links![0].spanId), hex(limits.links![127].spanId)], [(0x1000000000000000 + 3 * 0x100).toString(16), 'feedfacecafebeef']);
  assert.equal(limits.links![127].attributes!.length, 128);
  assert.equal(limits.links![127].droppedAttributesCount, 2);
  assert.deepEqual(rs.scopeSpans[1].spans[0].status, { code: 1 });
  // Only the SDK's own lines about the limits; nothing from tenantscope (no fallback to upstream).
  assert.deepEqual(warnings, ['Dropped 2 events because eventCountLimit reached', 'Dropped 3 links because linkCountLimit reached']);
});

test('several resources (with schema URLs and structured values) and scopes in one batch, and an empty batch', () => {
  const collector = new CollectingProcessor();
  const providers = [
    new TracerProvider({
      resource: resourceFromAttributes(
        { 'service.name': 'a', 'host.id': 'h-1', 'process.pid': 4242 },
        { schemaUrl: SCHEMA }
      ),
      spanProcessors: [collector],
    }),
    new TracerProvider({ resource: resourceFromAttributes({ 'service.name': 'b ✓' }), spanProcessors: [collector] }),
  ];
  const order = [0, 1, 0, 1, 0];
  order.forEach((p, i) => {
    const tracer = providers[p].getTracer(i % 2 === 0 ? 'scope-x' : 'scope-y', i < 2 ? '1.0.0' : undefined, i === 4 ? { schemaUrl: `${SCHEMA}#${i}` } : undefined);
    tracer.startSpan(`span ${i}`).end();
  });
  // Values the SDK's sanitising never lets through, but OTLP's AnyValue has (a key-value list, bytes): written
  // into an ended span's attributes by hand.
  Object.assign(collector.spans[0].attributes, { nested: { inner: 'v', n: 1, list: ['x'], none: null }, raw: new Uint8Array([0, 255, 7]) });
  const encoder = new LeanTraceEncoder();
  const body = decode(same(collector.spans, encoder));
  assert.deepEqual(
    body.resourceSpans.map((r) => [attrs(r.resource.attributes)['service.name'].stringValue, r.schemaUrl ?? '', r.scopeSpans.map((s) => `${s.scope.name}:${s.spans.map((x) => x.name).join('+')}`)]),
    [
      ['a', SCHEMA, ['scope-x:span 0', 'scope-x:span 2', 'scope-x:span 4']],
      ['b ✓', '', ['scope-y:span 1', 'scope-y:span 3']],
    ]
  );
  // Tracers of the same name with another version or schema are other scopes.
  assert.deepEqual(body.resourceSpans[0].scopeSpans.map((s) => [s.scope.version ?? '', s.schemaUrl ?? '']), [['1.0.0', ''], ['', ''], ['', `${SCHEMA}#4`]]);
  const first = attrs(body.resourceSpans[0].scopeSpans[0].spans[0].attributes);
  assert.deepEqual(first.nested, {
    kvlistValue: {
      values: [
        { key: 'inner', value: { stringValue: 'v' } },
        { key: 'n', value: { intValue: 1 } },
        { key: 'list', value: { arrayValue: { values: [{ stringValue: 'x' }] } } },
        { key: 'none', value: {} },
      ],
    },
  });
  assert.equal(hex(first.raw.bytesValue as Buffer), '00ff07');
  assert.deepEqual(attrs(body.resourceSpans[0].resource.attributes)['process.pid'], { intValue: 4242 });
  // An empty batch: zero bytes from both.
  assert.equal(same([], encoder).length, 0);
});

test('the bench batches (server, pg and redis spans, three scopes) encode to upstream\'s bytes with one encoder reused', () => {
  const spans = buildEncodeSpans(600);
  const encoder = new LeanTraceEncoder();
  for (let i = 0; i < spans.length; i += 512) same(spans.slice(i, i + 512), encoder);
  same(spans, encoder); // 1800 spans: the buffer grows past its first 64 KiB
});

test('the string cache stays bounded and a cached string always writes its own bytes', () => {
  const collector = new CollectingProcessor();
  const provider = new TracerProvider({ resource: resourceFromAttributes({ 'service.name': 'cache' }), spanProcessors: [collector] });
  const tracer = provider.getTracer('cache-test');
  // Strings a cache keyed by anything but the exact string would confuse: NFC and NFD forms of one text, lone
  // surrogates (both written as U+FFFD), 64 and 65 units (the cache's limit) of ASCII and of emoji.
  // Unpaired surrogates in every position, and the 1/2/3/4-byte UTF-8 boundaries, for the values written uncached.
  const tricky = ['é', 'e\u0301', '\uD800', '\uDFFF', 'ß', 'SS', 'a'.repeat(64), 'a'.repeat(65), '🚀'.repeat(32), '🚀'.repeat(33)];
  const surrogates = ['\uD800a', '\uDC00\uD800', 'a\uD83D', '\uD83D\uD83D\uDE80', '\u007F\u0080\u07FF\u0800\uFFFF', 'x'.repeat(70) + '\uD800'];
  for (const t of tricky) tracer.startSpan(t, { attributes: { [t]: t, arr: [t, t] } }).end();
  for (const t of surrogates) tracer.startSpan(t, { attributes: { [t]: t, arr: [t, t] } }).end();
  same(collector.spans.slice(tricky.length), new LeanTraceEncoder());
  collector.spans.length = tricky.length;
  // More distinct short strings than the cache holds (4096): names, keys and values.
  for (let i = 0; i < 3000; i++) tracer.startSpan(`name-${i}`, { attributes: { [`key-${i}`]: `value-${i}`, shared: 'same' } }).end();
  const encoder = new LeanTraceEncoder();
  const first = same(collector.spans.slice(0, tricky.length), encoder);
  const decoded = decode(first).resourceSpans[0].scopeSpans[0].spans;
  assert.deepEqual(
    decoded.map((s) => s.name),
    tricky.map((t) => (t === '\uD800' || t === '\uDFFF' ? '\uFFFD' : t))
  );
  // The caller owns what encode returns: scribbling over it changes nothing later.
  const out = encoder.encode(collector.spans.slice(0, tricky.length));
  out.fill(0xff);
  same(collector.spans.slice(0, tricky.length), encoder);
  for (let i = tricky.length; i < collector.spans.length; i += 500) {
    same(collector.spans.slice(i, i + 500), encoder);
    assert.ok(encoder.cachedStrings <= 4096, `${encoder.cachedStrings} strings cached`);
  }
  // After the cache was cleared (9000 distinct strings went through), the tricky strings are right again.
  same(collector.spans, encoder);
  assert.ok(encoder.cachedStrings <= 4096);
});

test('installed in an upstream exporter: lean requests, upstream\'s response reading, upstream for a batch the encoder fails on', () => {
  const collector = new CollectingProcessor();
  const provider = new TracerProvider({ resource: resourceFromAttributes({ 'service.name': 'install' }), spanProcessors: [collector] });
  provider.getTracer('t').startSpan('one', { attributes: { a: 1 } }).end();
  const exporter = { _delegate: { _serializer: ProtobufTraceSerializer as typeof ProtobufTraceSerializer } };
  const lines: string[] = [];
  const logger: DiagLogger = { error: (m) => lines.push(m), warn: (m) => lines.push(m), info: () => undefined, debug: (m) => lines.push(`debug ${m}`), verbose: () => undefined };
  diag.setLogger(logger, { logLevel: DiagLogLevel.DEBUG, suppressOverrideMessage: true });
  const ours = (): string[] => lines.filter((l) => l.includes('tenantscope: '));
  try {
    // Not what it was written against: changes nothing, one debug line each.
    assert.equal(installLeanTraceSerializer({}, ProtobufTraceSerializer), false);
    const json = { _delegate: { _serializer: JsonTraceSerializer } };
    assert.equal(installLeanTraceSerializer(json, ProtobufTraceSerializer), false);
    assert.equal(json._delegate._serializer, JsonTraceSerializer);
    assert.deepEqual(ours(), [
      "debug tenantscope: the OTLP trace exporter has an unexpected shape or serializer; its spans are encoded by upstream's serializer",
      "debug tenantscope: the OTLP trace exporter has an unexpected shape or serializer; its spans are encoded by upstream's serializer",
    ]);
    lines.length = 0;

    assert.equal(installLeanTraceSerializer(exporter, ProtobufTraceSerializer), true);
    const serializer = exporter._delegate._serializer;
    assert.notEqual(serializer, ProtobufTraceSerializer);
    const expected = upstreamBytes(collector.spans).toString('hex');
    assert.equal(Buffer.from(serializer.serializeRequest(collector.spans)!).toString('hex'), expected);
    // ExportTraceServiceResponse { partial_success { rejected_spans = 3; error_message = "quota" } }, read by upstream.
    const response = Buffer.from([0x0a, 0x09, 0x08, 0x03, 0x12, 0x05, ...Buffer.from('quota')]);
    assert.deepEqual(serializer.deserializeResponse(response), ProtobufTraceSerializer.deserializeResponse(response));
    assert.deepEqual(ours(), []);

    // The encoder fails (a fault made for the test): upstream encodes those batches, one warning for the process.
    const original = LeanTraceEncoder.prototype.encode;
    LeanTraceEncoder.prototype.encode = () => {
      throw new TypeError('injected');
    };
    try {
      assert.equal(Buffer.from(serializer.serializeRequest(collector.spans)!).toString('hex'), expected);
      assert.equal(Buffer.from(serializer.serializeRequest(collector.spans)!).toString('hex'), expected);
    } finally {
      LeanTraceEncoder.prototype.encode = original;
    }
    assert.deepEqual(ours(), [
      "tenantscope: the lean OTLP trace encoder failed (TypeError: injected); upstream's serializer encodes such batches",
      "debug tenantscope: lean OTLP trace encoder: a batch of 1 spans encoded by upstream's serializer instead",
      "debug tenantscope: lean OTLP trace encoder: a batch of 1 spans encoded by upstream's serializer instead",
    ]);
    // And it recovers on the next batch.
    assert.equal(Buffer.from(serializer.serializeRequest(collector.spans)!).toString('hex'), expected);
  } finally {
    diag.disable();
  }
});

test('ids that are not 32/16 hex digits (odd, not hex, long) in links write the bytes upstream writes', () => {
  const collector = new CollectingProcessor();
  const provider = new TracerProvider({ resource: resourceFromAttributes({}), spanProcessors: [collector] });
  const odd: SpanContext = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: 'abc', traceFlags: 1 };
  const notHex: SpanContext = { traceId: 'zz-ÿé' + 'G'.repeat(27), spanId: '', traceFlags: 1 };
  const long: SpanContext = { traceId: 'ab'.repeat(300), spanId: 'ABCDEF0123456789', traceFlags: 1 };
  provider.getTracer('t').startSpan('odd links', { links: [{ context: odd }, { context: notHex }, { context: long }] }).end();
  const links = decode(same(collector.spans)).resourceSpans[0].scopeSpans[0].spans[0].links!;
  assert.deepEqual(links.map((l) => [hex(l.traceId).length, hex(l.spanId)]), [[32, 'ab'], [32, ''], [600, 'abcdef0123456789']]);
});
