/**
 * The upstream OpenTelemetry baseline for bench/handler.bench.ts: what a user writes by hand with SDK 3.x to
 * trace an http + pg + ioredis service. `node --require build/bench/upstream-preload.js server.js`.
 *
 * Env: BENCH_SAMPLER = `always_on` (100%) or a ratio such as `0.1` (TraceIdRatioBased);
 * BENCH_EXPORTER = `noop` (a SpanExporter that drops batches: no serialisation) or `otlp` (OTLP/protobuf to
 * OTEL_EXPORTER_OTLP_ENDPOINT, the same exporter tenantscope uses).
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, ExportResultCode, W3CBaggagePropagator, W3CTraceContextPropagator, type ExportResult } from '@opentelemetry/core';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler,
  BatchSpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type ReadableSpan,
  type Sampler,
  type SpanExporter,
} from '@opentelemetry/sdk-trace';

/** Drops every batch: the cost of export itself is excluded. */
class NoopSpanExporter implements SpanExporter {
  export(_spans: ReadableSpan[], done: (r: ExportResult) => void): void {
    done({ code: ExportResultCode.SUCCESS });
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

function exporter(): SpanExporter {
  if (process.env.BENCH_EXPORTER === 'otlp') {
    const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto') as typeof import('@opentelemetry/exporter-trace-otlp-proto');
    return new OTLPTraceExporter();
  }
  return new NoopSpanExporter();
}

const raw = process.env.BENCH_SAMPLER ?? 'always_on';
const sampler: Sampler = raw === 'always_on' ? new AlwaysOnSampler() : new TraceIdRatioBasedSampler(Number(raw));

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
const provider = new TracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'bench-upstream' }),
  sampler,
  spanProcessors: [new BatchSpanProcessor({ exporter: exporter() })],
});
trace.setGlobalTracerProvider(provider);
registerInstrumentations({
  instrumentations: [new HttpInstrumentation(), new PgInstrumentation(), new IORedisInstrumentation()],
  tracerProvider: provider,
});
