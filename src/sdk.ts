import {
  context,
  diag,
  logs,
  metrics,
  propagation,
  trace,
  type TextMapPropagator,
} from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { registerInstrumentations, type Instrumentation } from '@opentelemetry/instrumentation';
import type { LogRecordExporter, LogRecordProcessor } from '@opentelemetry/sdk-logs';
import { defaultResource, detectResources, envDetector, processDetector, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { hostname, arch } from 'node:os';
import { basename, join, sep } from 'node:path';
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
  ConsoleSpanExporter,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { ConnectionsInstrumentation } from '../instrumentations/connections/instrumentation';
import { DbPoolsInstrumentation } from '../instrumentations/dbpools/instrumentation';
import { GenAIInstrumentation } from '../instrumentations/genai/instrumentation';
import { HttpServerChannelInstrumentation } from '../instrumentations/httpserver/instrumentation';
import { upstreamInstrumentationFactories } from '../instrumentations/upstream';
import { CountingBatchLogRecordProcessor } from '../processors/CountingBatchLogRecordProcessor';
import { DependencyMetricsSpanProcessor } from '../processors/DependencyMetricsSpanProcessor';
import { FirstByteSpanProcessor } from '../processors/FirstByteSpanProcessor';
import { LocalTraceSpanProcessor } from '../processors/LocalTraceSpanProcessor';
import { ModelUsageSpanProcessor } from '../processors/ModelUsageSpanProcessor';
import { QueueMetricsSpanProcessor } from '../processors/QueueMetricsSpanProcessor';
import { RedMetricsSpanProcessor } from '../processors/RedMetricsSpanProcessor';
import { TenantLogRecordProcessor } from '../processors/TenantLogRecordProcessor';
import { TenantSpanProcessor } from '../processors/TenantSpanProcessor';
import { CacheMetrics } from './core/cache/CacheMetrics';
import { CacheTypes } from './core/cache/CacheTypes';
import { captureExceptionClasses } from './core/ErrorType';
import { IntegrationPolicy } from './core/IntegrationPolicy';
import { LeanContextManager } from './core/LeanContextManager';
import { METRIC_LABELS_FOLDED } from './core/semconv';
import { ConversationMetrics } from './conversations/ConversationMetrics';
import { QueueDepthGauge } from './queues/QueueDepthGauge';
import { BatchExportSpanProcessor } from '../processors/BatchExportSpanProcessor';
import { loadConfig, loadLogLevel, type Env, type OtlpProtocol, type SamplerConfig, type TenantScopeConfig } from './core/config';
import { Deadline } from './core/export/Deadline';
import { ExportGuard } from './core/export/ExportGuard';
import { LazyExporter, LazyPushMetricExporter } from './core/export/LazyExporter';
import { LazyLoggerProvider } from './core/export/LazyLoggerProvider';
import {
  METRIC_EXPORT_POINTS,
  METRIC_EXPORT_POINTS_ATTEMPTED,
  METRIC_EXPORT_SPANS,
  METRIC_EXPORT_SPANS_ATTEMPTED,
  OUTCOME_DROPPED,
  OUTCOME_FAILED,
  REASON_SHUTDOWN_DEADLINE,
} from './core/semconv';
import { PushMetricReader } from './export/PushMetricReader';
import { EndpointNormalizer } from './core/EndpointNormalizer';
import { FirstRequireTrigger } from './core/FirstRequireTrigger';
import { error as logError, debug, TenantScopeDiagLogger, warn } from './core/log';
import { MetricStore } from './core/metrics/MetricStore';
import { SpanDerivedMetricsFilter } from './core/metrics/SpanDerivedMetricsFilter';
import { PrometheusServer } from './prometheus/PrometheusServer';
import { HostPolicy } from './core/tenant/HostPolicy';
import { OwnServers } from './core/OwnServers';
import { PriceTable } from './core/pricing/PriceTable';
import { TenantBudgets } from './core/budgets/TenantBudgets';
import { registerSelfGauges } from './core/metrics/SelfGauges';
import { BUNDLE_FILE, PACKAGE_ROOT, VERSION } from './core/package';
import { ModelEndpointPolicy } from './core/tenant/ModelEndpointPolicy';
import { JaegerPropagator } from './propagation/JaegerPropagator';
import { TenantPropagator } from './propagation/TenantPropagator';
import { TenantRegistry } from './core/tenant/TenantRegistry';
import { TenantScopeTracerProvider } from './trace/LeanTracer';

/** A started tenantscope pipeline. */
export interface TenantScope {
  readonly config: TenantScopeConfig;
  readonly tracerProvider: TracerProvider;
  readonly meterProvider: MeterProvider;
  /**
   * Ships pino and winston records; undefined when no logs exporter is on (`OTEL_LOGS_EXPORTER`). The SDK provider
   * behind it is built at the first `getLogger`.
   */
  readonly loggerProvider: LazyLoggerProvider | undefined;
  readonly store: MetricStore;
  /** Validates tenant ids and admits metric labels; the public tenant API creates its cells with it. */
  readonly tenants: TenantRegistry;
  readonly prometheus: PrometheusServer | undefined;
  /** cache_requests_total / cache_evictions_total, for the public `cacheLookup` and `cacheEviction`. */
  readonly caches: CacheMetrics;
  /** Conversations and messages the app reports (`conversationStarted` and friends). */
  readonly conversations: ConversationMetrics;
  /** Queue depths the app registers (`observeQueueDepth`), polled at collection time. */
  readonly queueDepth: QueueDepthGauge;
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
  const logLevel = loadLogLevel(env);
  const logger = new TenantScopeDiagLogger(logLevel);
  diag.setLogger(logger, { logLevel, suppressOverrideMessage: true });
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
  const internalHosts = new HostPolicy(config.baggageHosts);
  const ownServers = new OwnServers();

  const contextManager = new LeanContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(buildPropagator(config, tenants, modelEndpoints, internalHosts));
  // errors_total names an escaped exception by its class, which the SDK's exception event does not keep. Lean spans
  // keep it themselves, so the SDK's span class is wrapped only when it records spans (lean spans off).
  if (!config.leanSpans) captureExceptionClasses();

  const endpoints = new EndpointNormalizer({ maxEndpoints: config.maxEndpoints, templates: config.endpointTemplates });
  const store = new MetricStore(resource, { maxSeries: config.maxSeries });
  // One deadline for flush-at-exit and shutdown(), shared by every part that exports.
  const deadline = new Deadline();
  const guards: ExportGuard[] = [];
  const caches = new CacheMetrics(
    store,
    tenants,
    new CacheTypes({ pattern: config.cacheTypePattern, maxTypes: config.maxCacheTypes, folded: store.counter(METRIC_LABELS_FOLDED).get(['cache_type']) })
  );
  const conversations = new ConversationMetrics({ store, tenants, maxLabelValues: config.maxLabelValues });
  const queueDepth = new QueueDepthGauge({ store, tenants, maxLabelValues: config.maxLabelValues, timeoutMs: config.queueDepthTimeoutMs });

  const readers: MetricReader[] = [];
  let prometheus: PrometheusServer | undefined;
  for (const e of config.metricsExporters) {
    if (e === 'prometheus') {
      prometheus = new PrometheusServer({ host: config.prometheusHost, port: config.prometheusPort, store, ownServers });
      readers.push(prometheus);
    } else if (e === 'console') {
      readers.push(
        new PeriodicExportingMetricReader({
          exporter: new ConsoleMetricExporter(),
          exportIntervalMillis: config.metricExportIntervalMillis,
          metricProducers: [store],
        })
      );
    } else {
      const guard = new ExportGuard({
        store,
        attemptedSpec: METRIC_EXPORT_POINTS_ATTEMPTED,
        outcomeSpec: METRIC_EXPORT_POINTS,
        signal: 'metric',
        items: 'metric points',
        endpoint: config.otlpMetricsUrl,
      });
      guards.push(guard);
      readers.push(
        new PushMetricReader({
          exporter: new LazyPushMetricExporter(() => buildOtlpMetricExporter(config, guard, logger), config.otlpMetricsTemporality),
          guard,
          deadline,
          intervalMillis: config.metricExportIntervalMillis,
          timeoutMillis: Math.min(config.otlpMetricsTimeoutMillis, config.metricExportIntervalMillis),
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
      // Exemplars name exported traces only: none when no trace is exported at all.
      exemplars: config.sampler.name !== 'always_off' && config.tracesExporters.length > 0,
    }),
    new ModelUsageSpanProcessor({ store, tenants, maxModels: config.maxModels, maxErrorTypes: config.maxErrorTypes }),
    new DependencyMetricsSpanProcessor({
      store,
      tenants,
      caches,
      integrations: new IntegrationPolicy({
        rules: config.integrations,
        maxIntegrations: config.maxIntegrations,
        internal: internalHosts,
        models: modelEndpoints,
      }),
      slowQueryMs: config.slowQueryMs,
      maxTables: config.maxDbTables,
    }),
    new QueueMetricsSpanProcessor({ store, maxLabelValues: config.maxLabelValues }),
    new FirstByteSpanProcessor({ store, tenants, endpoints, serviceName }),
  ];
  const exportProcessors: SpanProcessor[] = [];
  for (const e of config.tracesExporters) {
    if (e === 'console') exportProcessors.push(new SimpleSpanProcessor({ exporter: new ConsoleSpanExporter() }));
    else {
      const guard = new ExportGuard({
        store,
        attemptedSpec: METRIC_EXPORT_SPANS_ATTEMPTED,
        outcomeSpec: METRIC_EXPORT_SPANS,
        signal: 'span',
        items: 'spans',
        endpoint: config.otlpTracesUrl,
      });
      guards.push(guard);
      const exporter = new LazyExporter(() => buildOtlpTraceExporter(config, guard, logger));
      exportProcessors.push(new BatchExportSpanProcessor({ exporter, guard, store, deadline, ...config.batchSpanProcessor }));
    }
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
  // Processors see every span whatever the sampler decides (recorded, not sampled), so metrics stay exact. Every span,
  // sampled or not, is a lean span unless TENANTSCOPE_LEAN_SPANS=false (src/trace/LeanTracer.ts).
  const tracerProvider = new TenantScopeTracerProvider({
    resource,
    sampler: buildSampler(config.sampler),
    spanProcessors,
    lean: config.leanSpans,
  });
  trace.setGlobalTracerProvider(tracerProvider);

  const loggerProvider = buildLoggerProvider(config, resource, store, logger);

  // Histograms our span processors already derive per tenant get a no-op instrument, unless asked for.
  const instrumentationMeters = config.upstreamMetrics
    ? meterProvider
    : new SpanDerivedMetricsFilter(meterProvider, undefined, (fn) => logger.muted(fn));
  const register = (instrumentations: Instrumentation[]): void => {
    registerInstrumentations({ instrumentations, tracerProvider, meterProvider: instrumentationMeters });
  };
  // Each upstream instrumentation is loaded when the app first requires what it patches (start-up time).
  const firstRequire = new FirstRequireTrigger({ ignoreRequirer: isOwnOrOpenTelemetryModule });
  const atStart: Instrumentation[] = [];
  for (const f of upstreamInstrumentationFactories({
    enabled: config.enabledInstrumentations,
    disabled: config.disabledInstrumentations,
    ownServers,
    httpServerChannel: config.httpServer === 'channel',
    pg: config.pg,
    upstreamMetrics: config.upstreamMetrics,
    cacheTypes: caches.types,
    logSending: loggerProvider !== undefined,
  })) {
    if (f.loadOn.length === 0) atStart.push(f.create());
    else firstRequire.on(f.loadOn, () => register([f.create()]));
  }
  if (instrumentationEnabled(config, 'http')) {
    atStart.push(new ConnectionsInstrumentation({ store, tenants, serviceName }));
    // A channel subscription costs nothing until a server receives a request: it is made at start.
    if (config.httpServer === 'channel') {
      atStart.push(
        new HttpServerChannelInstrumentation({
          enter: (ctx) => void contextManager.attach(ctx),
          ownServers,
          recordDuration: config.upstreamMetrics,
        })
      );
    }
  }
  atStart.push(
    new GenAIInstrumentation({
      prices,
      modelEndpoints,
      openaiUsageHosts: config.openaiUsageHosts,
      captureMessageContent: config.captureMessageContent,
      bodyTimeoutMs: config.modelBodyTimeoutMs,
    }),
    new DbPoolsInstrumentation()
  );
  // Process and runtime USE metrics go to readers only: with no metric exporter there is no one to read them.
  if (config.runtimeMetrics && readers.length > 0) atStart.push(runtimeInstrumentation());
  if (config.processMetrics && readers.length > 0) atStart.push(processInstrumentation());
  register(atStart);
  firstRequire.install();

  let down: Promise<void> | undefined;
  const scope: TenantScope = {
    config,
    tracerProvider,
    meterProvider,
    loggerProvider,
    store,
    tenants,
    prometheus,
    caches,
    conversations,
    queueDepth,
    async forceFlush() {
      if (down !== undefined) return down;
      deadline.start(config.shutdownTimeoutMillis);
      try {
        await bounded(
          Promise.all([
            settle(tracerProvider.forceFlush(), 'span flush'),
            settle(loggerProvider?.forceFlush() ?? Promise.resolve(), 'log flush'),
            settle(meterProvider.forceFlush(), 'metric flush'),
          ]),
          config.shutdownTimeoutMillis,
          guards
        );
      } finally {
        if (down === undefined) deadline.clear();
      }
    },
    shutdown() {
      down ??= (async () => {
        deadline.start(config.shutdownTimeoutMillis);
        const before = lostAtDeadline(guards);
        // The tracer provider decides every open local trace synchronously when its shutdown starts, so the
        // span-derived metrics are complete before the meter provider's final export begins; the signals then
        // export side by side, within the one deadline.
        const spans = settle(tracerProvider.shutdown(), 'tracer provider shutdown');
        const records = settle(loggerProvider?.shutdown() ?? Promise.resolve(), 'logger provider shutdown');
        const points = settle(meterProvider.shutdown(), 'meter provider shutdown');
        await bounded(Promise.all([spans, records, points]), config.shutdownTimeoutMillis, guards);
        const lost = lostAtDeadline(guards).map((n, i) => n - before[i]);
        if (lost.some((n) => n > 0)) {
          warn(
            `shutdown deadline of ${config.shutdownTimeoutMillis} ms (TENANTSCOPE_SHUTDOWN_TIMEOUT_MS) reached; not delivered: ${guards
              .map((g, i) => `${lost[i]} ${g.items}`)
              .join(', ')} (counted with reason="shutdown_deadline")`
          );
        }
      })();
      return down;
    },
  };
  return scope;
}

/** tenantscope's own compiled directories (build/src, build/processors, build/instrumentations). */
const OWN_DIRS = ['src', 'processors', 'instrumentations'].map((d) => `${join(PACKAGE_ROOT, 'build', d)}${sep}`);

/**
 * Requires that do not load an instrumentation: from tenantscope itself and from OpenTelemetry packages (the OTLP
 * exporters and our Prometheus endpoint require `http` at start; the app has not used it yet), bundled
 * (build/tenantscope.js) or not.
 */
function isOwnOrOpenTelemetryModule(filename: string): boolean {
  return filename === BUNDLE_FILE || filename.includes(`${sep}node_modules${sep}@opentelemetry${sep}`) || OWN_DIRS.some((d) => filename.startsWith(d));
}

/** True when the upstream instrumentation `name` is on (our connections instrumentation goes with `http`). */
function instrumentationEnabled(config: TenantScopeConfig, name: string): boolean {
  return (config.enabledInstrumentations?.includes(name as never) ?? true) && !config.disabledInstrumentations.includes(name as never);
}

/**
 * Resource attributes: SDK defaults, process, host name, then OTEL_RESOURCE_ATTRIBUTES / OTEL_SERVICE_NAME. Without a
 * service name the fallback is the specification's `unknown_service:` + the executable's base name
 * (`unknown_service:node`), never the path the process was started by.
 */
function buildResource(): Resource {
  const proc = detectResources({ detectors: [processDetector] }).attributes;
  const attrs: Record<string, string | number> = {
    'service.name': `unknown_service:${basename(process.execPath) || 'node'}`,
    'host.name': hostname(),
    'host.arch': arch(),
  };
  for (const [k, v] of Object.entries(proc)) {
    // The command line can carry secrets (tokens passed as flags): never export it.
    if (k === 'process.command_args' || k === 'process.command_line' || k === 'process.command') continue;
    if (typeof v === 'string' || typeof v === 'number') attrs[k] = v;
  }
  return defaultResource().merge(resourceFromAttributes(attrs)).merge(detectResources({ detectors: [envDetector] }));
}

/**
 * Waits for `work` at most `ms`: then every guard abandons its export in flight (its request destroyed), so nothing
 * of ours keeps the process alive. The timer is referenced on purpose: a flush at exit holds the process until it
 * ends or the deadline passes, never longer.
 */
async function bounded(work: Promise<unknown>, ms: number, guards: readonly ExportGuard[]): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      for (const g of guards) g.abort(REASON_SHUTDOWN_DEADLINE);
      resolve();
    }, ms);
  });
  try {
    await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Items each guard counted as failed or dropped at a shutdown deadline so far. */
function lostAtDeadline(guards: readonly ExportGuard[]): number[] {
  return guards.map((g) => g.counted(OUTCOME_FAILED, REASON_SHUTDOWN_DEADLINE) + g.counted(OUTCOME_DROPPED, REASON_SHUTDOWN_DEADLINE));
}

async function settle(p: Promise<unknown>, what: string): Promise<void> {
  try {
    await p;
  } catch (err) {
    logError(`${what} failed`, err);
  }
}

/** Event-loop delay and utilisation, heap and GC (`nodejs.*`, `v8js.*`), from upstream instrumentation-runtime-node. */
function runtimeInstrumentation(): Instrumentation {
  const { RuntimeNodeInstrumentation } = require('@opentelemetry/instrumentation-runtime-node') as typeof import('@opentelemetry/instrumentation-runtime-node');
  return new RuntimeNodeInstrumentation();
}

/**
 * Process CPU and memory (`process.cpu.*`, `process.memory.usage`) from upstream instrumentation-host-metrics, its
 * process groups only: machine-wide metrics belong to the Collector's host metrics receiver, so N replicas on one
 * host do not report the machine N times. Read at collection time.
 */
function processInstrumentation(): Instrumentation {
  const { HostMetricsInstrumentation } = require('@opentelemetry/instrumentation-host-metrics') as typeof import('@opentelemetry/instrumentation-host-metrics');
  return new HostMetricsInstrumentation({ metricGroups: ['process.cpu', 'process.memory'] });
}

function buildPropagator(
  config: TenantScopeConfig,
  tenants: TenantRegistry,
  modelEndpoints: ModelEndpointPolicy,
  baggageHosts: HostPolicy
): TextMapPropagator {
  const list: TextMapPropagator[] = [];
  for (const name of config.propagators) {
    if (name === 'tracecontext') list.push(new W3CTraceContextPropagator());
    else if (name === 'baggage') list.push(new W3CBaggagePropagator());
    else if (name === 'b3' || name === 'b3multi') {
      const { B3Propagator, B3InjectEncoding } = require('@opentelemetry/propagator-b3') as typeof import('@opentelemetry/propagator-b3');
      list.push(new B3Propagator({ injectEncoding: name === 'b3' ? B3InjectEncoding.SINGLE_HEADER : B3InjectEncoding.MULTI_HEADER }));
    } else if (name === 'jaeger') {
      list.push(new JaegerPropagator());
    }
  }
  return new TenantPropagator({
    inner: new CompositePropagator({ propagators: list }),
    // Both carry baggage (W3C `baggage`, Jaeger `uberctx-*`): the tenant entry is read from either.
    innerHasBaggage: config.propagators.includes('baggage') || config.propagators.includes('jaeger'),
    header: config.tenantHeader,
    tenants,
    baggageHosts,
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

/** Settings tenantscope resolved and validated itself (passed in code, they win over the exporters' env reading). */
interface OtlpSettings {
  url: string;
  timeoutMillis: number;
  compression: 'gzip' | 'none';
}

/**
 * The logs pipeline when a logs exporter is on: the tenant stamp first, then one processor per exporter.
 * Registered as the global logger provider twice: with `@opentelemetry/api` (pino's sender uses it) and with
 * `@opentelemetry/api-logs` (the winston transport, whose latest release 0.34 predates OpenTelemetry JS 3.0,
 * still gets its logger there; the SDK 3.x logger accepts the records it emits). The SDK provider
 * (`@opentelemetry/sdk-logs`) is built at the first `getLogger` (`LazyLoggerProvider`); the OTLP processors, whose
 * counters are in the store from the start, are made now.
 */
function buildLoggerProvider(config: TenantScopeConfig, resource: Resource, store: MetricStore, logger: TenantScopeDiagLogger): LazyLoggerProvider | undefined {
  if (config.logsExporters.length === 0) return undefined;
  const tenantStamp = new TenantLogRecordProcessor();
  const made: (LogRecordProcessor | 'console')[] = config.logsExporters.map((e) =>
    e === 'console'
      ? 'console'
      : new CountingBatchLogRecordProcessor({
          exporter: new LazyExporter(() => buildOtlpLogExporter(config, logger)),
          store,
          target: config.otlpLogsTarget,
          ...config.batchLogRecordProcessor,
        })
  );
  const atStart = [tenantStamp, ...made.filter((p): p is LogRecordProcessor => p !== 'console')];
  const provider = new LazyLoggerProvider(() => {
    const sdkLogs = require('@opentelemetry/sdk-logs') as typeof import('@opentelemetry/sdk-logs');
    const processors: LogRecordProcessor[] = [
      tenantStamp,
      ...made.map((p) => (p === 'console' ? new sdkLogs.SimpleLogRecordProcessor({ exporter: new sdkLogs.ConsoleLogRecordExporter() }) : p)),
    ];
    return new sdkLogs.LoggerProvider({ resource, processors });
  }, atStart);
  logs.setGlobalLoggerProvider(provider);
  const apiLogs = require('@opentelemetry/api-logs') as typeof import('@opentelemetry/api-logs');
  apiLogs.logs.setGlobalLoggerProvider(provider as unknown as import('@opentelemetry/api-logs').LoggerProvider);
  return provider;
}

/*
 * The OTLP exporters, each built at its first export (LazyExporter: nothing to send, nothing loaded) with tenantscope's
 * parts installed into it. An installer for an exporter is one line in its build function below.
 *
 * Built muted and with the settings loadConfig resolved: the exporter re-reads the same variables and would repeat,
 * unnamed, a problem already reported in one line.
 */

/**
 * The guarded transport, loaded with the first exporter that needs it: it requires `node:https` (with `tls` and
 * `crypto`, ≈ 7–9 ms of start-up), which nothing else of ours needs before an export.
 */
function guardedTransport(): typeof import('./core/export/GuardedHttpTransport') {
  return require('./core/export/GuardedHttpTransport') as typeof import('./core/export/GuardedHttpTransport');
}

function buildOtlpTraceExporter(config: TenantScopeConfig, guard: ExportGuard, logger: TenantScopeDiagLogger): SpanExporter {
  const exporter = logger.muted(() =>
    otlpTraceExporter(config.otlpTracesProtocol, {
      url: config.otlpTracesUrl,
      timeoutMillis: config.otlpTracesTimeoutMillis,
      compression: config.otlpTracesCompression,
    })
  );
  guardedTransport().installGuardedTransport(exporter, guard);
  if (config.otlpTracesProtocol === 'http/protobuf' && config.otlpTraceEncoder === 'lean') {
    const { ProtobufTraceSerializer } = require('@opentelemetry/otlp-transformer') as typeof import('@opentelemetry/otlp-transformer');
    const { installLeanTraceSerializer } = require('./export/LeanTraceEncoder') as typeof import('./export/LeanTraceEncoder');
    installLeanTraceSerializer(exporter, ProtobufTraceSerializer);
  }
  return exporter;
}

function buildOtlpMetricExporter(config: TenantScopeConfig, guard: ExportGuard, logger: TenantScopeDiagLogger): PushMetricExporter {
  const exporter = logger.muted(() =>
    otlpMetricExporter(config.otlpMetricsProtocol, {
      url: config.otlpMetricsUrl,
      timeoutMillis: config.otlpMetricsTimeoutMillis,
      compression: config.otlpMetricsCompression,
    })
  );
  guardedTransport().installGuardedTransport(exporter, guard);
  const { installExemplarSerializer } = require('./export/ExemplarSerializer') as typeof import('./export/ExemplarSerializer');
  installExemplarSerializer(exporter, config.otlpMetricsProtocol);
  return exporter;
}

function buildOtlpLogExporter(config: TenantScopeConfig, logger: TenantScopeDiagLogger): LogRecordExporter {
  return logger.muted(() =>
    otlpLogExporter(config.otlpLogsProtocol, {
      url: config.otlpLogsUrl,
      timeoutMillis: config.otlpLogsTimeoutMillis,
      compression: config.otlpLogsCompression,
    })
  );
}

function otlpLogExporter(protocol: OtlpProtocol, settings: OtlpSettings): LogRecordExporter {
  if (protocol === 'http/json') {
    const { OTLPLogExporter } = require('@opentelemetry/exporter-logs-otlp-http') as typeof import('@opentelemetry/exporter-logs-otlp-http');
    return new OTLPLogExporter(settings as never);
  }
  const { OTLPLogExporter } = require('@opentelemetry/exporter-logs-otlp-proto') as typeof import('@opentelemetry/exporter-logs-otlp-proto');
  return new OTLPLogExporter(settings as never);
}

function otlpTraceExporter(protocol: OtlpProtocol, settings: OtlpSettings): SpanExporter {
  if (protocol === 'http/json') {
    const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http');
    return new OTLPTraceExporter(settings as never);
  }
  const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto') as typeof import('@opentelemetry/exporter-trace-otlp-proto');
  return new OTLPTraceExporter(settings as never);
}

function otlpMetricExporter(protocol: OtlpProtocol, settings: OtlpSettings): PushMetricExporter {
  if (protocol === 'http/json') {
    const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-http') as typeof import('@opentelemetry/exporter-metrics-otlp-http');
    return new OTLPMetricExporter(settings as never);
  }
  const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-proto') as typeof import('@opentelemetry/exporter-metrics-otlp-proto');
  return new OTLPMetricExporter(settings as never);
}
