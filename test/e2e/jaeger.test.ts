/**
 * Legacy Jaeger clients keep their traces joined with ours (OTEL_PROPAGATORS=tracecontext,baggage,jaeger): a
 * service traced with the real `jaeger-client` package calls a tenantscope service (under the preload), which
 * calls another jaeger-client service. One trace id end to end, the tenant from Jaeger baggage on our spans and
 * passed on. The two jaeger-client services run in the test process with an in-memory reporter (no agent).
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { startFixture, type RunningFixture } from '../helpers/fixture';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlpReceiver';

interface JaegerSpan {
  context(): { traceIdStr: string; spanIdStr: string; parentIdStr?: string };
  setBaggageItem(key: string, value: string): void;
  getBaggageItem(key: string): string | undefined;
  finish(): void;
}
interface JaegerTracer {
  startSpan(name: string, options?: { childOf?: unknown }): JaegerSpan;
  inject(ctx: unknown, format: string, carrier: Record<string, string>): void;
  extract(format: string, carrier: IncomingHttpHeaders): unknown;
  close(cb?: () => void): void;
}

 
const { initTracer } = require('jaeger-client') as { initTracer(config: object, options: object): JaegerTracer };
 
const InMemoryReporter = (require('jaeger-client/dist/src/reporters/in_memory_reporter') as { default: new () => object }).default;
 
const { FORMAT_HTTP_HEADERS } = require('opentracing') as { FORMAT_HTTP_HEADERS: string };

function legacyTracer(serviceName: string): JaegerTracer {
  return initTracer(
    { serviceName, sampler: { type: 'const', param: 1 } },
    { reporter: new InMemoryReporter(), logger: { info: () => undefined, error: () => undefined } }
  );
}

let receiver: OtlpReceiver;
let relay: RunningFixture;
let downstream: Server;
let downstreamPort: number;
const callerTracer = legacyTracer('legacy-caller');
const downstreamTracer = legacyTracer('legacy-downstream');
/** What the downstream jaeger-client service saw on each request. */
const seen: { traceId: string; parentId: string; tenant: string | undefined; headers: IncomingHttpHeaders }[] = [];

before(async () => {
  receiver = await startOtlpReceiver();
  downstream = createServer((req, res) => {
    const parent = downstreamTracer.extract(FORMAT_HTTP_HEADERS, req.headers);
    const span = downstreamTracer.startSpan('downstream', { childOf: parent });
    seen.push({
      traceId: span.context().traceIdStr,
      parentId: span.context().parentIdStr ?? '',
      tenant: span.getBaggageItem('tenant.id'),
      headers: req.headers,
    });
    span.finish();
    res.setHeader('content-type', 'application/json');
    res.end('{"ok":true}');
  });
  await new Promise<void>((r) => downstream.listen(0, '127.0.0.1', () => r()));
  downstreamPort = (downstream.address() as AddressInfo).port;
  relay = await startFixture('relay-app.js', {
    env: {
      OTEL_SERVICE_NAME: 'relay',
      OTEL_PROPAGATORS: 'tracecontext,baggage,jaeger',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    },
  });
});

after(async () => {
  await relay?.stop();
  await new Promise<void>((r) => downstream?.close(() => r()));
  await receiver?.close();
  callerTracer.close();
  downstreamTracer.close();
});

async function callThroughRelay(tenantKey: string, tenant: string): Promise<string> {
  const span = callerTracer.startSpan('legacy-call');
  span.setBaggageItem(tenantKey, tenant);
  const headers: Record<string, string> = {};
  callerTracer.inject(span.context(), FORMAT_HTTP_HEADERS, headers);
  const res = await fetch(`http://127.0.0.1:${relay.port}/relay?to=${encodeURIComponent(`http://127.0.0.1:${downstreamPort}/`)}`, { headers });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { ok: true });
  span.finish();
  return span.context().traceIdStr;
}

test('a jaeger-client caller, a tenantscope service and a jaeger-client callee share one trace id', async () => {
  const legacyTraceId = await callThroughRelay('tenant.id', 'acme');
  // jaeger-client makes 64-bit trace ids; W3C and OTLP carry 128 bits, left-padded with zeros.
  const traceId = legacyTraceId.padStart(32, '0');
  await receiver.waitFor(() => receiver.spans.filter((s) => s.traceId === traceId).length >= 2, 10_000, 'relay spans');
  const spans = receiver.spans.filter((s) => s.traceId === traceId);
  const server = spans.find((s) => s.kind === 2);
  const client = spans.find((s) => s.kind === 3);
  assert.ok(server !== undefined && client !== undefined, `server and client spans, got ${spans.map((s) => s.name).join(', ')}`);
  assert.equal(server.attributes['tenant.id'], 'acme');
  assert.equal(client.attributes['tenant.id'], 'acme');
  assert.equal(client.parentSpanId, server.spanId);
  const down = seen.at(-1)!;
  assert.equal(down.traceId.padStart(32, '0'), traceId);
  // The callee's parent is our client span: the same trace, joined at the right place.
  assert.equal(down.parentId.padStart(16, '0'), client.spanId);
  assert.equal(down.tenant, 'acme');
  // Both formats go out, so W3C services downstream join too.
  assert.match(String(down.headers.traceparent), new RegExp(`^00-${traceId}-${client.spanId}-01$`));
  assert.equal(down.headers['uberctx-tenant.id'], 'acme');
});

test('Jaeger baggage spelled uberctx-tenant-id is read as the tenant', async () => {
  const legacyTraceId = await callThroughRelay('tenant-id', 'globex');
  const traceId = legacyTraceId.padStart(32, '0');
  await receiver.waitFor(() => receiver.spans.some((s) => s.traceId === traceId && s.kind === 2), 10_000, 'relay server span');
  const server = receiver.spans.find((s) => s.traceId === traceId && s.kind === 2)!;
  assert.equal(server.attributes['tenant.id'], 'globex');
  assert.equal(seen.at(-1)!.tenant, 'globex');
});
