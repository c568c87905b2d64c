/**
 * Out of process, real parts: a CommonJS express app that was never told about tenantscope (test/fixtures/chat-app.js,
 * real PostgreSQL and Redis) and a downstream service (test/fixtures/downstream.js), both run with
 * `node --require ./register.js`. What they export is read where a user would read it: OTLP/HTTP on a loopback
 * receiver in this process (protobuf and JSON) and the app's own `/metrics`. Counts are exact for a known mix.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseMetrics, scrape, startFixture, sumOf, type RunningFixture } from '../helpers/fixture';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedMetric, type ReceivedSpan } from '../helpers/otlpReceiver';
import { freePort } from '../helpers/services';

const SERVICE = 'chat-app';
const SERVER = 2; // OTLP span kind
const CLIENT = 3;

/** One request of the traffic mix; `tag` makes its URL unique so its trace can be found. */
interface Req {
  method: 'GET' | 'POST';
  path: string;
  tenant?: string;
  body?: unknown;
  status: number;
  /** Tenant expected on every span of the request. */
  expect: string;
}

const r = (n: number, req: Req): Req[] => Array.from({ length: n }, () => req);
/** The known traffic mix. Bodies: `{"text":"hello"}` is 16 bytes, `{"user":"u1"}` 13. */
const MIX: Req[] = [
  ...r(3, { method: 'GET', path: '/v1/conversations/1', tenant: 'acme', status: 200, expect: 'acme' }),
  ...r(2, { method: 'POST', path: '/v1/conversations/1/messages', tenant: 'acme', body: { text: 'hello' }, status: 201, expect: 'acme' }),
  ...r(1, { method: 'GET', path: '/v1/users/1', tenant: 'acme', status: 200, expect: 'acme' }),
  ...r(1, { method: 'GET', path: '/v1/users/999', tenant: 'acme', status: 404, expect: 'acme' }),
  ...r(1, { method: 'GET', path: '/v1/boom', tenant: 'acme', status: 500, expect: 'acme' }),
  ...r(2, { method: 'GET', path: '/v1/conversations/2', tenant: 'globex', status: 200, expect: 'globex' }),
  ...r(2, { method: 'GET', path: '/v1/boom', tenant: 'globex', status: 500, expect: 'globex' }),
  ...r(1, { method: 'GET', path: '/v1/conversations/3', tenant: 'bad tenant!', status: 200, expect: 'invalid' }),
  // A real id spelled like a reserved value counts as invalid.
  ...r(1, { method: 'GET', path: '/v1/conversations/3', tenant: 'overflow', status: 200, expect: 'invalid' }),
  ...r(1, { method: 'GET', path: '/v1/conversations/4', status: 200, expect: 'unknown' }),
  ...r(1, { method: 'GET', path: '/nope/12345', status: 404, expect: 'unknown' }),
  // No header: the app calls setTenant('initech') after its auth query.
  ...r(1, { method: 'POST', path: '/auth/session', body: { user: 'u1' }, status: 200, expect: 'initech' }),
  ...r(1, { method: 'GET', path: '/v1/relay?host=127.0.0.1', tenant: 'acme', status: 200, expect: 'acme' }),
];
const TOTAL = MIX.length; // 18

/** http_requests_total as the mix must produce it: method|endpoint|status|tenant -> count. */
const EXPECTED_REQUESTS: Record<string, number> = {
  'GET|/v1/conversations/:id|200|acme': 3,
  'POST|/v1/conversations/:id/messages|201|acme': 2,
  'GET|/v1/users/:id|200|acme': 1,
  'GET|/v1/users/:id|404|acme': 1,
  'GET|/v1/boom|500|acme': 1,
  'GET|/v1/conversations/:id|200|globex': 2,
  'GET|/v1/boom|500|globex': 2,
  'GET|/v1/conversations/:id|200|invalid': 2,
  'GET|/v1/conversations/:id|200|unknown': 1,
  'GET|unmatched|404|unknown': 1,
  'POST|/auth/session|200|initech': 1,
  'GET|/v1/relay|200|acme': 1,
};
/** http_request_duration_seconds_count: method|endpoint|tenant -> count (statuses summed). */
const EXPECTED_DURATION_COUNTS: Record<string, number> = {
  'GET|/v1/conversations/:id|acme': 3,
  'POST|/v1/conversations/:id/messages|acme': 2,
  'GET|/v1/users/:id|acme': 2,
  'GET|/v1/boom|acme': 1,
  'GET|/v1/conversations/:id|globex': 2,
  'GET|/v1/boom|globex': 2,
  'GET|/v1/conversations/:id|invalid': 2,
  'GET|/v1/conversations/:id|unknown': 1,
  'GET|unmatched|unknown': 1,
  'POST|/auth/session|initech': 1,
  'GET|/v1/relay|acme': 1,
};
/** Server-span calls in the spanmetrics family: span_name|status_code|tenant -> count. */
const EXPECTED_SERVER_CALLS: Record<string, number> = {
  'GET /v1/conversations/:id|STATUS_CODE_UNSET|acme': 3,
  'GET /v1/conversations/:id|STATUS_CODE_UNSET|globex': 2,
  'GET /v1/conversations/:id|STATUS_CODE_UNSET|invalid': 2,
  'GET /v1/conversations/:id|STATUS_CODE_UNSET|unknown': 1,
  'POST /v1/conversations/:id/messages|STATUS_CODE_UNSET|acme': 2,
  // A 404 answered by the app is not an error on a server span.
  'GET /v1/users/:id|STATUS_CODE_UNSET|acme': 2,
  'GET /v1/boom|STATUS_CODE_ERROR|acme': 1,
  'GET /v1/boom|STATUS_CODE_ERROR|globex': 2,
  // No route matched: instrumentation-http names the span by method only.
  'GET|STATUS_CODE_UNSET|unknown': 1,
  'POST /auth/session|STATUS_CODE_UNSET|initech': 1,
  'GET /v1/relay|STATUS_CODE_UNSET|acme': 1,
};

type Samples = ReturnType<typeof parseMetrics>;

/** Sends one request; the `req` query parameter makes each URL unique. */
async function send(base: string, req: Req, n: number): Promise<number> {
  const headers: Record<string, string> = {};
  if (req.tenant !== undefined) headers['x-tenant-id'] = req.tenant;
  let body: string | undefined;
  if (req.body !== undefined) {
    body = JSON.stringify(req.body);
    headers['content-type'] = 'application/json';
  }
  const sep = req.path.includes('?') ? '&' : '?';
  const res = await fetch(`${base}${req.path}${sep}req=${n}`, { method: req.method, headers, body });
  await res.arrayBuffer();
  return res.status;
}

/** Samples of `name` as `label1|label2|… -> value`, keyed by `keys` in order, filtered by `match`. */
function table(samples: Samples, name: string, keys: string[], match: Record<string, string> = {}): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    if (s.name !== name) continue;
    if (!Object.entries(match).every(([k, v]) => s.labels[k] === v)) continue;
    const key = keys.map((k) => s.labels[k]).join('|');
    out[key] = (out[key] ?? 0) + s.value;
  }
  return out;
}

/** The same table from an OTLP metric: attribute keys with `.` become `_`, as in Prometheus. */
function otlpTable(m: ReceivedMetric | undefined, keys: string[], field: 'value' | 'count' = 'value', match: Record<string, string> = {}): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of m?.dataPoints ?? []) {
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(p.attributes)) labels[k.replace(/\./g, '_')] = String(v);
    if (!Object.entries(match).every(([k, v]) => labels[k] === v)) continue;
    const key = keys.map((k) => labels[k]).join('|');
    const v = (field === 'value' ? p.value : p.count) ?? 0;
    if (v === 0) continue; // pre-created zero series are not traffic
    out[key] = (out[key] ?? 0) + v;
  }
  return out;
}

function dropZeros(t: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(t)) if (v !== 0) out[k] = v;
  return out;
}

/** Polls `fn` until it returns true; bounded in time. */
async function until(fn: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

function otlpEnv(receiver: OtlpReceiver, protocol: string): Record<string, string> {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
    OTEL_BSP_SCHEDULE_DELAY: '100',
    OTEL_METRIC_EXPORT_INTERVAL: '300',
  };
}

/** The chat app's server span of request number `n` (found by its unique query string). */
function serverSpanOf(spans: ReceivedSpan[], n: number): ReceivedSpan | undefined {
  return spans.find(
    (s) => s.kind === SERVER && s.resource['service.name'] === SERVICE && new URLSearchParams(String(s.attributes['url.query'] ?? '')).get('req') === String(n)
  );
}

for (const protocol of ['http/protobuf', 'http/json'] as const) {
  describe(`CJS chat app under --require, OTLP ${protocol}`, () => {
    let receiver: OtlpReceiver;
    let downstream: RunningFixture;
    let app: RunningFixture;
    let promPort: number;
    let samples: Samples;
    const statuses: number[] = [];

    before(async () => {
      receiver = await startOtlpReceiver();
      downstream = await startFixture('downstream.js', {
        env: { ...otlpEnv(receiver, protocol), OTEL_SERVICE_NAME: 'downstream', OTEL_METRICS_EXPORTER: 'none' },
      });
      promPort = await freePort();
      app = await startFixture('chat-app.js', {
        env: {
          ...otlpEnv(receiver, protocol),
          OTEL_SERVICE_NAME: SERVICE,
          OTEL_METRICS_EXPORTER: 'prometheus,otlp',
          OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
          OTEL_EXPORTER_PROMETHEUS_PORT: String(promPort),
          DOWNSTREAM_PORT: String(downstream.port),
        },
      });
      const base = `http://127.0.0.1:${app.port}`;
      for (let i = 0; i < MIX.length; i++) statuses.push(await send(base, MIX[i], i));
      // Server spans end when the response is flushed, which can be a moment after the client has read it.
      await until(
        async () => {
          samples = parseMetrics(await scrape(promPort));
          return (
            sumOf(samples, 'http_requests_total') === TOTAL &&
            sumOf(samples, 'traces_span_metrics_calls_total', { span_kind: 'SPAN_KIND_SERVER' }) === TOTAL
          );
        },
        10000,
        `${TOTAL} requests on /metrics`
      );
      await receiver.waitFor(
        () =>
          receiver.spans.filter((s) => s.kind === SERVER && s.resource['service.name'] === SERVICE).length >= TOTAL &&
          receiver.spans.filter((s) => s.kind === SERVER && s.resource['service.name'] === 'downstream').length >= 2,
        10000,
        'all server spans over OTLP'
      );
      await receiver.waitFor(
        () => {
          const m = receiver.latest('http_requests');
          const calls = receiver.latest('traces.span.metrics.calls');
          return (
            (m?.dataPoints.reduce((a, p) => a + (p.value ?? 0), 0) ?? 0) === TOTAL &&
            Object.values(otlpTable(calls, [], 'value', { span_kind: 'SPAN_KIND_SERVER' })).reduce((a, b) => a + b, 0) === TOTAL
          );
        },
        10000,
        'OTLP metrics covering the whole mix'
      );
    });

    after(async () => {
      await app?.stop();
      await downstream?.stop();
      await receiver?.close();
    });

    it('the app answers the mix as it would without instrumentation', () => {
      assert.deepEqual(
        statuses,
        MIX.map((m) => m.status)
      );
    });

    it(`exports with ${protocol} only and every payload decodes`, () => {
      const type = protocol === 'http/protobuf' ? 'application/x-protobuf' : 'application/json';
      assert.deepEqual(receiver.errors, []);
      assert.ok(receiver.requests.length > 0);
      assert.deepEqual(
        [...new Set(receiver.requests.map((x) => x.split(' ')[2]))],
        [type]
      );
      assert.deepEqual([...new Set(receiver.spans.map((s) => s.encoding))], [protocol === 'http/protobuf' ? 'protobuf' : 'json']);
    });

    it('exports each request exactly once: one server span per request', () => {
      const server = receiver.spans.filter((s) => s.kind === SERVER && s.resource['service.name'] === SERVICE);
      assert.equal(server.length, TOTAL);
      for (let i = 0; i < TOTAL; i++) assert.ok(serverSpanOf(receiver.spans, i), `server span of request ${i} (${MIX[i].path})`);
    });

    it('every span of a request carries the tenant.id of its header; invalid header -> invalid, none -> unknown', () => {
      for (let i = 0; i < TOTAL; i++) {
        const server = serverSpanOf(receiver.spans, i)!;
        const trace = receiver.spans.filter((s) => s.traceId === server.traceId && s.resource['service.name'] === SERVICE);
        const tenants = trace.map((s) => `${s.name}=${String(s.attributes['tenant.id'])}`);
        assert.deepEqual(tenants, trace.map((s) => `${s.name}=${MIX[i].expect}`), `request ${i} ${MIX[i].method} ${MIX[i].path}`);
      }
    });

    it('a conversation read yields server, express, pg and redis spans, all with the tenant, in one trace', () => {
      const server = serverSpanOf(receiver.spans, 0)!;
      const trace = receiver.spans.filter((s) => s.traceId === server.traceId);
      const names = trace.map((s) => s.name).sort();
      assert.deepEqual(names, [
        'GET /v1/conversations/:id',
        'get',
        'middleware - jsonParser',
        'pg-pool.connect',
        'pg.query:SELECT postgres',
        'request handler',
      ]);
      assert.equal(server.parentSpanId, '');
      for (const s of trace) {
        assert.equal(s.attributes['tenant.id'], 'acme', s.name);
        if (s !== server) assert.notEqual(s.parentSpanId, '', `${s.name} has a parent`);
      }
      assert.equal(trace.find((s) => s.name === 'get')!.kind, CLIENT);
      assert.equal(trace.find((s) => s.name === 'pg.query:SELECT postgres')!.kind, CLIENT);
    });

    it('a tenant set after the auth query lands on the server span, on spans after it, and on the request metrics', () => {
      const i = MIX.findIndex((m) => m.path === '/auth/session');
      const server = serverSpanOf(receiver.spans, i)!;
      const trace = receiver.spans.filter((s) => s.traceId === server.traceId);
      assert.equal(server.attributes['tenant.id'], 'initech');
      // The redis SET starts after setTenant; the pg query that ran before it is stamped with the final tenant too.
      assert.equal(trace.find((s) => s.name === 'set')?.attributes['tenant.id'], 'initech');
      assert.equal(trace.find((s) => s.name === 'pg.query:SELECT postgres')?.attributes['tenant.id'], 'initech');
      assert.equal(sumOf(samples, 'http_requests_total', { endpoint: '/auth/session', tenant_id: 'initech' }), 1);
      assert.equal(sumOf(samples, 'http_requests_total', { endpoint: '/auth/session' }), 1);
    });

    it('http_requests_total on /metrics: exact count per method, route template, status and tenant', () => {
      assert.deepEqual(dropZeros(table(samples, 'http_requests_total', ['method', 'endpoint', 'status', 'tenant_id'])), EXPECTED_REQUESTS);
      assert.deepEqual(
        [...new Set(samples.filter((s) => s.name === 'http_requests_total').map((s) => s.labels.service))],
        [SERVICE]
      );
      // Raw ids never become label values.
      for (const s of samples) assert.ok(!/\/(1|2|3|4|999|12345)(\/|$)/.test(s.labels.endpoint ?? ''), `raw id in ${JSON.stringify(s.labels)}`);
    });

    it('http_request_duration_seconds on /metrics: exact counts per method, endpoint and tenant, seed buckets', () => {
      assert.deepEqual(dropZeros(table(samples, 'http_request_duration_seconds_count', ['method', 'endpoint', 'tenant_id'])), EXPECTED_DURATION_COUNTS);
      assert.deepEqual(dropZeros(table(samples, 'http_request_duration_seconds_bucket', ['method', 'endpoint', 'tenant_id'], { le: '+Inf' })), EXPECTED_DURATION_COUNTS);
      const les = samples
        .filter((s) => s.name === 'http_request_duration_seconds_bucket' && s.labels.endpoint === '/v1/relay')
        .map((s) => s.labels.le);
      assert.deepEqual(les, ['0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf']);
    });

    it('http_request_size_bytes from content-length: two 16-byte message posts, one 13-byte auth post, no GET sizes', () => {
      assert.deepEqual(dropZeros(table(samples, 'http_request_size_bytes_count', ['method', 'endpoint', 'service'])), {
        'POST|/v1/conversations/:id/messages|chat-app': 2,
        'POST|/auth/session|chat-app': 1,
      });
      assert.deepEqual(dropZeros(table(samples, 'http_request_size_bytes_sum', ['method', 'endpoint'])), {
        'POST|/v1/conversations/:id/messages': 32,
        'POST|/auth/session': 13,
      });
    });

    it('errors_total counts the thrown errors per tenant under their class name; 404s are not errors', () => {
      assert.deepEqual(table(samples, 'errors_total', ['error_type', 'service', 'tenant_id']), {
        'TypeError|chat-app|acme': 1,
        'TypeError|chat-app|globex': 2,
      });
    });

    it('traces_span_metrics_calls_total: exact server calls per span name, status code and tenant', () => {
      assert.deepEqual(
        dropZeros(table(samples, 'traces_span_metrics_calls_total', ['span_name', 'status_code', 'tenant_id'], { span_kind: 'SPAN_KIND_SERVER', service_name: SERVICE })),
        EXPECTED_SERVER_CALLS
      );
      assert.equal(
        sumOf(samples, 'traces_span_metrics_calls_total', { service_name: SERVICE, span_kind: 'SPAN_KIND_SERVER', status_code: 'STATUS_CODE_ERROR', tenant_id: 'globex' }),
        2
      );
      // Client spans too: one redis GET per conversation read, one redis SET per login, two outbound GETs from the relay.
      assert.deepEqual(dropZeros(table(samples, 'traces_span_metrics_calls_total', ['span_name', 'tenant_id'], { span_kind: 'SPAN_KIND_CLIENT', span_name: 'get' })), {
        'get|acme': 3,
        'get|globex': 2,
        'get|invalid': 2,
        'get|unknown': 1,
      });
      assert.equal(sumOf(samples, 'traces_span_metrics_calls_total', { span_kind: 'SPAN_KIND_CLIENT', span_name: 'set', tenant_id: 'initech' }), 1);
      assert.equal(sumOf(samples, 'traces_span_metrics_calls_total', { span_kind: 'SPAN_KIND_CLIENT', span_name: 'pg.query:INSERT postgres', tenant_id: 'acme' }), 2);
      assert.equal(sumOf(samples, 'traces_span_metrics_calls_total', { span_kind: 'SPAN_KIND_CLIENT', span_name: 'GET', tenant_id: 'acme' }), 2);
    });

    it('traces_span_metrics_duration_milliseconds_bucket: +Inf and _count equal the calls, connector buckets', () => {
      const match = { span_kind: 'SPAN_KIND_SERVER', service_name: SERVICE };
      const keys = ['span_name', 'status_code', 'tenant_id'];
      assert.deepEqual(dropZeros(table(samples, 'traces_span_metrics_duration_milliseconds_bucket', keys, { ...match, le: '+Inf' })), EXPECTED_SERVER_CALLS);
      assert.deepEqual(dropZeros(table(samples, 'traces_span_metrics_duration_milliseconds_count', keys, match)), EXPECTED_SERVER_CALLS);
      const les = samples
        .filter((s) => s.name === 'traces_span_metrics_duration_milliseconds_bucket' && s.labels.span_name === 'GET /v1/relay')
        .map((s) => s.labels.le);
      assert.deepEqual(les, ['2', '4', '6', '8', '10', '50', '100', '200', '400', '800', '1000', '1400', '2000', '5000', '10000', '15000', '+Inf']);
    });

    it('the OTLP metrics carry the same values as /metrics', () => {
      assert.deepEqual(
        otlpTable(receiver.latest('http_requests'), ['method', 'endpoint', 'status', 'tenant_id']),
        EXPECTED_REQUESTS
      );
      assert.deepEqual(otlpTable(receiver.latest('errors'), ['error_type', 'service', 'tenant_id']), table(samples, 'errors_total', ['error_type', 'service', 'tenant_id']));
      assert.deepEqual(
        otlpTable(receiver.latest('http_request_duration_seconds'), ['method', 'endpoint', 'tenant_id'], 'count'),
        EXPECTED_DURATION_COUNTS
      );
      assert.deepEqual(
        otlpTable(receiver.latest('http_request_size_bytes'), ['method', 'endpoint', 'service'], 'count'),
        dropZeros(table(samples, 'http_request_size_bytes_count', ['method', 'endpoint', 'service']))
      );
      const keys = ['service_name', 'span_name', 'span_kind', 'status_code', 'tenant_id'];
      assert.deepEqual(otlpTable(receiver.latest('traces.span.metrics.calls'), keys), dropZeros(table(samples, 'traces_span_metrics_calls_total', keys)));
      assert.deepEqual(
        otlpTable(receiver.latest('traces.span.metrics.duration'), keys, 'count'),
        dropZeros(table(samples, 'traces_span_metrics_duration_milliseconds_count', keys))
      );
      assert.equal(receiver.latest('traces.span.metrics.duration')?.unit, 'ms');
      assert.equal(receiver.latest('http_request_duration_seconds')?.unit, 's');
    });

    it('the downstream service continues the tenant from baggage (fetch and http.request)', () => {
      const i = MIX.findIndex((m) => m.path.startsWith('/v1/relay'));
      const relay = serverSpanOf(receiver.spans, i)!;
      const down = receiver.spans.filter((s) => s.kind === SERVER && s.resource['service.name'] === 'downstream');
      assert.deepEqual(
        down.map((s) => `${s.attributes['url.query']} ${s.traceId === relay.traceId} ${s.attributes['tenant.id']}`).sort(),
        ['via=fetch true acme', 'via=http true acme']
      );
      // The client spans that made those calls belong to the relay request and carry its tenant.
      const clients = receiver.spans.filter((s) => s.traceId === relay.traceId && s.kind === CLIENT && s.resource['service.name'] === SERVICE && s.name === 'GET');
      assert.deepEqual(clients.map((s) => s.attributes['tenant.id']), ['acme', 'acme']);
    });
  });
}

describe('baggage goes only to hosts TENANTSCOPE_BAGGAGE_HOSTS allows', () => {
  let receiver: OtlpReceiver;
  let downstream: RunningFixture;
  let app: RunningFixture;

  before(async () => {
    receiver = await startOtlpReceiver();
    downstream = await startFixture('downstream.js', {
      env: { ...otlpEnv(receiver, 'http/protobuf'), OTEL_SERVICE_NAME: 'downstream', OTEL_METRICS_EXPORTER: 'none' },
    });
    app = await startFixture('chat-app.js', {
      env: {
        ...otlpEnv(receiver, 'http/protobuf'),
        OTEL_SERVICE_NAME: SERVICE,
        OTEL_METRICS_EXPORTER: 'none',
        TENANTSCOPE_BAGGAGE_HOSTS: 'localhost',
        DOWNSTREAM_PORT: String(downstream.port),
      },
    });
  });

  after(async () => {
    await app?.stop();
    await downstream?.stop();
    await receiver?.close();
  });

  async function relay(host: string): Promise<{ fetch: { baggage: string | null }; http: { baggage: string | null } }> {
    const res = await fetch(`http://127.0.0.1:${app.port}/v1/relay?host=${host}`, { headers: { 'x-tenant-id': 'acme' } });
    assert.equal(res.status, 200);
    return (await res.json()) as { fetch: { baggage: string | null }; http: { baggage: string | null } };
  }

  /** Server spans of the downstream in the trace of the relay request that called `host`, once all have arrived. */
  async function downstreamSpans(host: string): Promise<ReceivedSpan[]> {
    const relaySpan = (): ReceivedSpan | undefined =>
      receiver.spans.find((s) => s.kind === SERVER && s.resource['service.name'] === SERVICE && s.attributes['url.query'] === `host=${host}`);
    const down = (): ReceivedSpan[] =>
      receiver.spans.filter((s) => s.kind === SERVER && s.resource['service.name'] === 'downstream' && s.traceId === relaySpan()?.traceId);
    await receiver.waitFor(() => down().length >= 2, 10000, `downstream spans of the call to ${host}`);
    assert.equal(relaySpan()!.attributes['tenant.id'], 'acme');
    return down();
  }

  it('an allowed host (localhost) gets tenant.id=acme in baggage from fetch and http.request', async () => {
    const seen = await relay('localhost');
    assert.equal(seen.fetch.baggage, 'tenant.id=acme');
    assert.equal(seen.http.baggage, 'tenant.id=acme');
    assert.deepEqual((await downstreamSpans('localhost')).map((s) => s.attributes['tenant.id']), ['acme', 'acme']);
  });

  it('a host not listed (127.0.0.1) gets no baggage, and the downstream span says unknown', async () => {
    const seen = await relay('127.0.0.1');
    assert.equal(seen.fetch.baggage, null);
    assert.equal(seen.http.baggage, null);
    // The trace itself still continues (trace context is not tenant data), but the tenant does not.
    assert.deepEqual((await downstreamSpans('127.0.0.1')).map((s) => s.attributes['tenant.id']), ['unknown', 'unknown']);
  });
});

describe('OTEL_TRACES_EXPORTER=none', () => {
  it('exports no spans but still serves the span-derived metrics with exact counts', async () => {
    const receiver = await startOtlpReceiver();
    const promPort = await freePort();
    const app = await startFixture('chat-app.js', {
      env: {
        ...otlpEnv(receiver, 'http/protobuf'),
        OTEL_SERVICE_NAME: SERVICE,
        OTEL_TRACES_EXPORTER: 'none',
        OTEL_METRICS_EXPORTER: 'prometheus',
        OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
        OTEL_EXPORTER_PROMETHEUS_PORT: String(promPort),
      },
    });
    try {
      const base = `http://127.0.0.1:${app.port}`;
      const mix: Req[] = [
        ...r(2, { method: 'GET', path: '/v1/conversations/7', tenant: 'acme', status: 200, expect: 'acme' }),
        ...r(1, { method: 'GET', path: '/v1/boom', tenant: 'globex', status: 500, expect: 'globex' }),
      ];
      for (let i = 0; i < mix.length; i++) assert.equal(await send(base, mix[i], i), mix[i].status);
      let samples: Samples = [];
      await until(
        async () => {
          samples = parseMetrics(await scrape(promPort));
          return sumOf(samples, 'http_requests_total') === 3;
        },
        10000,
        '3 requests on /metrics'
      );
      assert.deepEqual(dropZeros(table(samples, 'http_requests_total', ['method', 'endpoint', 'status', 'tenant_id'])), {
        'GET|/v1/conversations/:id|200|acme': 2,
        'GET|/v1/boom|500|globex': 1,
      });
      assert.deepEqual(table(samples, 'errors_total', ['error_type', 'tenant_id']), { 'TypeError|globex': 1 });
      assert.deepEqual(
        dropZeros(table(samples, 'traces_span_metrics_calls_total', ['span_name', 'status_code', 'tenant_id'], { span_kind: 'SPAN_KIND_SERVER' })),
        { 'GET /v1/conversations/:id|STATUS_CODE_UNSET|acme': 2, 'GET /v1/boom|STATUS_CODE_ERROR|globex': 1 }
      );
      // Ten schedule delays later, still nothing was sent anywhere.
      await new Promise((res) => setTimeout(res, 1000));
      assert.deepEqual(receiver.requests, []);
    } finally {
      await app.stop();
      await receiver.close();
    }
  });
});

describe('OTEL_SDK_DISABLED=true', () => {
  it('yields no spans, no metrics endpoint, and the app works, late setTenant included', async () => {
    const receiver = await startOtlpReceiver();
    const promPort = await freePort();
    const app = await startFixture('chat-app.js', {
      env: {
        ...otlpEnv(receiver, 'http/protobuf'),
        OTEL_SDK_DISABLED: 'true',
        OTEL_SERVICE_NAME: SERVICE,
        OTEL_METRICS_EXPORTER: 'prometheus,otlp',
        OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
        OTEL_EXPORTER_PROMETHEUS_PORT: String(promPort),
      },
    });
    try {
      const base = `http://127.0.0.1:${app.port}`;
      const mix: Req[] = [
        { method: 'GET', path: '/v1/conversations/8', tenant: 'acme', status: 200, expect: 'acme' },
        { method: 'POST', path: '/v1/conversations/8/messages', tenant: 'acme', body: { text: 'hi' }, status: 201, expect: 'acme' },
        { method: 'GET', path: '/v1/boom', tenant: 'acme', status: 500, expect: 'acme' },
        { method: 'POST', path: '/auth/session', body: { user: 'u2' }, status: 200, expect: 'umbrella' },
      ];
      for (let i = 0; i < mix.length; i++) assert.equal(await send(base, mix[i], i), mix[i].status, mix[i].path);
      await assert.rejects(fetch(`http://127.0.0.1:${promPort}/metrics`), /fetch failed/);
      await new Promise((res) => setTimeout(res, 1000));
      assert.deepEqual(receiver.requests, []);
      // Not even a warning about the setTenant call the app made: nothing is running to warn about.
      assert.equal(app.stderr(), '');
    } finally {
      await app.stop();
      await receiver.close();
    }
  });
});
