/**
 * instrumentations/httpserver/ in process: real node:http servers and raw sockets, a real TracerProvider, the
 * AsyncLocalStorage context manager entered through `attach` as src/sdk.ts does. What the e2e test
 * (test/e2e/httpServer.test.ts) does not reach: pipelined requests on one socket, own servers, requests Node answers
 * without emitting `request`, the subscriber failing, the duration histogram, disable().
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { context, diag, DiagLogLevel, propagation, trace, type MeterProvider } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { HttpServerChannelInstrumentation } from '../../instrumentations/httpserver/instrumentation';
import { OwnServers } from '../../src/core/OwnServers';

const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
const manager = new AsyncLocalStorageContextManager().enable();
const own = new OwnServers();
const recorded: { value: number; attributes: Record<string, unknown> }[] = [];
const meters = {
  getMeter: () => ({ createHistogram: () => ({ record: (value: number, attributes: Record<string, unknown>) => recorded.push({ value, attributes }) }) }),
} as unknown as MeterProvider;
const warnings: string[] = [];
let instrumentation: HttpServerChannelInstrumentation;
const tracer = provider.getTracer('app');

/** The app: `/child` starts a span at once and one 30 ms later; `/body` starts one when the body has ended. */
function app(req: IncomingMessage, res: ServerResponse): void {
  const path = req.url ?? '';
  if (path.startsWith('/body')) {
    let n = 0;
    req.on('data', (d: Buffer) => (n += d.length));
    req.on('end', () => {
      tracer.startSpan(`after body ${n}`).end();
      res.end('ok');
    });
    return;
  }
  tracer.startSpan(`now ${path}`).end();
  const wait = path.includes('slow') ? 60 : 5;
  setTimeout(() => {
    tracer.startSpan(`later ${path}`).end();
    res.end('ok');
  }, wait);
}

let server: Server;
let port: number;

before(async () => {
  context.setGlobalContextManager(manager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  diag.setLogger(
    { error: (m) => warnings.push(m), warn: (m) => warnings.push(m), info: () => undefined, debug: () => undefined, verbose: () => undefined },
    { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true }
  );
  instrumentation = new HttpServerChannelInstrumentation({ enter: (ctx) => void manager.attach(ctx), ownServers: own, recordDuration: true });
  instrumentation.setTracerProvider(provider);
  instrumentation.setMeterProvider(meters);
  server = createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  instrumentation.disable();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  diag.disable();
});

beforeEach(() => {
  exporter.reset();
  recorded.length = 0;
});

/** Writes `raw` on one socket and reads until the server closes it (the last request says `Connection: close`). */
function rawExchange(raw: string, toPort = port): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(toPort, '127.0.0.1', () => sock.write(raw));
    let got = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => (got += d));
    sock.on('close', () => resolve(got));
    sock.on('error', reject);
    sock.setTimeout(3000, () => sock.destroy(new Error(`timed out, got ${JSON.stringify(got)}`)));
  });
}

function byName(spans: ReadableSpan[]): Record<string, ReadableSpan> {
  return Object.fromEntries(spans.map((s) => [s.name, s]));
}

test('a request: the server span as upstream shapes it, children under it now, later and after the body', async () => {
  const res = await fetch(`http://127.0.0.1:${port}/child?q=1`, {
    headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', 'user-agent': 'unit/1' },
  });
  assert.equal(await res.text(), 'ok');
  await new Promise((r) => setTimeout(r, 20));
  const spans = byName(exporter.getFinishedSpans());
  const s = spans.GET;
  assert.equal(s.kind, 1);
  assert.equal(s.parentSpanContext?.spanId, 'b7ad6b7169203331');
  assert.equal(s.spanContext().traceId, '0af7651916cd43dd8448eb211c80319c');
  const attrs = { ...s.attributes };
  assert.equal(typeof attrs['network.peer.port'], 'number');
  delete attrs['network.peer.port'];
  assert.deepEqual(attrs, {
    'http.request.method': 'GET',
    'url.scheme': 'http',
    'server.address': '127.0.0.1',
    'network.peer.address': '127.0.0.1',
    'network.protocol.version': '1.1',
    'user_agent.original': 'unit/1',
    'url.path': '/child',
    'url.query': 'q=1',
    'client.address': '127.0.0.1',
    'server.port': port,
    'http.response.status_code': 200,
  });
  assert.equal(spans['now /child?q=1'].parentSpanContext?.spanId, s.spanContext().spanId);
  assert.equal(spans['later /child?q=1'].parentSpanContext?.spanId, s.spanContext().spanId);
  // The duration histogram (TENANTSCOPE_UPSTREAM_METRICS): upstream's attributes.
  assert.equal(recorded.length, 1);
  assert.deepEqual(recorded[0].attributes, { 'http.request.method': 'GET', 'url.scheme': 'http', 'network.protocol.version': '1.1', 'http.response.status_code': 200 });

  exporter.reset();
  const body = await fetch(`http://127.0.0.1:${port}/body`, { method: 'POST', body: 'x'.repeat(70_000) });
  assert.equal(await body.text(), 'ok');
  await new Promise((r) => setTimeout(r, 20));
  const b = byName(exporter.getFinishedSpans());
  assert.equal(b.POST.attributes['http.request.body.size'], 70_000);
  // The body arrives over several socket reads, outside the request's tick: the listener still runs in its context.
  assert.equal(b['after body 70000'].parentSpanContext?.spanId, b.POST.spanContext().spanId);
});

test('pipelined requests on one socket: each handler and what it schedules stay in its own request', async () => {
  const first = 'GET /slow HTTP/1.1\r\nHost: a\r\ntraceparent: 00-11111111111111111111111111111111-2222222222222222-01\r\n\r\n';
  const second = 'GET /fast HTTP/1.1\r\nHost: a\r\n\r\n';
  const third = 'GET /fast2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n';
  const text = await rawExchange(first + second + third);
  assert.equal((text.match(/HTTP\/1\.1 200 OK/g) ?? []).length, 3);
  await new Promise((r) => setTimeout(r, 20));
  const spans = exporter.getFinishedSpans();
  const servers = spans.filter((s) => s.kind === 1);
  assert.deepEqual(servers.map((s) => s.attributes['url.path']).sort(), ['/fast', '/fast2', '/slow']);
  const serverOf = (path: string): ReadableSpan => servers.find((s) => s.attributes['url.path'] === path)!;
  assert.equal(serverOf('/slow').spanContext().traceId, '11111111111111111111111111111111');
  assert.equal(serverOf('/fast').parentSpanContext, undefined);
  assert.equal(serverOf('/fast2').parentSpanContext, undefined);
  assert.notEqual(serverOf('/fast').spanContext().traceId, '11111111111111111111111111111111');
  assert.notEqual(serverOf('/fast').spanContext().traceId, serverOf('/fast2').spanContext().traceId);
  for (const path of ['/slow', '/fast', '/fast2']) {
    for (const child of [`now ${path}`, `later ${path}`]) {
      const c = spans.find((s) => s.name === child)!;
      assert.equal(c.parentSpanContext?.spanId, serverOf(path).spanContext().spanId, child);
      assert.equal(c.spanContext().traceId, serverOf(path).spanContext().traceId, child);
    }
  }
});

test("an own server's requests get no span, and nothing traced inside them records", async () => {
  const metrics = createServer((_req, res) => {
    const inner = tracer.startSpan('inside own');
    res.end(String(inner.isRecording()));
    inner.end();
  });
  own.mark(metrics);
  await new Promise<void>((r) => metrics.listen(0, '127.0.0.1', () => r()));
  try {
    const res = await fetch(`http://127.0.0.1:${(metrics.address() as AddressInfo).port}/metrics`);
    assert.equal(await res.text(), 'false');
    assert.deepEqual(exporter.getFinishedSpans(), []);
  } finally {
    metrics.closeAllConnections();
    await new Promise<void>((r) => metrics.close(() => r()));
  }
});

test('requests Node answers without emitting `request` get no span, as with upstream', async () => {
  // HTTP/1.1 without Host: Node answers 400 itself.
  const noHost = await rawExchange('GET /child HTTP/1.1\r\nConnection: close\r\n\r\n');
  assert.match(noHost, /^HTTP\/1\.1 400 /);
  // Expect with a checkContinue listener: the app's listener, not `request`.
  const withListener = createServer(app);
  withListener.on('checkContinue', (_req: IncomingMessage, res: ServerResponse) => res.end('bye'));
  await new Promise<void>((r) => withListener.listen(0, '127.0.0.1', () => r()));
  try {
    const text = await rawExchange(
      'POST /child HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
      (withListener.address() as AddressInfo).port
    );
    assert.match(text, /bye/);
  } finally {
    withListener.closeAllConnections();
    await new Promise<void>((r) => withListener.close(() => r()));
  }
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(exporter.getFinishedSpans().map((s) => s.name), []);
  // Expect: 100-continue with no such listener: Node continues and emits `request`, so there is a span.
  await rawExchange('POST /child HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(exporter.getFinishedSpans().map((s) => s.name).sort(), ['POST', 'later /child', 'now /child']);
});

test('the subscriber failing never reaches the app: one log line, the request answered, the next one traced', async () => {
  const isOwn = own.isOwnRequest.bind(own);
  own.isOwnRequest = () => {
    throw new Error('own-server check failed');
  };
  try {
    const res = await fetch(`http://127.0.0.1:${port}/child`);
    assert.equal(await res.text(), 'ok');
  } finally {
    own.isOwnRequest = isOwn;
  }
  assert.deepEqual(warnings, ['tenantscope: an incoming request got no server span: Error: own-server check failed']);
  await new Promise((r) => setTimeout(r, 20));
  // No server span; the app's own spans are roots.
  assert.deepEqual(exporter.getFinishedSpans().map((s) => `${s.name} ${s.parentSpanContext === undefined}`).sort(), ['later /child true', 'now /child true']);
  exporter.reset();
  await (await fetch(`http://127.0.0.1:${port}/child`)).text();
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(exporter.getFinishedSpans().map((s) => s.name).sort(), ['GET', 'later /child', 'now /child']);
});

test('disable() unsubscribes: no server spans until enabled again', async () => {
  instrumentation.disable();
  try {
    await (await fetch(`http://127.0.0.1:${port}/child`)).text();
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(exporter.getFinishedSpans().map((s) => s.name).sort(), ['later /child', 'now /child']);
  } finally {
    instrumentation.enable();
  }
  exporter.reset();
  await (await fetch(`http://127.0.0.1:${port}/child`)).text();
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(exporter.getFinishedSpans().map((s) => s.name).sort(), ['GET', 'later /child', 'now /child']);
});
