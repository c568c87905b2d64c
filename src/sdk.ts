import {
  context,
  diag,
  DiagConsoleLogger,
  metrics,
  propagation,
  trace,
  type TextMapPropagator,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { defaultResource, detectResources, envDetector, processDetector, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { hostname, arch } from 'node:os';
import {
  ConsoleMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type MetricReader,
  type PushMetricExporter,
} from '@opentelemetry/sdk-metrics';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
  createAlwaysRecordSampler,
  type Sampler,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { GenAIInstrumentation } from '../instrumentations/genai/instrumentation';
import { createUpstreamInstrumentations } from '../instrumentations/upstream';
import { LocalTraceSpanProcessor } from '../processors/LocalTraceSpanProcessor';
import { ModelUsageSpanProcessor } from '../processors/ModelUsageSpanProcessor';
import { RedMetricsSpanProcessor } from '../processors/RedMetricsSpanProcessor';
import { TenantSpanProcessor } from '../processors/TenantSpanProcessor';
import { loadConfig, loadLogLevel, type Env, type OtlpProtocol, type SamplerConfig, type TenantScopeConfig } from './core/config';
import { EndpointNormalizer } from './core/EndpointNormalizer';
import { error as logError, debug } from './core/log';
import { MetricStore } from './core/metrics/MetricStore';
import { PrometheusServer } from './prometheus/PrometheusServer';
import { HostPolicy } from './core/tenant/HostPolicy';
import { OwnServers } from './core/OwnServers';
import { PriceTable } from './core/pricing/PriceTable';
import { TenantBudgets } from './core/budgets/TenantBudgets';
import { registerSelfGauges } from './core/metrics/SelfGauges';
import { VERSION } from './core/package';
import { ModelEndpointPolicy } from './core/tenant/ModelEndpointPolicy';
import { TenantPropagator } from './propagation/TenantPropagator';
import { TenantRegistry } from './core/tenant/TenantRegistry';

/** A started tenantscope pipeline. */
export interface TenantScope {
  readonly config: TenantScopeConfig;
  readonly tracerProvider: TracerProvider;
  readonly meterProvider: MeterProvider;
  readonly store: MetricStore;
  /** Validates tenant ids and admits metric labels; the public tenant API creates its cells with it. */
  readonly tenants: TenantRegistry;
  readonly prometheus: PrometheusServer | undefined;
  /** Exports what is buffered without shutting down. */
  forceFlush(): Promise<void>;
  /** Flushes and stops; idempotent. */
  shutdown(): Promise<void>;
}

/**
 * Builds and installs the providers, propagator and instrumentations from the environment. Builds the
 * providers itself (not `NodeSDK`), so span-derived metrics work with `OTEL_TRACES_EXPORTER=none` and no
 * SIGTERM listener is added. Returns undefined when `OTEL_SDK_DISABLED=true`.
 */
export function startTenantScope(env: Env = process.env): TenantScope | undefined {
  diag.setLogger(new DiagConsoleLogger(), { logLevel: loadLogLevel(env), suppressOverrideMessage: true });
  const config = loadConfig(env);
  if (config.disabled) {
    debug('OTEL_SDK_DISABLED=true: not starting');
    return undefined;
  }

  const resource = buildResource();
  const serviceName = String(resource.attributes['service.name'] ?? 'unknown_service:node');

  // Shared parts, built once and handed to every part that uses them (docs/architecture.md).
  const tenants = new TenantRegistry({ maxTenants: config.maxTenants, hashKey: config.tenantHashKey });
  const modelEndpoints = new ModelEndpointPolicy(config.modelHosts);
  const ownServers = new OwnServers();

  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(buildPropagator(config, tenants, modelEndpoints));

  const endpoints = new EndpointNormalizer({ maxEndpoints: config.maxEndpoints, templates: config.endpointTemplates });
  const store = new MetricStore(resource);

  const readers: MetricReader[] = [];
  let prometheus: PrometheusServer | undefined;
  for (const e of config.metricsExporters) {
    if (e === 'prometheus') {
      prometheus = new PrometheusServer({ host: config.prometheusHost, port: config.prometheusPort, store, ownServers });
      readers.push(prometheus);
    } else {
      const exporter: PushMetricExporter = e === 'console' ? new ConsoleMetricExporter() : otlpMetricExporter(config.otlpMetricsProtocol);
      readers.push(
        new PeriodicExportingMetricReader({
          exporter,
          exportIntervalMillis: config.metricExportIntervalMillis,
          metricProducers: [store],
        })
      );
    }
  }
  const meterProvider = new MeterProvider({ resource, readers });
  metrics.setGlobalMeterProvider(meterProvider);
  // Built at start, so a bad price or budget file is reported at startup, not on the first model call.
  const prices = new PriceTable({ overrideFile: config.pricesFile });
  const budgets = config.budgetsFile !== undefined ? TenantBudgets.load(config.budgetsFile, tenants) : undefined;
  registerSelfGauges(meterProvider.getMeter('tenantscope', VERSION), prices, budgets);

  // Metric processors see every span once, after its local trace is decided (exact at any sampling ratio,
  // with the request's final tenant); export processors get sampled spans and traces kept by rule.
  const metricProcessors: SpanProcessor[] = [
    new RedMetricsSpanProcessor({
      store,
      tenants,
      endpoints,
      serviceName,
      maxSpanNames: config.maxSpanNames,
      maxErrorTypes: config.maxErrorTypes,
    }),
    new ModelUsageSpanProcessor({ store, tenants, maxModels: config.maxModels, maxErrorTypes: config.maxErrorTypes }),
  ];
  const exportProcessors: SpanProcessor[] = [];
  for (const e of config.tracesExporters) {
    if (e === 'console') exportProcessors.push(new SimpleSpanProcessor({ exporter: new ConsoleSpanExporter() }));
    else exportProcessors.push(new BatchSpanProcessor({ exporter: otlpTraceExporter(config.otlpTracesProtocol), ...config.batchSpanProcessor }));
  }
  const spanProcessors: SpanProcessor[] = [
    new TenantSpanProcessor(),
    new LocalTraceSpanProcessor({
      metricProcessors,
      exportProcessors,
      exportEnabled: config.sampler.name !== 'always_off',
      keep: { errors: config.keepErrors, slowServerMs: config.keepSlowMs, modelCostUsd: config.keepModelCostUsd },
      bounds: { maxSpansPerTrace: config.traceMaxSpans, maxBufferedSpans: config.bufferMaxSpans, maxAgeMs: config.traceMaxAgeMs },
      store,
    }),
  ];
  const tracerProvider = new TracerProvider({
    resource,
    // Processors see every span whatever the sampler decides (RECORD_ONLY), so metrics stay exact.
    sampler: createAlwaysRecordSampler(buildSampler(config.sampler)),
    spanProcessors,
  });
  trace.setGlobalTracerProvider(tracerProvider);

  registerInstrumentations({
    instrumentations: [
      ...createUpstreamInstrumentations({
        enabled: config.enabledInstrumentations,
        disabled: config.disabledInstrumentations,
        ownServers,
      }),
      new GenAIInstrumentation({
        prices,
        modelEndpoints,
        openaiUsageHosts: config.openaiUsageHosts,
        captureMessageContent: config.captureMessageContent,
        bodyTimeoutMs: config.modelBodyTimeoutMs,
      }),
    ],
    tracerProvider,
    meterProvider,
  });

  let down: Promise<void> | undefined;
  const scope: TenantScope = {
    config,
    tracerProvider,
    meterProvider,
    store,
    tenants,
    prometheus,
    async forceFlush() {
      await Promise.all([tracerProvider.forceFlush(), meterProvider.forceFlush()]);
    },
    shutdown() {
      down ??= (async () => {
        // Spans first: their end feeds the span-derived metrics the meter provider then exports.
        await settle(tracerProvider.shutdown(), 'tracer provider shutdown');
        await settle(meterProvider.shutdown(), 'meter provider shutdown');
      })();
      return down;
    },
  };
  return scope;
}

/** Resource attributes: SDK defaults, process, host name, then OTEL_RESOURCE_ATTRIBUTES / OTEL_SERVICE_NAME. */
function buildResource(): Resource {
  const proc = detectResources({ detectors: [processDetector] }).attributes;
  const attrs: Record<string, string | number> = { 'host.name': hostname(), 'host.arch': arch() };
  for (const [k, v] of Object.entries(proc)) {
    // The command line can carry secrets (tokens passed as flags): never export it.
    if (k === 'process.command_args' || k === 'process.command_line' || k === 'process.command') continue;
    if (typeof v === 'string' || typeof v === 'number') attrs[k] = v;
  }
  return defaultResource().merge(resourceFromAttributes(attrs)).merge(detectResources({ detectors: [envDetector] }));
}

async function settle(p: Promise<unknown>, what: string): Promise<void> {
  try {
    await p;
  } catch (err) {
    logError(`${what} failed`, err);
  }
}

function buildPropagator(config: TenantScopeConfig, tenants: TenantRegistry, modelEndpoints: ModelEndpointPolicy): TextMapPropagator {
  const list: TextMapPropagator[] = [];
  for (const name of config.propagators) {
    if (name === 'tracecontext') list.push(new W3CTraceContextPropagator());
    else if (name === 'baggage') list.push(new W3CBaggagePropagator());
    else if (name === 'b3' || name === 'b3multi') {
      const { B3Propagator, B3InjectEncoding } = require('@opentelemetry/propagator-b3') as typeof import('@opentelemetry/propagator-b3');
      list.push(new B3Propagator({ injectEncoding: name === 'b3' ? B3InjectEncoding.SINGLE_HEADER : B3InjectEncoding.MULTI_HEADER }));
    }
  }
  return new TenantPropagator({
    inner: new CompositePropagator({ propagators: list }),
    innerHasBaggage: config.propagators.includes('baggage'),
    header: config.tenantHeader,
    tenants,
    baggageHosts: new HostPolicy(config.baggageHosts),
    modelEndpoints,
  });
}

function buildSampler(s: SamplerConfig): Sampler {
  switch (s.name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(s.ratio);
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(s.ratio) });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

function otlpTraceExporter(protocol: OtlpProtocol): SpanExporter {
  if (protocol === 'http/json') {
    const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http');
    return new OTLPTraceExporter();
  }
  const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto') as typeof import('@opentelemetry/exporter-trace-otlp-proto');
  return new OTLPTraceExporter();
}

function otlpMetricExporter(protocol: OtlpProtocol): PushMetricExporter {
  if (protocol === 'http/json') {
    const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-http') as typeof import('@opentelemetry/exporter-metrics-otlp-http');
    return new OTLPMetricExporter();
  }
  const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-proto') as typeof import('@opentelemetry/exporter-metrics-otlp-proto');
  return new OTLPMetricExporter();
}
