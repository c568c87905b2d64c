/**
 * In-process pipeline for GenAI tests: a real TracerProvider (tenant, model-usage and in-memory export
 * processors), the real MetricStore, the tenant propagator as register installs it, the GenAI instrumentation
 * enabled before any client is loaded, and the loopback provider peer.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { GenAIInstrumentation } from '../../instrumentations/genai/instrumentation';
import type { GenAIInstrumentationOptions } from '../../instrumentations/genai/types';
import { ModelUsageSpanProcessor } from '../../processors/ModelUsageSpanProcessor';
import { TenantSpanProcessor } from '../../processors/TenantSpanProcessor';
import { MetricStore } from '../../src/core/metrics/MetricStore';
import { HostPolicy } from '../../src/core/tenant/HostPolicy';
import { useTenantApi } from './tenant';
import { ModelEndpointPolicy } from '../../src/core/tenant/ModelEndpointPolicy';
import { TenantPropagator } from '../../src/propagation/TenantPropagator';
import { TenantRegistry } from '../../src/core/tenant/TenantRegistry';
import { startProviderPeer, type ProviderPeer } from './providerPeer';

export interface GenAIHarness {
  readonly peer: ProviderPeer;
  readonly exporter: InMemorySpanExporter;
  readonly store: MetricStore;
  readonly tracerProvider: TracerProvider;
  readonly instrumentation: GenAIInstrumentation;
  /** Ended GenAI spans so far (those with `gen_ai.operation.name`). */
  spans(): ReadableSpan[];
  /** Every ended span (the undici instrumentation adds an HTTP CLIENT span per request). */
  allSpans(): ReadableSpan[];
  /** Value of a counter series (exact labels), or count of a histogram series; 0 when absent. */
  metric(name: string, labels: Record<string, string>): number;
  /** Sum of a histogram series. */
  histogramSum(name: string, labels: Record<string, string>): number;
  /** Forgets spans and recorded requests (metrics are cumulative: tests use distinct tenants). */
  reset(): void;
  close(): Promise<void>;
}

export async function startGenAIHarness(options: GenAIInstrumentationOptions = {}): Promise<GenAIHarness> {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const tenants = new TenantRegistry({ maxTenants: 100 });
  useTenantApi(tenants);
  const modelEndpoints = options.modelEndpoints ?? new ModelEndpointPolicy();
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
  const store = new MetricStore(resourceFromAttributes({}));
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({
    spanProcessors: [
      new TenantSpanProcessor(),
      new ModelUsageSpanProcessor({ store, tenants, maxModels: 20, maxErrorTypes: 50 }),
      new SimpleSpanProcessor({ exporter }),
    ],
  });
  trace.setGlobalTracerProvider(tracerProvider);
  const peer = await startProviderPeer();
  const instrumentation = new GenAIInstrumentation({ openaiUsageHosts: ['127.0.0.1'], ...options, modelEndpoints });
  instrumentation.setTracerProvider(tracerProvider);
  // The HTTP layer register enables: it injects trace context (and the tenant, where allowed) into every fetch.
  const undici = new UndiciInstrumentation();
  undici.setTracerProvider(tracerProvider);
  undici.enable();

  const find = (name: string, labels: Record<string, string>, hist: boolean): { value?: number; count?: number; sum?: number } | undefined => {
    const families = hist ? store.histograms : store.counters;
    for (const f of families) {
      if (f.spec.name !== name) continue;
      for (const s of f.series as unknown as { attributes: Record<string, unknown>; value?: number; count?: number; sum?: number }[]) {
        const keys = Object.keys(s.attributes);
        if (keys.length === Object.keys(labels).length && keys.every((k) => s.attributes[k] === labels[k])) return s;
      }
    }
    return undefined;
  };
  return {
    peer,
    exporter,
    store,
    tracerProvider,
    instrumentation,
    spans: () => exporter.getFinishedSpans().filter((s) => s.attributes['gen_ai.operation.name'] !== undefined),
    allSpans: () => exporter.getFinishedSpans(),
    metric: (name, labels) => {
      const c = find(name, labels, false);
      if (c !== undefined) return c.value ?? 0;
      return find(name, labels, true)?.count ?? 0;
    },
    histogramSum: (name, labels) => find(name, labels, true)?.sum ?? 0,
    reset: () => {
      exporter.reset();
      peer.requests.length = 0;
    },
    close: async () => {
      instrumentation.disable();
      undici.disable();
      await peer.close();
      await tracerProvider.shutdown();
    },
  };
}

/** Waits until `n` spans have ended (stream ends and body reads settle a tick after the caller's await). */
export async function waitForSpans(h: GenAIHarness, n: number, timeoutMs = 2000): Promise<ReadableSpan[]> {
  const until = Date.now() + timeoutMs;
  while (h.spans().length < n && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 20));
  return h.spans();
}
