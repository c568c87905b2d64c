/**
 * A small chat service instrumented in-process by the whole tenantscope pipeline, built as src/sdk.ts builds it:
 * the tenant propagator over W3C trace context and baggage, a real TracerProvider (always-record sampler around
 * parent-based always-on) with the tenant processor and the local-trace processor feeding the RED and model-usage
 * metric processors and a batch export processor (to an in-memory exporter instead of OTLP), the HTTP server
 * instrumentation on diagnostics channels, the upstream http (client side) and undici instrumentations, and the
 * GenAI instrumentation.
 *
 * The app is a real node:http server. `GET /chat` calls an internal service over fetch (`GET /echo` on a second
 * node:http server, which records the trace and baggage headers it receives) and then the loopback provider peer
 * (test/helpers/providerPeer.ts, a stand-in for the OpenAI API) for a non-streamed chat completion. `GET /stream`
 * reads a streamed chat completion to its end; `GET /abandon` reads its first chunk and cancels the stream;
 * `GET /abort` reads its first chunk and aborts the request. Every route answers 200 with what it got, or 500
 * with the error. The test's own requests to the app are made with tracing suppressed, so they add no spans.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, suppressTracing, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler,
  BatchSpanProcessor,
  createAlwaysRecordSampler,
  InMemorySpanExporter,
  ParentBasedSampler,
  TracerProvider,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GenAIInstrumentation } from '../../instrumentations/genai/instrumentation';
import { HttpServerChannelInstrumentation } from '../../instrumentations/httpserver/instrumentation';
import { createUpstreamInstrumentations } from '../../instrumentations/upstream';
import { LocalTraceSpanProcessor } from '../../processors/LocalTraceSpanProcessor';
import { ModelUsageSpanProcessor } from '../../processors/ModelUsageSpanProcessor';
import { RedMetricsSpanProcessor } from '../../processors/RedMetricsSpanProcessor';
import { TenantSpanProcessor } from '../../processors/TenantSpanProcessor';
import { EndpointNormalizer } from '../../src/core/EndpointNormalizer';
import { MetricStore } from '../../src/core/metrics/MetricStore';
import {
  METRIC_HTTP_REQUESTS,
  METRIC_MODEL_API_CALLS,
  METRIC_MODEL_API_TOKENS,
  METRIC_SPAN_CALLS,
  METRIC_SPANS_SEEN,
  type MetricSpec,
} from '../../src/core/semconv';
import { HostPolicy } from '../../src/core/tenant/HostPolicy';
import { ModelEndpointPolicy } from '../../src/core/tenant/ModelEndpointPolicy';
import { TenantRegistry } from '../../src/core/tenant/TenantRegistry';
import { TenantPropagator } from '../../src/propagation/TenantPropagator';
import { startProviderPeer, type ProviderPeer, type RecordedRequest } from './providerPeer';
import { useTenantApi } from './tenant';

/** The model every route asks for, and the reply texts the peer sends. */
export const MODEL = 'gpt-4o-mini';
export const CHAT_REPLY = 'Hello from the stand-in.';
export const STREAM_REPLY = 'Hello there';

/** The local-trace age bound: a local trace left open is decided by the sweep within 1.5 × this. */
export const MAX_AGE_MS = 1500;

/** The headers one request to the internal service carried. */
export interface EchoRequest {
  tenantHeader: string | undefined;
  traceparent: string | undefined;
  baggage: string | undefined;
}

/** What the app answered. */
export interface Reply {
  status: number;
  body: unknown;
}

/**
 * A tenant's telemetry: exported spans and span-metric calls by `<kind> <name>`, `http_requests_total` by endpoint,
 * model calls by status, model tokens by type. Absent keys are zero.
 */
export interface Telemetry {
  exported: Record<string, number>;
  spanCalls: Record<string, number>;
  requests: Record<string, number>;
  modelCalls: Record<string, number>;
  tokens: Record<string, number>;
}

export interface AppPipeline {
  readonly tracerProvider: TracerProvider;
  readonly localTrace: LocalTraceSpanProcessor;
  readonly store: MetricStore;
  readonly exporter: InMemorySpanExporter;
  readonly tenants: TenantRegistry;
  /** Requests the internal service received, in order. */
  readonly echoes: EchoRequest[];
  /** Requests the model provider stand-in received, in order. */
  readonly peerRequests: RecordedRequest[];
  /**
   * `count` requests to `path` in turn, each with the tenant header (and `headers`), made untraced; a request the
   * app does not answer within 5 s is status 0.
   */
  request(path: string, tenant: string, count?: number, headers?: Record<string, string>): Promise<Reply[]>;
  /**
   * Waits until nothing is in flight: no local trace open or buffered, the span count stable for three polls;
   * then flushes the export processor. Gives up after `timeoutMs`.
   */
  settle(timeoutMs?: number): Promise<void>;
  telemetry(tenant: string): Telemetry;
  /** Exported spans that carry `tenant`. */
  exportedSpans(tenant: string): ReadableSpan[];
  /** The value of a counter series with these labels (summed over the labels not given). */
  counter(spec: MetricSpec, labels: Record<string, string>): number;
  close(): Promise<void>;
}

const KINDS = ['INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];

/** The in-memory exporter, except that shutdown keeps what it received. */
class RetainingExporter extends InMemorySpanExporter {
  override shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

export async function startAppPipeline(): Promise<AppPipeline> {
  const peer: ProviderPeer = await startProviderPeer();
  const peerHost = new URL(peer.url).host;

  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  const tenants = new TenantRegistry({ maxTenants: 100 });
  useTenantApi(tenants);
  const modelEndpoints = new ModelEndpointPolicy([peerHost]);
  propagation.setGlobalPropagator(
    new TenantPropagator({
      inner: new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
      innerHasBaggage: true,
      header: 'x-tenant-id',
      tenants,
      baggageHosts: new HostPolicy(['private']),
      modelEndpoints,
    })
  );

  const store = new MetricStore(resourceFromAttributes({ 'service.name': 'chat' }));
  const exporter = new RetainingExporter();
  const localTrace = new LocalTraceSpanProcessor({
    metricProcessors: [
      new RedMetricsSpanProcessor({
        store,
        tenants,
        endpoints: new EndpointNormalizer({ maxEndpoints: 100, templates: [] }),
        serviceName: 'chat',
        maxSpanNames: 500,
        maxErrorTypes: 100,
      }),
      new ModelUsageSpanProcessor({ store, tenants, maxModels: 100, maxErrorTypes: 100 }),
    ],
    exportProcessors: [new BatchSpanProcessor({ exporter, scheduledDelayMillis: 20 })],
    exportEnabled: true,
    keep: { errors: true, slowServerMs: 2000, modelCostUsd: 0.05 },
    bounds: { maxSpansPerTrace: 1000, maxBufferedSpans: 20_000, maxAgeMs: MAX_AGE_MS },
    store,
  });
  const tracerProvider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'chat' }),
    sampler: createAlwaysRecordSampler(new ParentBasedSampler({ root: new AlwaysOnSampler() })),
    spanProcessors: [new TenantSpanProcessor(), localTrace],
  });
  trace.setGlobalTracerProvider(tracerProvider);
  const disable = registerInstrumentations({
    instrumentations: [
      // Server spans from the diagnostics-channel instrumentation, as src/sdk.ts builds them by default.
      ...createUpstreamInstrumentations({ enabled: ['http', 'undici'], disabled: [], httpServerChannel: true }),
      new HttpServerChannelInstrumentation({ enter: (ctx) => void contextManager.attach(ctx) }),
      new GenAIInstrumentation({ modelEndpoints, openaiUsageHosts: [peerHost] }),
    ],
    tracerProvider,
  });
  // Required after the http instrumentation is enabled, so its require hook patches the module (node:http is
  // shared: the provider peer's server is instrumented too, and its spans carry no tenant).
  const http = require('node:http') as typeof import('node:http');

  const echoes: EchoRequest[] = [];
  const echo = await listen(
    http.createServer((req, res) => {
      const h = (n: string): string | undefined => (typeof req.headers[n] === 'string' ? (req.headers[n] as string) : undefined);
      echoes.push({ tenantHeader: h('x-tenant-id'), traceparent: h('traceparent'), baggage: h('baggage') });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    })
  );
  const echoUrl = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
  const app = await listen(http.createServer((req, res) => void serve(req, res, echoUrl, peer.url)));
  const appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;

  const counter = (spec: MetricSpec, labels: Record<string, string>): number => {
    let total = 0;
    for (const f of store.counters) {
      if (f.spec !== spec) continue;
      for (const s of f.series) if (Object.entries(labels).every(([k, v]) => s.attributes[k] === v)) total += s.value;
    }
    return total;
  };
  const byLabel = (spec: MetricSpec, labels: Record<string, string>, key: (a: Record<string, unknown>) => string): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const f of store.counters) {
      if (f.spec !== spec) continue;
      for (const s of f.series) {
        if (s.value === 0 || !Object.entries(labels).every(([k, v]) => s.attributes[k] === v)) continue;
        const k = key(s.attributes);
        out[k] = (out[k] ?? 0) + s.value;
      }
    }
    return out;
  };
  const exportedSpans = (tenant: string): ReadableSpan[] => exporter.getFinishedSpans().filter((s) => s.attributes['tenant.id'] === tenant);
  const spansSeen = (): number => counter(METRIC_SPANS_SEEN, {});

  return {
    tracerProvider,
    localTrace,
    store,
    exporter,
    tenants,
    echoes,
    peerRequests: peer.requests,
    counter,
    exportedSpans,
    async request(path, tenant, count = 1, headers = {}) {
      const out: Reply[] = [];
      for (let i = 0; i < count; i++) {
        let text: string;
        let status: number;
        try {
          const res = await context.with(suppressTracing(context.active()), () =>
            fetch(appUrl + path, { headers: { 'x-tenant-id': tenant, ...headers }, signal: AbortSignal.timeout(5000) })
          );
          status = res.status;
          text = await res.text();
        } catch (err) {
          // The app never answered (it crashed or hung): status 0.
          out.push({ status: 0, body: `no reply: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}` });
          continue;
        }
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // an error text
        }
        out.push({ status, body });
      }
      return out;
    },
    async settle(timeoutMs = 5000) {
      const until = Date.now() + timeoutMs;
      let last = -1;
      let stable = 0;
      while (Date.now() < until) {
        const seen = spansSeen();
        stable = seen === last && localTrace.openTraces === 0 && localTrace.bufferedSpans === 0 ? stable + 1 : 0;
        last = seen;
        if (stable >= 3) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await tracerProvider.forceFlush();
    },
    telemetry(tenant) {
      const exported: Record<string, number> = {};
      for (const s of exportedSpans(tenant)) {
        const k = `${KINDS[s.kind] ?? s.kind} ${s.name}`;
        exported[k] = (exported[k] ?? 0) + 1;
      }
      return {
        exported,
        spanCalls: byLabel(METRIC_SPAN_CALLS, { 'tenant.id': tenant }, (a) => `${String(a['span.kind']).slice('SPAN_KIND_'.length)} ${String(a['span.name'])}`),
        requests: byLabel(METRIC_HTTP_REQUESTS, { tenant_id: tenant }, (a) => String(a.endpoint)),
        modelCalls: byLabel(METRIC_MODEL_API_CALLS, { tenant_id: tenant }, (a) => String(a.status)),
        tokens: byLabel(METRIC_MODEL_API_TOKENS, { tenant_id: tenant }, (a) => String(a.token_type)),
      };
    },
    async close() {
      disable();
      await Promise.all([close(app), close(echo), peer.close()]);
      await tracerProvider.shutdown();
      context.disable();
    },
  };
}

/** The app: every route answers 200 with what it got, or 500 with the error it met. */
async function serve(req: IncomingMessage, res: ServerResponse, echoUrl: string, peerUrl: string): Promise<void> {
  try {
    const path = (req.url ?? '/').split('?')[0];
    let body: unknown;
    if (path === '/chat') {
      const internal = (await (await fetch(`${echoUrl}/echo`)).json()) as unknown;
      const completion = (await (await modelCall(peerUrl, false)).json()) as { choices: { message: { content: string } }[] };
      body = { internal, reply: completion.choices[0].message.content };
    } else if (path === '/stream') {
      body = { reply: await readDeltas(await modelCall(peerUrl, true)) };
    } else if (path === '/abandon') {
      const reader = (await modelCall(peerUrl, true, 'slow')).body!.getReader();
      await reader.read();
      await reader.cancel();
      body = { abandoned: true };
    } else if (path === '/abort') {
      const ac = new AbortController();
      const reader = (await modelCall(peerUrl, true, 'slow', ac.signal)).body!.getReader();
      await reader.read();
      ac.abort();
      body = await reader.read().then(
        () => ({ aborted: false }),
        (err: unknown) => ({ aborted: (err as Error).name })
      );
    } else {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  } catch (err) {
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(`app error: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  }
}

function modelCall(peerUrl: string, stream: boolean, scenario?: string, signal?: AbortSignal): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (scenario !== undefined) headers['x-peer-scenario'] = scenario;
  return fetch(`${peerUrl}/v1/chat/completions`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], ...(stream ? { stream: true } : {}) }),
    signal,
  });
}

/** The text of a streamed chat completion, read as the app would: every event's delta content. */
async function readDeltas(res: Response): Promise<string> {
  let text = '';
  let out = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body!) text += decoder.decode(chunk, { stream: true });
  for (const block of text.split('\n\n')) {
    const data = block.startsWith('data: ') ? block.slice(6) : '';
    if (data === '' || data === '[DONE]') continue;
    const o = JSON.parse(data) as { choices?: { delta?: { content?: string } }[] };
    out += o.choices?.[0]?.delta?.content ?? '';
  }
  return out;
}

function listen(server: Server): Promise<Server> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
