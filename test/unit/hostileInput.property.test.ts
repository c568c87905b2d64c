/**
 * Property-based fuzzing (fast-check) of what a request brings in (issue 12): the tenant header, W3C baggage,
 * traceparent, tracestate and the URL path, through the real propagator, tenant registry, endpoint normaliser and
 * RED processor on a real TracerProvider. Properties: nothing throws, nothing is logged as skipped, every tenant id
 * on a span and every tenant and endpoint label is valid or reserved and bounded, and series stay bounded.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DiagLogLevel, ROOT_CONTEXT, SpanKind, defaultTextMapGetter, diag } from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import fc from 'fast-check';
import { RedMetricsSpanProcessor } from '../../processors/RedMetricsSpanProcessor';
import { TenantSpanProcessor } from '../../processors/TenantSpanProcessor';
import { EndpointNormalizer } from '../../src/core/EndpointNormalizer';
import { MetricStore } from '../../src/core/metrics/MetricStore';
import { HostPolicy } from '../../src/core/tenant/HostPolicy';
import { ModelEndpointPolicy } from '../../src/core/tenant/ModelEndpointPolicy';
import { getTenantCell } from '../../src/core/tenant/TenantCell';
import { TENANT_ID_PATTERN, TenantRegistry } from '../../src/core/tenant/TenantRegistry';
import { TenantPropagator } from '../../src/propagation/TenantPropagator';
import { useTenantApi } from '../helpers/tenant';

const MAX_TENANTS = 20;
const MAX_ENDPOINTS = 15;
const RESERVED_TENANTS = ['unknown', 'invalid', 'overflow'];
const ENDPOINT_LABEL = /^\/[A-Za-z0-9._~:*/-]*$/;

/** Characters an attacker likes: quotes, braces, separators, control and non-ASCII characters. */
const nasty = fc.constantFrom('"', "'", '{', '}', '\\', ',', ';', '=', '%', '\n', '\t', '\u0000', '\u00e9', '\u79df', '\ud83d\ude00', ' ', '/', '..', 'UNKNOWN', 'Invalid');
const idChar = fc.constantFrom(...'abcXYZ019._:-'.split(''));
/** Strings mixing valid id characters and nasty ones, sometimes long. */
const tenantish = fc.oneof(
  fc.array(fc.oneof(idChar, nasty), { maxLength: 80 }).map((a) => a.join('')),
  fc.string({ unit: 'binary', maxLength: 100 }),
  fc.constantFrom('unknown', 'UNKNOWN', 'Overflow', 'invalid', 'acme', 'x'.repeat(64), 'x'.repeat(65), '')
);
const hex = (n: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF-xz'.split('')), minLength: n, maxLength: n });
const traceparent = fc.oneof(
  fc.tuple(hex(2), hex(32), hex(16), hex(2)).map((p) => p.join('-')),
  fc.string({ unit: 'binary', maxLength: 120 })
);
const tracestate = fc.oneof(
  fc.array(fc.tuple(tenantish, tenantish).map(([k, v]) => `${k}=${v}`), { maxLength: 40 }).map((a) => a.join(',')),
  fc.string({ unit: 'binary', maxLength: 300 })
);
const baggage = fc.oneof(
  fc
    .array(
      fc.tuple(fc.oneof(fc.constant('tenant.id'), tenantish), tenantish, fc.option(tenantish)).map(([k, v, p]) => `${k}=${encodeURIComponent(v)}${p === null ? '' : `;${p}`}`),
      { maxLength: 20 }
    )
    .map((a) => a.join(',')),
  fc.string({ unit: 'binary', maxLength: 300 })
);
const segment = fc.oneof(
  fc.array(fc.oneof(idChar, nasty, fc.constantFrom('%2f', '%00', '?', '#', '&')), { maxLength: 40 }).map((a) => a.join('')),
  fc.integer({ min: 0, max: 1e9 }).map(String),
  fc.uuid(),
  fc.string({ unit: 'binary', maxLength: 50 })
);
const urlPath = fc.array(segment, { maxLength: 12 }).map((s) => '/' + s.join('/'));

test('hostile tenant, baggage, traceparent, tracestate and paths: no exception, valid bounded labels', async () => {
  const problems: string[] = [];
  diag.setLogger(
    {
      error: (m: string) => problems.push(m),
      warn: (m: string) => problems.push(m),
      info: () => undefined,
      debug: () => undefined,
      verbose: () => undefined,
    },
    { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true }
  );
  const tenants = new TenantRegistry({ maxTenants: MAX_TENANTS });
  useTenantApi(tenants);
  const store = new MetricStore(resourceFromAttributes({ 'service.name': 'svc' }), { maxSeries: 20_000 });
  const red = new RedMetricsSpanProcessor({
    store,
    tenants,
    endpoints: new EndpointNormalizer({ maxEndpoints: MAX_ENDPOINTS }),
    serviceName: 'svc',
    maxSpanNames: 50,
    maxErrorTypes: 10,
  });
  const tracer = new TracerProvider({ spanProcessors: [new TenantSpanProcessor(), red] }).getTracer('fuzz');
  const propagator = new TenantPropagator({
    inner: new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
    innerHasBaggage: true,
    header: 'x-tenant-id',
    tenants,
    baggageHosts: new HostPolicy(['private']),
    modelEndpoints: new ModelEndpointPolicy(),
  });
  let runs = 0;
  fc.assert(
    fc.property(
      fc.record({ tenant: fc.option(tenantish), baggage: fc.option(baggage), traceparent: fc.option(traceparent), tracestate: fc.option(tracestate), path: urlPath, status: fc.constantFrom(200, 404, 500) }),
      (r) => {
        runs++;
        const headers: Record<string, string> = {};
        if (r.tenant !== null) headers['x-tenant-id'] = r.tenant;
        if (r.baggage !== null) headers.baggage = r.baggage;
        if (r.traceparent !== null) headers.traceparent = r.traceparent;
        if (r.tracestate !== null) headers.tracestate = r.tracestate;
        const ctx = propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
        const id = getTenantCell(ctx)?.id ?? 'unknown';
        assert.ok(RESERVED_TENANTS.includes(id) || TENANT_ID_PATTERN.test(id), `span tenant id ${JSON.stringify(id)}`);
        // A reserved word in another case (UNKNOWN, Invalid) is never a tenant of its own.
        assert.ok(!RESERVED_TENANTS.includes(id.toLowerCase()) || RESERVED_TENANTS.includes(id), `span tenant id ${JSON.stringify(id)}`);
        const span = tracer.startSpan(
          'GET',
          { kind: SpanKind.SERVER, attributes: { 'http.request.method': 'GET', 'url.path': r.path, 'http.response.status_code': r.status } },
          ctx
        );
        const attr = span.isRecording() ? (span as unknown as { attributes: Record<string, unknown> }).attributes['tenant.id'] : undefined;
        span.end();
        if (attr !== undefined) assert.ok(RESERVED_TENANTS.includes(String(attr)) || TENANT_ID_PATTERN.test(String(attr)), `tenant.id ${JSON.stringify(attr)}`);
      }
    ),
    { numRuns: 2000, seed: Number(process.env.FUZZ_SEED ?? 12) }
  );
  assert.equal(runs, 2000);
  assert.deepEqual(problems, []);

  const { resourceMetrics } = await store.collect();
  const endpoints = new Set<string>();
  const tenantLabels = new Set<string>();
  for (const m of resourceMetrics.scopeMetrics[0].metrics) {
    for (const p of m.dataPoints) {
      const t = p.attributes.tenant_id ?? p.attributes['tenant.id'];
      if (t !== undefined) {
        assert.ok(RESERVED_TENANTS.includes(String(t)) || TENANT_ID_PATTERN.test(String(t)), `tenant label ${JSON.stringify(t)} on ${m.descriptor.name}`);
        tenantLabels.add(String(t));
      }
      const e = p.attributes.endpoint;
      if (e !== undefined) {
        const s = String(e);
        assert.ok(s === 'unmatched' || s === 'overflow' || ENDPOINT_LABEL.test(s), `endpoint label ${JSON.stringify(s)}`);
        assert.ok(s.length <= 8 * 65 + 2, `endpoint label of ${s.length} characters`);
        endpoints.add(s);
      }
    }
  }
  assert.ok(tenantLabels.size <= MAX_TENANTS + RESERVED_TENANTS.length, `${tenantLabels.size} tenant labels`);
  assert.ok(endpoints.size <= MAX_ENDPOINTS + 2, `${endpoints.size} endpoint labels`);
  // The fuzzer did reach the interesting cases: reserved labels and admitted tenants both occur.
  assert.ok(tenantLabels.has('invalid') && tenantLabels.has('unknown'), [...tenantLabels].join(' '));
  assert.ok(endpoints.has('overflow') || endpoints.size === MAX_ENDPOINTS, [...endpoints].join(' '));
});
