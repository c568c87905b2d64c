/**
 * Preload for bench/httpServer.bench.ts: only an HTTP server instrumentation over a minimal tracing setup (the
 * AsyncLocalStorage context manager, the W3C propagator, a tracer provider with no processor), so the instructions
 * the bench counts are the server instrumentation's and the span it starts, not the export path's.
 * BENCH_HTTP_SERVER: `none` (context manager only), `upstream` (instrumentation-http, server side, with the hooks
 * tenantscope gives it) or `channel` (instrumentations/httpserver/).
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { HttpServerChannelInstrumentation } from '../instrumentations/httpserver/instrumentation';
import { linkServerSpan } from '../instrumentations/upstream';
import { requestSizeAttributes } from '../src/core/RequestSpan';

const mode = process.env.BENCH_HTTP_SERVER ?? 'channel';
const manager = new AsyncLocalStorageContextManager().enable();
context.setGlobalContextManager(manager);
propagation.setGlobalPropagator(new W3CTraceContextPropagator());
const tracerProvider = new TracerProvider({});
trace.setGlobalTracerProvider(tracerProvider);
if (mode === 'upstream') {
  registerInstrumentations({
    tracerProvider,
    instrumentations: [new HttpInstrumentation({ disableOutgoingRequestInstrumentation: true, startIncomingSpanHook: requestSizeAttributes, requestHook: linkServerSpan })],
  });
} else if (mode === 'channel') {
  registerInstrumentations({ tracerProvider, instrumentations: [new HttpServerChannelInstrumentation({ enter: (ctx) => void manager.attach(ctx) })] });
}
