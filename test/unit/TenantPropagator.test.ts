import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import {
  ROOT_CONTEXT,
  SpanKind,
  defaultTextMapGetter,
  defaultTextMapSetter,
  propagation,
  trace,
  type Context,
} from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { HostPolicy } from '../../src/core/tenant/HostPolicy';
import { getTenantCell } from '../../src/core/tenant/TenantCell';
import { useTenantApi } from '../helpers/tenant';
import { GenAIInstrumentation } from '../../instrumentations/genai/instrumentation';
import { ModelEndpointPolicy } from '../../src/core/tenant/ModelEndpointPolicy';
import { TenantPropagator } from '../../src/propagation/TenantPropagator';
import { TenantRegistry } from '../../src/core/tenant/TenantRegistry';

const tracer = new TracerProvider().getTracer('test');

function propagator(withBaggage = true, modelEndpoints = new ModelEndpointPolicy()): TenantPropagator {
  const inner = withBaggage
    ? new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] })
    : new CompositePropagator({ propagators: [new W3CTraceContextPropagator()] });
  return new TenantPropagator({
    inner,
    innerHasBaggage: withBaggage,
    header: 'x-tenant-id',
    tenants,
    baggageHosts: new HostPolicy(['private']),
    modelEndpoints,
  });
}

function extract(headers: Record<string, string | string[]>, p = propagator()): Context {
  return p.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
}

/** Context of an outbound client span to `host` (and `port`), descending from `ctx`. */
function clientContext(ctx: Context, host: string, port?: number): Context {
  const attributes = port === undefined ? { 'server.address': host } : { 'server.address': host, 'server.port': port };
  const span = tracer.startSpan('GET', { kind: SpanKind.CLIENT, attributes }, ctx);
  return trace.setSpan(ctx, span);
}

let tenants = new TenantRegistry({ maxTenants: 100 });
beforeEach(() => {
  tenants = new TenantRegistry({ maxTenants: 100 });
  useTenantApi(tenants);
});

test('extract takes the tenant from the x-tenant-id header', () => {
  const cell = getTenantCell(extract({ 'x-tenant-id': 'acme' }));
  assert.equal(cell?.id, 'acme');
  assert.equal(cell?.forward, 'acme');
});

test('extract takes the tenant from the tenant.id baggage entry', () => {
  assert.equal(getTenantCell(extract({ baggage: 'session=s1,tenant.id=globex' }))?.id, 'globex');
});

test('the header wins over baggage', () => {
  assert.equal(getTenantCell(extract({ 'x-tenant-id': 'acme', baggage: 'tenant.id=globex' }))?.id, 'acme');
});

test('without header or baggage the request still gets a cell, tenant unknown', () => {
  const cell = getTenantCell(extract({}));
  assert.equal(cell?.id, 'unknown');
  assert.equal(cell?.forward, undefined);
});

test('an invalid or repeated header is invalid and is not forwarded', () => {
  const bad = getTenantCell(extract({ 'x-tenant-id': 'a"b' }));
  assert.equal(bad?.id, 'invalid');
  assert.equal(bad?.forward, undefined);
  assert.equal(getTenantCell(extract({ 'x-tenant-id': ['acme', 'globex'] }))?.id, 'invalid');
  assert.equal(getTenantCell(extract({ 'x-tenant-id': ['acme'] }))?.id, 'acme');
});

test('baggage is ignored when the baggage propagator is not configured', () => {
  assert.equal(getTenantCell(extract({ baggage: 'tenant.id=globex' }, propagator(false)))?.id, 'unknown');
});

test('the trace context is still extracted', () => {
  const ctx = extract({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', 'x-tenant-id': 'acme' });
  assert.equal(trace.getSpanContext(ctx)?.traceId, '0af7651916cd43dd8448eb211c80319c');
});

test('inject sends the tenant as baggage to an internal host', () => {
  const ctx = clientContext(extract({ 'x-tenant-id': 'acme' }), '10.0.0.5');
  const carrier: Record<string, string> = {};
  propagator().inject(ctx, carrier, defaultTextMapSetter);
  assert.equal(carrier.baggage, 'tenant.id=acme');
  assert.match(carrier.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
});

test('inject strips tenant.id from baggage bound for an external host and keeps other entries', () => {
  const ctx = clientContext(extract({ 'x-tenant-id': 'acme', baggage: 'tenant.id=acme,session=s1' }), 'api.openai.com');
  const carrier: Record<string, string> = {};
  propagator().inject(ctx, carrier, defaultTextMapSetter);
  assert.equal(carrier.baggage, 'session=s1');
});

test('inject sends no baggage at all to an external host when tenant.id was the only entry', () => {
  const ctx = clientContext(extract({ baggage: 'tenant.id=acme' }), 'api.anthropic.com');
  const carrier: Record<string, string> = {};
  propagator().inject(ctx, carrier, defaultTextMapSetter);
  assert.equal(carrier.baggage, undefined);
  assert.ok('traceparent' in carrier);
});

test('inject replaces a foreign tenant.id in baggage with the request tenant for internal hosts', () => {
  const ctx = clientContext(extract({ 'x-tenant-id': 'acme', baggage: 'tenant.id=evil' }), 'billing');
  const carrier: Record<string, string> = {};
  propagator().inject(ctx, carrier, defaultTextMapSetter);
  assert.equal(carrier.baggage, 'tenant.id=acme');
});

test('a model gateway listed with its port gets no tenant, even on a request no GenAI instrumentation marked', () => {
  const p = propagator(true, new ModelEndpointPolicy(['10.0.0.7:8443']));
  const gateway: Record<string, string> = {};
  p.inject(clientContext(extract({ 'x-tenant-id': 'acme' }, p), '10.0.0.7', 8443), gateway, defaultTextMapSetter);
  assert.equal(gateway.baggage, undefined);
  assert.ok('traceparent' in gateway);
  // The same address on another port is an ordinary internal service.
  const service: Record<string, string> = {};
  p.inject(clientContext(extract({ 'x-tenant-id': 'acme' }, p), '10.0.0.7', 8080), service, defaultTextMapSetter);
  assert.equal(service.baggage, 'tenant.id=acme');
});

test('an invalid tenant is never forwarded, and incoming tenant baggage is stripped', () => {
  const ctx = clientContext(extract({ 'x-tenant-id': 'a b', baggage: 'tenant.id=a%20b' }), '10.0.0.5');
  const carrier: Record<string, string> = {};
  propagator().inject(ctx, carrier, defaultTextMapSetter);
  assert.equal(carrier.baggage, undefined);
});

test('with only tracecontext configured, internal hosts still get the tenant baggage, external ones none', () => {
  const p = propagator(false);
  const internal: Record<string, string> = {};
  p.inject(clientContext(extract({ 'x-tenant-id': 'acme' }, p), 'localhost'), internal, defaultTextMapSetter);
  assert.equal(internal.baggage, 'tenant.id=acme');
  const external: Record<string, string> = {};
  p.inject(clientContext(extract({ 'x-tenant-id': 'acme' }, p), 'example.com'), external, defaultTextMapSetter);
  assert.equal(external.baggage, undefined);
});

test('a context without a span has no known destination: the tenant is not sent', () => {
  const ctx = propagation.setBaggage(extract({ 'x-tenant-id': 'acme' }), propagation.createBaggage({ 'tenant.id': { value: 'acme' } }));
  const carrier: Record<string, string> = {};
  propagator().inject(ctx, carrier, defaultTextMapSetter);
  assert.equal(carrier.baggage, undefined);
});

test('fields() lists baggage once alongside the inner fields', () => {
  assert.deepEqual(propagator(false).fields().sort(), ['baggage', 'traceparent', 'tracestate']);
  assert.deepEqual(propagator(true).fields().sort(), ['baggage', 'traceparent', 'tracestate']);
});

test('the model-endpoint policy is the one handed in: another instrumentation\'s gateways change nothing here', () => {
  // Before, GenAIInstrumentation set the model hosts in a module variable the propagator read: building one with
  // a gateway on localhost silently stopped tenant baggage to every localhost service of every propagator.
  new GenAIInstrumentation({ modelEndpoints: new ModelEndpointPolicy(['localhost']), enabled: false });
  const carrier: Record<string, string> = {};
  propagator().inject(clientContext(extract({ 'x-tenant-id': 'acme' }), 'localhost'), carrier, defaultTextMapSetter);
  assert.equal(carrier.baggage, 'tenant.id=acme');
  // A propagator given that policy treats the gateway as a model endpoint: no tenant baggage for it.
  const gated: Record<string, string> = {};
  const p = propagator(true, new ModelEndpointPolicy(['localhost']));
  p.inject(clientContext(extract({ 'x-tenant-id': 'acme' }, p), 'localhost'), gated, defaultTextMapSetter);
  assert.equal(gated.baggage, undefined);
});
