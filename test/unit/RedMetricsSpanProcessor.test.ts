/**
 * RedMetricsSpanProcessor through a real TracerProvider (with the tenant processor in front, as in the SDK
 * wiring), read back through the MetricStore's export path. Span times are given explicitly, so durations
 * and bucket counts are exact.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, type Attributes, type Context } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { DataPointType, type Histogram } from '@opentelemetry/sdk-metrics';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { RedMetricsSpanProcessor } from '../../processors/RedMetricsSpanProcessor';
import { TenantSpanProcessor } from '../../processors/TenantSpanProcessor';
import { EndpointNormalizer } from '../../src/core/EndpointNormalizer';
import { MetricStore } from '../../src/core/metrics/MetricStore';
import { TENANT_CONTEXT_KEY, TenantCell } from '../../src/core/tenant/TenantCell';
import { useTenantApi } from '../helpers/tenant';
import { TenantRegistry } from '../../src/core/tenant/TenantRegistry';

interface Options {
  maxTenants?: number;
  maxEndpoints?: number;
  maxSpanNames?: number;
  maxErrorTypes?: number;
}

function pipeline(o: Options = {}) {
  const tenants = new TenantRegistry({ maxTenants: o.maxTenants ?? 100 });
  useTenantApi(tenants);
  const store = new MetricStore(resourceFromAttributes({ 'service.name': 'svc' }));
  const red = new RedMetricsSpanProcessor({
    store,
    tenants,
    endpoints: new EndpointNormalizer({ maxEndpoints: o.maxEndpoints ?? 100 }),
    serviceName: 'svc',
    maxSpanNames: o.maxSpanNames ?? 100,
    maxErrorTypes: o.maxErrorTypes ?? 100,
  });
  const provider = new TracerProvider({ spanProcessors: [new TenantSpanProcessor(), red] });
  const tracer = provider.getTracer('test');

  /** Context of a request whose tenant header was `tenant` (undefined: no header). */
  const request = (tenant?: string): Context => ROOT_CONTEXT.setValue(TENANT_CONTEXT_KEY, new TenantCell(tenants, tenant));

  interface SpanSpec {
    name: string;
    kind: SpanKind;
    tenant?: string;
    ctx?: Context;
    attributes?: Attributes;
    status?: SpanStatusCode;
    ms?: number;
    exception?: Error;
  }
  const span = (s: SpanSpec): void => {
    const sp = tracer.startSpan(s.name, { kind: s.kind, attributes: s.attributes, startTime: [1000, 0] }, s.ctx ?? request(s.tenant));
    if (s.exception !== undefined) sp.recordException(s.exception);
    if (s.status !== undefined) sp.setStatus({ code: s.status });
    const ms = s.ms ?? 1;
    sp.end([1000 + Math.floor(ms / 1000), (ms % 1000) * 1e6]);
  };
  const server = (tenant: string | undefined, route: string | undefined, path: string, status: number, extra: Partial<SpanSpec> = {}): void =>
    span({
      name: route === undefined ? 'GET' : `GET ${route}`,
      kind: SpanKind.SERVER,
      tenant,
      attributes: {
        'http.request.method': 'GET',
        'url.path': path,
        'http.response.status_code': status,
        ...(route === undefined ? {} : { 'http.route': route }),
        ...extra.attributes,
      },
      status: extra.status ?? (status >= 500 ? SpanStatusCode.ERROR : undefined),
      ms: extra.ms,
      exception: extra.exception,
      ctx: extra.ctx,
    });

  /** Every data point of metric `name`, as `label=value,…` → value (counters) or histogram. */
  const read = async (name: string): Promise<Map<string, number | Histogram>> => {
    const { resourceMetrics } = await store.collect();
    const out = new Map<string, number | Histogram>();
    for (const m of resourceMetrics.scopeMetrics[0].metrics) {
      if (m.descriptor.name !== name) continue;
      for (const p of m.dataPoints) {
        const key = Object.entries(p.attributes)
          .map(([k, v]) => `${k}=${String(v)}`)
          .join(',');
        out.set(key, m.dataPointType === DataPointType.HISTOGRAM ? (p.value as Histogram) : (p.value as number));
      }
    }
    return out;
  };
  const counters = async (name: string): Promise<Record<string, number>> => Object.fromEntries(await read(name)) as Record<string, number>;
  return { span, server, request, read, counters, tenants };
}

test('an HTTP server span feeds the seed RED family and the spanmetrics family with exact labels', async () => {
  const p = pipeline();
  p.server('acme', '/chats/:id', '/chats/42', 200, { ms: 150, attributes: { 'http.request.body.size': 512 } });
  p.server('acme', '/chats/:id', '/chats/43', 200, { ms: 30 });
  p.server('globex', '/chats/:id', '/chats/44', 201, { ms: 3000 });
  assert.deepEqual(await p.counters('http_requests'), {
    'method=GET,endpoint=/chats/:id,status=200,tenant_id=acme,service=svc': 2,
    'method=GET,endpoint=/chats/:id,status=201,tenant_id=globex,service=svc': 1,
  });
  const dur = await p.read('http_request_duration_seconds');
  const acme = dur.get('method=GET,endpoint=/chats/:id,tenant_id=acme,service=svc') as Histogram;
  // Buckets [0.1, 0.25, 0.5, 1, 2.5, 5, 10]: 0.03 s and 0.15 s.
  assert.deepEqual(acme.buckets.counts, [1, 1, 0, 0, 0, 0, 0, 0]);
  assert.equal(acme.count, 2);
  assert.ok(Math.abs((acme.sum ?? 0) - 0.18) < 1e-9);
  assert.deepEqual((dur.get('method=GET,endpoint=/chats/:id,tenant_id=globex,service=svc') as Histogram).buckets.counts, [0, 0, 0, 0, 0, 1, 0, 0]);
  const size = (await p.read('http_request_size_bytes')).get('method=GET,endpoint=/chats/:id,service=svc') as Histogram;
  assert.equal(size.count, 1);
  assert.equal(size.sum, 512);
  assert.deepEqual(await p.counters('traces.span.metrics.calls'), {
    'service.name=svc,span.name=GET /chats/:id,span.kind=SPAN_KIND_SERVER,status.code=STATUS_CODE_UNSET,tenant.id=acme': 2,
    'service.name=svc,span.name=GET /chats/:id,span.kind=SPAN_KIND_SERVER,status.code=STATUS_CODE_UNSET,tenant.id=globex': 1,
  });
  const sd = (await p.read('traces.span.metrics.duration')).get(
    'service.name=svc,span.name=GET /chats/:id,span.kind=SPAN_KIND_SERVER,status.code=STATUS_CODE_UNSET,tenant.id=acme'
  ) as Histogram;
  // ms buckets [2,4,6,8,10,50,100,200,…]: 30 ms and 150 ms.
  assert.deepEqual(sd.buckets.counts, [0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(await p.counters('errors').then((e) => Object.keys(e).length), 0);
});

test('request-duration histograms report the recorded min and max, in the server span tuple\'s array and through the maps', async () => {
  // Regression: a server span tuple's array was created without its request histogram's min/max reset (the
  // layout check compared against the wrong length), so OTLP reported min 0 for the first request tuple.
  const p = pipeline();
  // Span name `GET` for both endpoints: /users/:id is claimed into the span tuple's array, /orders/:id (same
  // span tuple, another request tuple) resolves through the maps.
  p.server('acme', undefined, '/users/1', 200, { ms: 150 });
  p.server('acme', undefined, '/users/2', 200, { ms: 30 });
  p.server('acme', undefined, '/orders/1', 200, { ms: 700 });
  p.server('acme', undefined, '/orders/2', 200, { ms: 40 });
  const dur = await p.read('http_request_duration_seconds');
  const users = dur.get('method=GET,endpoint=/users/:id,tenant_id=acme,service=svc') as Histogram;
  const orders = dur.get('method=GET,endpoint=/orders/:id,tenant_id=acme,service=svc') as Histogram;
  assert.deepEqual([users.count, users.min, users.max], [2, 0.03, 0.15]);
  assert.deepEqual([orders.count, orders.min, orders.max], [2, 0.04, 0.7]);
  const span = (await p.read('traces.span.metrics.duration')).get(
    'service.name=svc,span.name=GET,span.kind=SPAN_KIND_SERVER,status.code=STATUS_CODE_UNSET,tenant.id=acme'
  ) as Histogram;
  assert.deepEqual([span.count, span.min, span.max], [4, 30, 700]);
});

test('client and internal spans feed spanmetrics only; no header is tenant unknown', async () => {
  const p = pipeline();
  p.span({ name: 'SELECT chats', kind: SpanKind.CLIENT, tenant: 'acme' });
  p.span({ name: 'SELECT chats', kind: SpanKind.CLIENT, tenant: 'acme' });
  p.span({ name: 'render', kind: SpanKind.INTERNAL });
  assert.deepEqual(await p.counters('traces.span.metrics.calls'), {
    'service.name=svc,span.name=SELECT chats,span.kind=SPAN_KIND_CLIENT,status.code=STATUS_CODE_UNSET,tenant.id=acme': 2,
    'service.name=svc,span.name=render,span.kind=SPAN_KIND_INTERNAL,status.code=STATUS_CODE_UNSET,tenant.id=unknown': 1,
  });
  assert.deepEqual(await p.counters('http_requests'), {});
  assert.deepEqual(await p.counters('errors'), {});
});

test('errors_total: error.type first, then the exception event type, then _OTHER', async () => {
  const p = pipeline();
  p.server('acme', '/a', '/a', 500, { attributes: { 'error.type': '500' }, exception: new RangeError('x') });
  p.server('acme', '/a', '/a', 500, { exception: new TypeError('boom') });
  p.server('acme', '/a', '/a', 503);
  p.server('globex', '/a', '/a', 500, { exception: new TypeError('boom') });
  assert.deepEqual(await p.counters('errors'), {
    'error_type=500,service=svc,tenant_id=acme': 1,
    'error_type=TypeError,service=svc,tenant_id=acme': 1,
    'error_type=_OTHER,service=svc,tenant_id=acme': 1,
    'error_type=TypeError,service=svc,tenant_id=globex': 1,
  });
  const calls = await p.counters('traces.span.metrics.calls');
  assert.equal(calls['service.name=svc,span.name=GET /a,span.kind=SPAN_KIND_SERVER,status.code=STATUS_CODE_ERROR,tenant.id=acme'], 3);
});

test('a 4xx is not an error', async () => {
  const p = pipeline();
  p.server('acme', '/a', '/a', 404);
  p.server('acme', '/a', '/a', 429);
  assert.deepEqual(await p.counters('errors'), {});
  assert.deepEqual(await p.counters('http_requests'), {
    'method=GET,endpoint=/a,status=404,tenant_id=acme,service=svc': 1,
    'method=GET,endpoint=/a,status=429,tenant_id=acme,service=svc': 1,
  });
});

test('consumer spans count errors and spanmetrics but not HTTP requests', async () => {
  const p = pipeline();
  p.span({ name: 'chat.jobs process', kind: SpanKind.CONSUMER, tenant: 'acme', status: SpanStatusCode.ERROR, attributes: { 'error.type': 'Timeout' } });
  p.span({ name: 'chat.jobs process', kind: SpanKind.CONSUMER, tenant: 'acme' });
  assert.deepEqual(await p.counters('errors'), { 'error_type=Timeout,service=svc,tenant_id=acme': 1 });
  assert.deepEqual(await p.counters('http_requests'), {});
  assert.deepEqual(await p.counters('traces.span.metrics.calls'), {
    'service.name=svc,span.name=chat.jobs process,span.kind=SPAN_KIND_CONSUMER,status.code=STATUS_CODE_ERROR,tenant.id=acme': 1,
    'service.name=svc,span.name=chat.jobs process,span.kind=SPAN_KIND_CONSUMER,status.code=STATUS_CODE_UNSET,tenant.id=acme': 1,
  });
});

test('raw paths are normalised; a 404 without a route is unmatched; odd methods and statuses are bounded', async () => {
  const p = pipeline();
  p.server('acme', undefined, '/users/12345', 200);
  p.server('acme', undefined, '/users/67890?x=1', 200);
  p.server('acme', undefined, '/.env', 404);
  p.span({ name: 'BREW', kind: SpanKind.SERVER, tenant: 'acme', attributes: { 'http.request.method': 'BREW', 'http.route': '/pot', 'http.response.status_code': 418 } });
  // instrumentation-http reports unknown methods as `_OTHER` (regression: that recursed until the stack overflowed).
  p.span({ name: 'HTTP', kind: SpanKind.SERVER, tenant: 'acme', attributes: { 'http.request.method': '_OTHER', 'http.route': '/pot', 'http.response.status_code': 418 } });
  p.span({ name: 'GET', kind: SpanKind.SERVER, tenant: 'acme', attributes: { 'http.request.method': 'GET', 'http.route': '/x', 'http.response.status_code': 99999 } });
  assert.deepEqual(await p.counters('http_requests'), {
    'method=GET,endpoint=/users/:id,status=200,tenant_id=acme,service=svc': 2,
    'method=GET,endpoint=unmatched,status=404,tenant_id=acme,service=svc': 1,
    'method=_OTHER,endpoint=/pot,status=418,tenant_id=acme,service=svc': 2,
    'method=GET,endpoint=/x,status=_OTHER,tenant_id=acme,service=svc': 1,
  });
});

test('tenants past the limit fold into overflow and every folded server span is counted', async () => {
  const p = pipeline({ maxTenants: 2 });
  for (const t of ['a', 'b', 'c', 'd', 'a', 'c', 'unknown']) p.server(t, '/x', '/x', 200);
  p.server(undefined, '/x', '/x', 200);
  p.span({ name: 'q', kind: SpanKind.CLIENT, tenant: 'e' }); // client spans fold too, but are not "requests folded"
  const req = await p.counters('http_requests');
  assert.deepEqual(req, {
    'method=GET,endpoint=/x,status=200,tenant_id=a,service=svc': 2,
    'method=GET,endpoint=/x,status=200,tenant_id=b,service=svc': 1,
    'method=GET,endpoint=/x,status=200,tenant_id=overflow,service=svc': 3,
    'method=GET,endpoint=/x,status=200,tenant_id=invalid,service=svc': 1,
    'method=GET,endpoint=/x,status=200,tenant_id=unknown,service=svc': 1,
  });
  assert.deepEqual(await p.counters('tenantscope.tenants.folded'), { '': 3 });
  assert.equal((await p.counters('traces.span.metrics.calls'))['service.name=svc,span.name=q,span.kind=SPAN_KIND_CLIENT,status.code=STATUS_CODE_UNSET,tenant.id=overflow'], 1);
  assert.equal(p.tenants.admittedCount, 2);
});

test('endpoints past the limit fold into overflow and are counted', async () => {
  const p = pipeline({ maxEndpoints: 2 });
  for (const path of ['/a', '/b', '/c', '/d', '/a', '/c']) p.server('acme', undefined, path, 200);
  assert.deepEqual(await p.counters('http_requests'), {
    'method=GET,endpoint=/a,status=200,tenant_id=acme,service=svc': 2,
    'method=GET,endpoint=/b,status=200,tenant_id=acme,service=svc': 1,
    'method=GET,endpoint=overflow,status=200,tenant_id=acme,service=svc': 3,
  });
  assert.deepEqual(await p.counters('tenantscope.endpoints.folded'), { '': 3 });
});

test('span names past the limit fold into _OTHER and are counted', async () => {
  const p = pipeline({ maxSpanNames: 2 });
  for (const n of ['a', 'b', 'c', 'd', 'a', 'c']) p.span({ name: n, kind: SpanKind.INTERNAL, tenant: 'acme' });
  const key = (n: string): string => `service.name=svc,span.name=${n},span.kind=SPAN_KIND_INTERNAL,status.code=STATUS_CODE_UNSET,tenant.id=acme`;
  assert.deepEqual(await p.counters('traces.span.metrics.calls'), { [key('a')]: 2, [key('b')]: 1, [key('_OTHER')]: 3 });
  assert.deepEqual(await p.counters('tenantscope.labels.folded'), { 'label=span_name': 3, 'label=error_type': 0 });
});

test('error types past the limit, or longer than 128 characters, fold into _OTHER and are counted', async () => {
  const p = pipeline({ maxErrorTypes: 1 });
  for (const t of ['E1', 'E2', 'E1', 'E2', 'x'.repeat(129)]) p.server('acme', '/a', '/a', 500, { attributes: { 'error.type': t } });
  assert.deepEqual(await p.counters('errors'), {
    'error_type=E1,service=svc,tenant_id=acme': 2,
    'error_type=_OTHER,service=svc,tenant_id=acme': 3,
  });
  assert.deepEqual(await p.counters('tenantscope.labels.folded'), { 'label=span_name': 0, 'label=error_type': 3 });
});

test('a tenant set late in the request (after the span started) is the one counted', async () => {
  const p = pipeline();
  const ctx = p.request(undefined);
  const cell = ctx.getValue(TENANT_CONTEXT_KEY) as TenantCell;
  cell.set('late-tenant');
  p.span({ name: 'GET /a', kind: SpanKind.SERVER, ctx, attributes: { 'http.request.method': 'GET', 'http.route': '/a', 'http.response.status_code': 200 } });
  assert.deepEqual(await p.counters('http_requests'), { 'method=GET,endpoint=/a,status=200,tenant_id=late-tenant,service=svc': 1 });
});

test('a span with a tenant.id attribute but no request cell is labelled through the registry', async () => {
  const p = pipeline();
  p.span({ name: 'job', kind: SpanKind.INTERNAL, ctx: ROOT_CONTEXT, attributes: { 'tenant.id': 'acme' } });
  p.span({ name: 'job', kind: SpanKind.INTERNAL, ctx: ROOT_CONTEXT, attributes: { 'tenant.id': 'a"b' } });
  assert.deepEqual(await p.counters('traces.span.metrics.calls'), {
    'service.name=svc,span.name=job,span.kind=SPAN_KIND_INTERNAL,status.code=STATUS_CODE_UNSET,tenant.id=acme': 1,
    'service.name=svc,span.name=job,span.kind=SPAN_KIND_INTERNAL,status.code=STATUS_CODE_UNSET,tenant.id=invalid': 1,
  });
});

test('a million distinct tenant values keep the series bounded and the counts exact', async () => {
  const p = pipeline({ maxTenants: 1000 });
  const N = 1_000_000;
  const deadline = Date.now() + 120_000; // bounded in time as well as count
  let sent = 0;
  for (let i = 0; i < N && Date.now() < deadline; i++) {
    // Every tenth value is hostile (a space, so invalid); the rest are distinct valid ids.
    p.server(i % 10 === 0 ? `bad ${i}` : `u${i}`, '/chat', '/chat', 200);
    sent++;
  }
  assert.equal(sent, N, 'the loop ran out of time before a million spans');
  const req = await p.counters('http_requests');
  assert.equal(Object.keys(req).length, 1000 + 2);
  assert.equal(req['method=GET,endpoint=/chat,status=200,tenant_id=invalid,service=svc'], N / 10);
  assert.equal(req['method=GET,endpoint=/chat,status=200,tenant_id=overflow,service=svc'], (N * 9) / 10 - 1000);
  assert.equal(req['method=GET,endpoint=/chat,status=200,tenant_id=u1,service=svc'], 1);
  assert.equal(req['method=GET,endpoint=/chat,status=200,tenant_id=u1111,service=svc'], 1);
  assert.equal(req['method=GET,endpoint=/chat,status=200,tenant_id=u1112,service=svc'], undefined);
  assert.equal(Object.values(req).reduce((a, b) => a + b, 0), N);
  assert.deepEqual(await p.counters('tenantscope.tenants.folded'), { '': (N * 9) / 10 - 1000 });
  assert.equal(Object.keys(await p.counters('traces.span.metrics.calls')).length, 1000 + 2);
  assert.equal((await p.read('http_request_duration_seconds')).size, 1000 + 2);
  assert.equal(p.tenants.admittedCount, 1000);
});

test('labels come from the processor\'s own registry, never from the registry that created the tenant cell', async () => {
  const p = pipeline();
  // The processor's registry already admitted globex (dense index 3). The request cells below come from another
  // registry (as when two pipelines or a test harness build their own), where acme is admitted first (index 3).
  p.tenants.label('globex');
  const other = new TenantRegistry({ maxTenants: 100 });
  const acmeCell = new TenantCell(other, 'acme');
  other.indexOf(acmeCell);
  p.server(undefined, '/chats/:id', '/chats/1', 200, { ctx: ROOT_CONTEXT.setValue(TENANT_CONTEXT_KEY, acmeCell) });
  // A span with no tenant cell (tenant from its attribute only) resolves through the processor's registry too.
  p.span({ name: 'GET /chats/:id', kind: SpanKind.SERVER, ctx: ROOT_CONTEXT, attributes: { 'tenant.id': 'globex', 'http.request.method': 'GET', 'http.route': '/chats/:id', 'url.path': '/chats/2', 'http.response.status_code': 200 } });
  assert.deepEqual(await p.counters('http_requests'), {
    'method=GET,endpoint=/chats/:id,status=200,tenant_id=acme,service=svc': 1,
    'method=GET,endpoint=/chats/:id,status=200,tenant_id=globex,service=svc': 1,
  });
  // The cell now carries the answer of the processor's registry (acme is its index 4), not the other one's.
  assert.equal(acmeCell.cachedBy, p.tenants);
  assert.equal(acmeCell.cachedIndex, 4);
});
