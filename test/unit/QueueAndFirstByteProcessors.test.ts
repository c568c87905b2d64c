/**
 * QueueMetricsSpanProcessor and FirstByteSpanProcessor through a real TracerProvider (tenant processor in front),
 * read back through the MetricStore's export path. Span times are explicit, so durations and buckets are exact.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ROOT_CONTEXT, SpanKind, type Attributes } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { Histogram } from '@opentelemetry/sdk-metrics';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { FirstByteSpanProcessor } from '../../processors/FirstByteSpanProcessor';
import { QueueMetricsSpanProcessor } from '../../processors/QueueMetricsSpanProcessor';
import { TenantSpanProcessor } from '../../processors/TenantSpanProcessor';
import { EndpointNormalizer } from '../../src/core/EndpointNormalizer';
import { MetricStore } from '../../src/core/metrics/MetricStore';
import { TENANT_CONTEXT_KEY, TenantCell } from '../../src/core/tenant/TenantCell';
import { TenantRegistry } from '../../src/core/tenant/TenantRegistry';

function pipeline(maxLabelValues = 50) {
  const tenants = new TenantRegistry({ maxTenants: 100 });
  const store = new MetricStore(resourceFromAttributes({}));
  const provider = new TracerProvider({
    spanProcessors: [
      new TenantSpanProcessor(),
      new QueueMetricsSpanProcessor({ store, maxLabelValues }),
      new FirstByteSpanProcessor({ store, tenants, endpoints: new EndpointNormalizer({ maxEndpoints: 100 }), serviceName: 'svc' }),
    ],
  });
  const tracer = provider.getTracer('t');
  const span = (name: string, kind: SpanKind, attributes: Attributes, ms: number, tenant?: string): void => {
    const ctx = ROOT_CONTEXT.setValue(TENANT_CONTEXT_KEY, new TenantCell(tenants, tenant));
    const s = tracer.startSpan(name, { kind, attributes, startTime: [1000, 0] }, ctx);
    s.end([1000 + Math.floor(ms / 1000), (ms % 1000) * 1e6]);
  };
  const histograms = async (name: string): Promise<Record<string, Histogram>> => {
    const { resourceMetrics } = await store.collect();
    const out: Record<string, Histogram> = {};
    for (const m of resourceMetrics.scopeMetrics[0].metrics) {
      if (m.descriptor.name !== name) continue;
      for (const p of m.dataPoints) out[Object.values(p.attributes).join('|')] = p.value as Histogram;
    }
    return out;
  };
  const counters = async (name: string): Promise<Record<string, number>> => {
    const { resourceMetrics } = await store.collect();
    const out: Record<string, number> = {};
    for (const m of resourceMetrics.scopeMetrics[0].metrics) {
      if (m.descriptor.name !== name) continue;
      for (const p of m.dataPoints) out[Object.values(p.attributes).join('|')] = p.value as number;
    }
    return out;
  };
  return { span, histograms, counters };
}

test('consumer spans give queue_processing_duration_seconds by queue and message type, exact buckets', async () => {
  const p = pipeline();
  p.span('chat.summaries process', SpanKind.CONSUMER, { 'tenantscope.queue.name': 'chat.summaries', 'tenantscope.message.type': 'summarize' }, 30);
  p.span('chat.summaries process', SpanKind.CONSUMER, { 'tenantscope.queue.name': 'chat.summaries', 'tenantscope.message.type': 'summarize' }, 700);
  p.span('chat.summaries process', SpanKind.CONSUMER, { 'tenantscope.queue.name': 'chat.summaries' }, 3);
  // Another instrumentation's consumer span: the semantic-convention destination name.
  p.span('orders receive', SpanKind.CONSUMER, { 'messaging.destination.name': 'orders' }, 12000);
  // Not queue items: a consumer span with no queue, a producer span, a client span.
  p.span('mystery', SpanKind.CONSUMER, {}, 5);
  p.span('publish <default>', SpanKind.PRODUCER, { 'tenantscope.queue.name': 'chat.summaries' }, 5);
  p.span('GET', SpanKind.CLIENT, { 'tenantscope.queue.name': 'chat.summaries' }, 5);
  const h = await p.histograms('queue_processing_duration_seconds');
  assert.deepEqual(Object.keys(h).sort(), ['chat.summaries|', 'chat.summaries|summarize', 'orders|']);
  // Buckets [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]
  assert.deepEqual(h['chat.summaries|summarize'].buckets.counts, [0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
  assert.equal(h['chat.summaries|summarize'].count, 2);
  assert.ok(Math.abs((h['chat.summaries|summarize'].sum ?? 0) - 0.73) < 1e-9);
  assert.deepEqual(h['chat.summaries|'].buckets.counts, [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(h['orders|'].buckets.counts, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
});

test('queue names and message types are bounded; server-named queues share one label', async () => {
  const p = pipeline(2);
  const consume = (queue: string, type?: string): void =>
    p.span(`${queue} process`, SpanKind.CONSUMER, type === undefined ? { 'tenantscope.queue.name': queue } : { 'tenantscope.queue.name': queue, 'tenantscope.message.type': type }, 1);
  consume('amq.gen-AbC123');
  consume('amq.gen-XyZ789');
  consume('a', 't1');
  consume('b', 't2');
  consume('c', 't3');
  consume('d\nx', 't1');
  const h = await p.histograms('queue_processing_duration_seconds');
  assert.deepEqual(
    Object.fromEntries(Object.entries(h).map(([k, v]) => [k, v.count])),
    { 'amq.gen-*|': 2, 'a|t1': 1, 'b|t2': 1, '_OTHER|_OTHER': 1, 'invalid|t1': 1 }
  );
  assert.deepEqual(await p.counters('tenantscope.labels.folded'), { queue_name: 1, message_type: 1 });
});

test('a streamed response gives http_response_first_byte_seconds with the request-duration labels and buckets', async () => {
  const p = pipeline();
  const server = (route: string | undefined, path: string, status: number, ttfb: number | undefined, tenant: string, method = 'GET'): void =>
    p.span(
      `${method} ${route ?? ''}`,
      SpanKind.SERVER,
      {
        'http.request.method': method,
        'url.path': path,
        'http.response.status_code': status,
        ...(route === undefined ? {} : { 'http.route': route }),
        ...(ttfb === undefined ? {} : { 'http.response.time_to_first_byte': ttfb }),
      },
      5000,
      tenant
    );
  server('/v1/chats/:id/stream', '/v1/chats/1/stream', 200, 0.3, 'acme');
  server('/v1/chats/:id/stream', '/v1/chats/2/stream', 200, 0.05, 'acme');
  server(undefined, '/v1/chats/3/stream', 200, 1.2, 'globex', 'BREW');
  // Not streamed: no attribute, not observed.
  server('/v1/chats/:id', '/v1/chats/1', 200, undefined, 'acme');
  // An attribute on a non-server span is not a response.
  p.span('fetch', SpanKind.CLIENT, { 'http.request.method': 'GET', 'http.response.time_to_first_byte': 0.1 }, 1, 'acme');
  const h = await p.histograms('http_response_first_byte_seconds');
  assert.deepEqual(Object.keys(h).sort(), ['GET|/v1/chats/:id/stream|acme|svc', '_OTHER|/v1/chats/:id/stream|globex|svc']);
  // Buckets [0.1, 0.25, 0.5, 1, 2.5, 5, 10] (http_request_duration_seconds').
  assert.deepEqual(h['GET|/v1/chats/:id/stream|acme|svc'].buckets.counts, [1, 0, 1, 0, 0, 0, 0, 0]);
  assert.deepEqual(h['_OTHER|/v1/chats/:id/stream|globex|svc'].buckets.counts, [0, 0, 0, 0, 1, 0, 0, 0]);
});
