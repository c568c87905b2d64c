import { SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace';
import { modelCallOf, type ModelCall } from '../instrumentations/genai/internal-types';
import { describeError, warnOnce } from '../src/log';
import type { CounterFamily, CounterSeries, HistogramFamily, HistogramSeries } from '../src/metrics/MetricFamily';
import type { MetricStore } from '../src/metrics/MetricStore';
import { PICO_PER_CENT } from '../src/pricing/PriceTable';
import {
  ATTR_TENANT_ID,
  METRIC_GEN_AI_OPERATION_DURATION,
  METRIC_GEN_AI_TOKEN_USAGE,
  METRIC_LABELS_FOLDED,
  METRIC_MODEL_API_CALLS,
  METRIC_MODEL_API_COST,
  METRIC_MODEL_API_DURATION,
  METRIC_MODEL_API_TOKENS,
  METRIC_MODELS_UNPRICED,
  MODEL_OTHER,
  TENANT_UNKNOWN,
} from '../src/semconv';
import type { TenantRegistry } from '../src/tenant/TenantRegistry';
import { tenantCellOf } from './TenantSpanProcessor';

export interface ModelUsageSpanProcessorOptions {
  store: MetricStore;
  tenants: TenantRegistry;
  /** Distinct model names the metrics may see; later ones fold into `_OTHER`. */
  maxModels: number;
}

/** Exact money: whole cents plus a pico-dollar remainder below one cent, both integers. */
class CostSeries {
  private _cents = 0;
  private _pico = 0;
  constructor(private readonly _series: CounterSeries) {}
  add(pico: number): void {
    let p = this._pico + pico;
    if (p >= PICO_PER_CENT) {
      const whole = Math.floor(p / PICO_PER_CENT);
      this._cents += whole;
      p -= whole * PICO_PER_CENT;
    }
    this._pico = p;
    // The exported value is the only float: whole cents stay exact up to 2^53 cents.
    this._series.value = this._cents + p / PICO_PER_CENT;
  }
}

/** Series one (provider, model, tenant) updates whatever the operation. */
interface UsageCell {
  readonly input: CounterSeries;
  readonly cacheRead: CounterSeries;
  readonly cacheWrite: CounterSeries;
  readonly output: CounterSeries;
  readonly cost: CostSeries;
  /** operation → status cell */
  readonly ops: Map<string, OpCell>;
}
interface OpCell {
  readonly ok: CounterSeries;
  readonly error: CounterSeries;
  readonly duration: HistogramSeries;
}
/** gen_ai.client.* series of one (operation, provider, request model). */
interface SemconvCell {
  readonly inputTokens: HistogramSeries;
  readonly outputTokens: HistogramSeries;
  readonly duration: HistogramSeries;
  readonly errors: Map<string, HistogramSeries>;
}

const MAX_ERROR_TYPES = 50;

/**
 * Derives the seed's model families (`model_api_calls_total`,
 * `model_api_duration_seconds`, `model_api_tokens_total`, `model_api_cost_cents_total`) and the GenAI
 * `gen_ai.client.*` histograms from spans that carry a {@link ModelCall} record (priced by the GenAI instrumentation as usage arrives, so the
 * cost is on the span when it ends). Runs as a metric processor of LocalTraceSpanProcessor, i.e. on `onEnd`
 * once the request's tenant is final. Per span: a few Map look-ups and increments on cached series
 * (see bench/model.bench.ts); money is summed exactly, in whole cents plus integer pico-dollars.
 */
export class ModelUsageSpanProcessor implements SpanProcessor {
  private readonly _tenants: TenantRegistry;
  private readonly _maxModels: number;
  private readonly _calls: CounterFamily;
  private readonly _duration: HistogramFamily;
  private readonly _tokens: CounterFamily;
  private readonly _cost: CounterFamily;
  private readonly _tokenUsage: HistogramFamily;
  private readonly _opDuration: HistogramFamily;
  private readonly _unpriced: CounterFamily;
  private readonly _modelsFolded: CounterSeries;
  /** provider → model label → tenant → cell */
  private readonly _cells = new Map<string, Map<string, Map<string, UsageCell>>>();
  /** operation → provider → model label → cell */
  private readonly _semconv = new Map<string, Map<string, Map<string, SemconvCell>>>();
  /** model name → label (itself, or `_OTHER` past the limit) */
  private readonly _modelLabels = new Map<string, string>();
  private readonly _unpricedSeries = new Map<string, CounterSeries>();
  private readonly _errorTypes = new Set<string>();

  constructor(options: ModelUsageSpanProcessorOptions) {
    const { store } = options;
    this._tenants = options.tenants;
    this._maxModels = options.maxModels;
    this._calls = store.counter(METRIC_MODEL_API_CALLS);
    this._duration = store.histogram(METRIC_MODEL_API_DURATION);
    this._tokens = store.counter(METRIC_MODEL_API_TOKENS);
    this._cost = store.counter(METRIC_MODEL_API_COST);
    this._tokenUsage = store.histogram(METRIC_GEN_AI_TOKEN_USAGE);
    this._opDuration = store.histogram(METRIC_GEN_AI_OPERATION_DURATION);
    this._unpriced = store.counter(METRIC_MODELS_UNPRICED);
    this._modelsFolded = store.counter(METRIC_LABELS_FOLDED).get(['model']);
  }

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    const call = modelCallOf(span);
    if (call === undefined) return;
    try {
      this._record(span, call);
    } catch (err) {
      warnOnce('model-onEnd', `model usage metrics skipped a span: ${describeError(err)}`);
    }
  }

  private _record(span: ReadableSpan, call: ModelCall): void {
    const cell = tenantCellOf(span);
    const tenant = cell !== undefined ? cell.label() : this._tenantFromAttribute(span.attributes[ATTR_TENANT_ID]);
    const model = this._modelLabel(call.requestModel !== '' ? call.requestModel : call.pricedModel);
    const failed = call.errorType !== undefined || span.status.code === SpanStatusCode.ERROR;
    const d = span.duration;
    const seconds = d[0] + d[1] / 1e9;

    const u = this._usageCell(call.provider, model, tenant);
    const op = this._opCell(u, call.operation, call.provider, model, tenant);
    if (failed) op.error.value++;
    else op.ok.value++;
    op.duration.record(seconds);

    if (call.usageKnown) {
      u.input.value += call.input;
      u.cacheRead.value += call.cacheRead;
      u.cacheWrite.value += call.cacheWrite5m + call.cacheWrite1h;
      u.output.value += call.output;
      if (call.costPico !== undefined) u.cost.add(call.costPico);
      else this._countUnpriced(model);
    }

    if (!call.semconvMetrics) return;
    const s = this._semconvCell(call.operation, call.provider, model);
    if (call.usageKnown) {
      s.inputTokens.record(call.inputTotal);
      s.outputTokens.record(call.output);
    }
    if (failed) this._errorDuration(s, call, model, call.errorType ?? 'error').record(seconds);
    else s.duration.record(seconds);
  }

  private _tenantFromAttribute(raw: unknown): string {
    if (raw === undefined) return TENANT_UNKNOWN;
    return this._tenants.label(this._tenants.spanId(raw));
  }

  private _modelLabel(name: string): string {
    const l = this._modelLabels.get(name);
    if (l !== undefined) return l;
    if (name !== '' && name.length <= 128 && this._modelLabels.size < this._maxModels) {
      this._modelLabels.set(name, name);
      return name;
    }
    // Not remembered, so hostile model names cannot grow the map: a miss costs one look-up.
    this._modelsFolded.value++;
    return MODEL_OTHER;
  }

  private _countUnpriced(label: string): void {
    let s = this._unpricedSeries.get(label);
    if (s === undefined) this._unpricedSeries.set(label, (s = this._unpriced.get([label])));
    s.value++;
  }

  private _usageCell(provider: string, model: string, tenant: string): UsageCell {
    let byModel = this._cells.get(provider);
    if (byModel === undefined) this._cells.set(provider, (byModel = new Map()));
    let byTenant = byModel.get(model);
    if (byTenant === undefined) byModel.set(model, (byTenant = new Map()));
    let c = byTenant.get(tenant);
    if (c === undefined) {
      const t = this._tokens;
      c = {
        input: t.get([provider, model, tenant, 'input']),
        cacheRead: t.get([provider, model, tenant, 'cache_read']),
        cacheWrite: t.get([provider, model, tenant, 'cache_write']),
        output: t.get([provider, model, tenant, 'output']),
        cost: new CostSeries(this._cost.get([provider, model, tenant])),
        ops: new Map(),
      };
      byTenant.set(tenant, c);
    }
    return c;
  }

  private _opCell(u: UsageCell, operation: string, provider: string, model: string, tenant: string): OpCell {
    let c = u.ops.get(operation);
    if (c === undefined) {
      c = {
        ok: this._calls.get([provider, model, tenant, operation, 'success']),
        error: this._calls.get([provider, model, tenant, operation, 'error']),
        duration: this._duration.get([provider, model, tenant, operation]),
      };
      u.ops.set(operation, c);
    }
    return c;
  }

  private _semconvCell(operation: string, provider: string, model: string): SemconvCell {
    let byProvider = this._semconv.get(operation);
    if (byProvider === undefined) this._semconv.set(operation, (byProvider = new Map()));
    let byModel = byProvider.get(provider);
    if (byModel === undefined) byProvider.set(provider, (byModel = new Map()));
    let c = byModel.get(model);
    if (c === undefined) {
      c = {
        inputTokens: this._tokenUsage.get([operation, provider, 'input', model]),
        outputTokens: this._tokenUsage.get([operation, provider, 'output', model]),
        duration: this._opDuration.get([operation, provider, model, '']),
        errors: new Map(),
      };
      byModel.set(model, c);
    }
    return c;
  }

  private _errorDuration(s: SemconvCell, call: ModelCall, model: string, type: string): HistogramSeries {
    let h = s.errors.get(type);
    if (h === undefined) {
      let label = type;
      if (!this._errorTypes.has(label)) {
        if (this._errorTypes.size >= MAX_ERROR_TYPES || label.length > 64) label = MODEL_OTHER;
        else this._errorTypes.add(label);
      }
      h = this._opDuration.get([call.operation, call.provider, model, label]);
      s.errors.set(type, h);
    }
    return h;
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
