/**
 * HTTP server spans: TENANTSCOPE_HTTP_SERVER=channel (instrumentations/httpserver/, Node's `http.server.request.start`
 * diagnostics channel) against =upstream (instrumentation-http's `Server.prototype.emit` wrapper). The same app
 * (test/fixtures/http-server-app.js: express routes and a plain handler) runs once per mode under the preload, both
 * exporting to one receiver; the same requests go to each. Every server span must come out the same in both modes:
 * name, kind, attributes, status, events, parent, trace, tenant and the spans under it. Then the channel mode's
 * spans are checked against exact values.
 */
import assert from 'node:assert/strict';
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { startFixture, type RunningFixture } from '../helpers/fixture';
import { startOtlpReceiver, type AttributeValue, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlpReceiver';

const MODES = ['channel', 'upstream'] as const;
type Mode = (typeof MODES)[number];
const SERVER = 2;

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const JAEGER_TRACE_ID = '0000000000000000a1b2c3d4e5f60718';

let receiver: OtlpReceiver;
let downstream: Server;
const apps = new Map<Mode, RunningFixture>();

interface Sent {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Destroy the request after this many ms (an aborted request). */
  abortAfterMs?: number;
  agent?: Agent;
}

/** The requests, in order; each carries `n=<index>` in its query so its server span can be found. */
function requests(agent: Agent): Sent[] {
  return [
    { method: 'GET', path: '/v1/items/a', headers: { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01`, 'x-tenant-id': 'acme' } },
    { method: 'POST', path: '/v1/items/b', headers: { 'x-tenant-id': 'globex', 'content-type': 'application/json' }, body: '{"text":"hello"}' },
    { method: 'GET', path: '/v1/relay', headers: { baggage: 'tenant.id=initech', 'user-agent': 'httpServer-test/1.0' } },
    { method: 'GET', path: '/v1/fail', headers: { 'x-tenant-id': 'acme' } },
    { method: 'GET', path: '/v1/boom', headers: { 'x-tenant-id': 'acme' } },
    { method: 'GET', path: '/v1/nowhere' },
    { method: 'GET', path: '/v1/slow', headers: { 'x-tenant-id': 'acme' }, abortAfterMs: 100 },
    { method: 'GET', path: '/v1/later', headers: { 'x-tenant-id': 'globex' } },
    { method: 'POST', path: '/raw/echo', headers: { 'x-tenant-id': 'acme' }, body: 'twelve bytes' },
    { method: 'GET', path: '/raw/write-after-end' },
    { method: 'GET', path: '/v1/items/c', headers: { 'uber-trace-id': `${JAEGER_TRACE_ID.slice(16)}:0000000000000abc:0:1`, 'uberctx-tenant.id': 'globex' } },
    { method: 'GET', path: '/v1/items/d?sig=secret&x=a%20b' },
    { method: 'PURGE', path: '/v1/items/e' },
    { method: 'GET', path: '/v1/items/../items/f' },
    { method: 'GET', path: '/v1/items/%7Bg%7D' },
    { method: 'GET', path: '/v1/items/h', headers: { forwarded: 'for=192.0.2.60;proto=https;host=chat.example.com', 'x-tenant-id': 'acme' } },
    { method: 'GET', path: '/v1/items/i', headers: { 'x-forwarded-for': '203.0.113.7, 10.0.0.1', 'x-forwarded-host': 'api.example.com:8443' } },
    // Keep-alive: three requests in turn on one socket; the first has a remote parent and a tenant, the next two
    // none or another: nothing of the first may carry over.
    { method: 'GET', path: '/v1/later', headers: { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01`, 'x-tenant-id': 'acme' }, agent },
    { method: 'GET', path: '/v1/later', agent },
    { method: 'GET', path: '/v1/items/k', headers: { 'x-tenant-id': 'globex' }, agent },
    { method: 'GET', path: '/raw/throw', headers: { 'x-tenant-id': 'acme' }, abortAfterMs: 200 },
  ];
}

function send(port: number, n: number, r: Sent): Promise<number> {
  const path = `${r.path}${r.path.includes('?') ? '&' : '?'}n=${n}`;
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: r.method, path, headers: r.headers, agent: r.agent ?? false }, (res) => {
      res.resume().on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (err) => (r.abortAfterMs === undefined ? reject(err) : resolve(0)));
    if (r.abortAfterMs !== undefined) setTimeout(() => req.destroy(), r.abortAfterMs);
    req.end(r.body);
  });
}

before(async () => {
  receiver = await startOtlpReceiver();
  downstream = createServer((_req, res) => res.end('echo'));
  await new Promise<void>((r) => downstream.listen(0, '127.0.0.1', () => r()));
  for (const mode of MODES) {
    apps.set(
      mode,
      await startFixture('http-server-app.js', {
        env: {
          OTEL_SERVICE_NAME: `app-${mode}`,
          TENANTSCOPE_HTTP_SERVER: mode,
          OTEL_PROPAGATORS: 'tracecontext,baggage,jaeger',
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
          OTEL_METRICS_EXPORTER: 'none',
          OTEL_BSP_SCHEDULE_DELAY: '50',
          OTEL_EXPORTER_PROMETHEUS_PORT: '0',
          DOWNSTREAM_PORT: String((downstream.address() as AddressInfo).port),
        },
      })
    );
  }
  for (const mode of MODES) {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const list = requests(agent);
    for (let n = 0; n < list.length; n++) await send(apps.get(mode)!.port, n, list[n]);
    // The aborted request's handler answers into a closed socket at 400 ms.
    await new Promise((r) => setTimeout(r, 450));
    agent.destroy();
  }
  const total = requests(new Agent()).length;
  await receiver.waitFor(() => MODES.every((m) => serverSpans(m).size === total), 15_000, 'every server span of both apps');
  // Children end before their server span, but may be exported in a later batch.
  await new Promise((r) => setTimeout(r, 300));
});

after(async () => {
  for (const app of apps.values()) await app.stop();
  await new Promise<void>((r) => downstream?.close(() => r()));
  await receiver?.close();
});

/** Server spans of one app by request index. */
function serverSpans(mode: Mode): Map<number, ReceivedSpan> {
  const out = new Map<number, ReceivedSpan>();
  for (const s of receiver.spans) {
    if (s.kind !== SERVER || s.resource['service.name'] !== `app-${mode}`) continue;
    const n = new URLSearchParams(String(s.attributes['url.query'] ?? '')).get('n');
    if (n !== null) out.set(Number(n), s);
  }
  return out;
}

/** What must agree between modes: everything but ids, ports of the connection and times. */
function shape(mode: Mode, s: ReceivedSpan): Record<string, unknown> {
  const attributes: Record<string, AttributeValue> = { ...s.attributes };
  const port = apps.get(mode)!.port;
  if (attributes['server.port'] === port) attributes['server.port'] = '<app port>';
  if (typeof attributes['network.peer.port'] === 'number') attributes['network.peer.port'] = '<client port>';
  if (typeof attributes['http.response.time_to_first_byte'] === 'number') attributes['http.response.time_to_first_byte'] = '<seconds>';
  const children: string[] = [];
  const walk = (parent: ReceivedSpan, depth: number): void => {
    const under = receiver.spans.filter((c) => c.parentSpanId === parent.spanId && c.traceId === parent.traceId);
    under.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const c of under) {
      // Whether the pool opens a connection depends on its state, not on the request.
      if (c.name === 'pg-pool.connect' || c.name === 'pg.connect') continue;
      children.push(`${'  '.repeat(depth)}${c.kind} ${c.name} ${String(c.attributes['tenant.id'])}`);
      walk(c, depth + 1);
    }
  };
  walk(s, 0);
  return {
    name: s.name,
    kind: s.kind,
    attributes,
    status: s.status,
    events: s.events.map((e) => `${e.name} ${String(e.attributes['exception.type'])} ${String(e.attributes['exception.message'])}`),
    parent: s.parentSpanId === '' ? 'root' : s.parentSpanId,
    trace: s.traceId === TRACE_ID || s.traceId === JAEGER_TRACE_ID ? s.traceId : 'own',
    children,
  };
}

test('every server span is the same under the channel instrumentation and under upstream instrumentation-http', () => {
  const channel = serverSpans('channel');
  const upstream = serverSpans('upstream');
  assert.equal(channel.size, requests(new Agent()).length);
  for (const [n, s] of upstream) assert.deepEqual(shape('channel', channel.get(n)!), shape('upstream', s), `request ${n}: ${s.attributes['url.path']}`);
});

test('channel mode: exact attributes of a traced express request with a remote parent and a pg child', () => {
  const s = serverSpans('channel').get(0)!;
  assert.deepEqual(shape('channel', s), {
    name: 'GET /v1/items/:id',
    kind: SERVER,
    attributes: {
      'http.request.method': 'GET',
      'url.scheme': 'http',
      'server.address': '127.0.0.1',
      'server.port': '<app port>',
      'network.peer.address': '127.0.0.1',
      'network.peer.port': '<client port>',
      'network.protocol.version': '1.1',
      'url.path': '/v1/items/a',
      'url.query': 'n=0',
      'client.address': '127.0.0.1',
      'http.response.status_code': 200,
      'http.route': '/v1/items/:id',
      'tenant.id': 'acme',
    },
    status: { code: 0, message: '' },
    events: [],
    parent: PARENT_ID,
    trace: TRACE_ID,
    children: ['1 request handler acme', '  3 pg.query:SELECT postgres acme'],
  });
});

test('channel mode: body read by express.json and by a plain handler continues the request trace', () => {
  const spans = serverSpans('channel');
  const post = shape('channel', spans.get(1)!);
  assert.equal(post.name, 'POST /v1/items/:id');
  assert.equal((post.attributes as Record<string, unknown>)['http.response.status_code'], 201);
  assert.deepEqual(post.children, ['1 request handler globex', '  3 pg.query:SELECT postgres globex']);
  const raw = shape('channel', spans.get(8)!);
  assert.equal(raw.name, 'POST');
  assert.equal((raw.attributes as Record<string, unknown>)['http.request.body.size'], 12);
  assert.deepEqual(raw.children, ['3 pg.query:SELECT postgres acme']);
});

test('channel mode: fetch and http.get under a request parent to its server span; baggage gives the tenant', () => {
  const relay = shape('channel', serverSpans('channel').get(2)!);
  assert.equal((relay.attributes as Record<string, unknown>)['user_agent.original'], 'httpServer-test/1.0');
  // One GET from fetch (undici), one from http.get (instrumentation-http's client side).
  assert.deepEqual(relay.children, ['1 request handler initech', '  3 GET initech', '  3 GET initech']);
});

test('channel mode: 5xx and thrown errors are ERROR with error.type; a 404 is not; an aborted request still ends', () => {
  const spans = serverSpans('channel');
  const status = (n: number): unknown => {
    const s = shape('channel', spans.get(n)!);
    const a = s.attributes as Record<string, unknown>;
    return [s.name, a['http.response.status_code'], a['error.type'], (s.status as { code: number }).code];
  };
  assert.deepEqual(status(3), ['GET /v1/fail', 503, '503', 2]);
  assert.deepEqual(status(4), ['GET /v1/boom', 500, '500', 2]);
  assert.deepEqual(status(5), ['GET', 404, undefined, 0]);
  // Aborted before the handler answered: the span ends when the response closes, with the status it had then.
  assert.deepEqual(status(6), ['GET /v1/slow', 200, undefined, 0]);
  // `error` on the response: the exception is recorded and the span ends there, before any status code is set.
  const writeAfterEnd = shape('channel', spans.get(9)!);
  assert.deepEqual(writeAfterEnd.events, ['exception ERR_STREAM_WRITE_AFTER_END write after end']);
  assert.deepEqual(writeAfterEnd.status, { code: 2, message: 'write after end' });
  assert.deepEqual(
    [(writeAfterEnd.attributes as Record<string, unknown>)['error.type'], (writeAfterEnd.attributes as Record<string, unknown>)['http.response.status_code']],
    ['Error', undefined]
  );
});

test('channel mode: an exception thrown out of a plain handler is recorded on its server span, which ends with it', () => {
  const s = shape('channel', serverSpans('channel').get(20)!);
  const a = s.attributes as Record<string, unknown>;
  assert.deepEqual(
    [s.name, s.status, a['error.type'], a['http.response.status_code'], a['tenant.id'], s.events],
    ['GET', { code: 2, message: 'handler failed' }, 'RangeError', undefined, 'acme', ['exception RangeError handler failed']]
  );
});

test('channel mode: Jaeger context, query redaction, unknown methods, odd paths and forwarded headers', () => {
  const spans = serverSpans('channel');
  const attr = (n: number, k: string): unknown => spans.get(n)!.attributes[k];
  const jaeger = shape('channel', spans.get(10)!);
  assert.deepEqual([jaeger.trace, jaeger.parent, (jaeger.attributes as Record<string, unknown>)['tenant.id']], [JAEGER_TRACE_ID, '0000000000000abc', 'globex']);
  assert.equal(attr(11, 'url.query'), 'sig=REDACTED&x=a+b&n=11');
  assert.deepEqual([spans.get(12)!.name, attr(12, 'http.request.method'), attr(12, 'http.request.method_original')], ['PURGE', '_OTHER', 'PURGE']);
  assert.equal(attr(13, 'url.path'), '/v1/items/f');
  assert.equal(attr(14, 'url.path'), '/v1/items/%7Bg%7D');
  assert.deepEqual([attr(15, 'client.address'), attr(15, 'server.address'), attr(15, 'server.port')], ['192.0.2.60', 'chat.example.com', 443]);
  assert.deepEqual([attr(16, 'client.address'), attr(16, 'server.address'), attr(16, 'server.port')], ['203.0.113.7', 'api.example.com', 8443]);
});

test('channel mode: keep-alive requests on one socket do not share context', () => {
  const spans = serverSpans('channel');
  const [first, second, third] = [17, 18, 19].map((n) => spans.get(n)!);
  // One socket: the client's port is the same for the three.
  assert.equal(first.attributes['network.peer.port'], second.attributes['network.peer.port']);
  assert.equal(second.attributes['network.peer.port'], third.attributes['network.peer.port']);
  assert.deepEqual(
    [first, second, third].map((s) => [s.traceId === TRACE_ID, s.parentSpanId === '' ? 'root' : s.parentSpanId, s.attributes['tenant.id']]),
    [
      [true, PARENT_ID, 'acme'],
      [false, 'root', 'unknown'],
      [false, 'root', 'globex'],
    ]
  );
  assert.notEqual(second.traceId, third.traceId);
  // The pg query 30 ms after each handler returned belongs to its own request.
  for (const [s, tenant] of [
    [first, 'acme'],
    [second, 'unknown'],
  ] as const) {
    assert.deepEqual(shape('channel', s).children, [`1 request handler ${tenant}`, `  3 pg.query:SELECT postgres ${tenant}`]);
  }
});
