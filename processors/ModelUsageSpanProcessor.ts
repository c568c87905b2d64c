import { SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace';
import { modelCallOf, type ModelCall } from '../src/core/ModelCall';
import { describeError, warnOnce } from '../src/core/log';
import {
  HISTOGRAM_HEADER,
  histogramSlots,
  newSeriesData,
  recordHistogram,
  type CounterFamily,
  type CounterSeries,
  type HistogramFamily,
  type HistogramSeries,
  type SeriesData,
} from '../src/core/metrics/MetricFamily';
import type { MetricStore } from '../src/core/metrics/MetricStore';
import { PICO_PER_CENT } from '../src/core/pricing/PriceTable';
import {
  ATTR_TENANT_ID,
  METRIC_GEN_AI_OPERATION_DURATION,
  METRIC_GEN_AI_TIME_PER_OUTPUT_CHUNK,
  METRIC_GEN_AI_TIME_TO_FIRST_CHUNK,
  METRIC_GEN_AI_TOKEN_USAGE,
  METRIC_LABELS_FOLDED,
  METRIC_MODEL_API_CALLS,
  METRIC_MODEL_API_COST,
  METRIC_MODEL_API_DURATION,
  METRIC_MODEL_API_TIME_TO_FIRST_TOKEN,
  METRIC_MODEL_API_TOKENS,
  METRIC_MODELS_UNPRICED,
  MODEL_OTHER,
} from '../src/core/semconv';
import { tenantCellOf } from '../src/core/tenant/TenantCell';
import type { TenantRegistry } from '../src/core/tenant/TenantRegistry';

export interface ModelUsageSpanProcessorOptions {
  store: MetricStore;
  tenants: TenantRegistry;
  /** Distinct model names the metrics may see; later ones fold into `_OTHER`. */
  maxModels: number;
  /** Distinct `error.type` values on `gen_ai.client.operation.duration`; later ones fold into `_OTHER` (counted). */
  maxErrorTypes: number;
}

/*
 * The cells below hold each series as the array and offset its numbers live at (`SeriesData` in
 * src/core/metrics/MetricFamily.ts) rather than the series object, so a span touches no series object: for a
 * new cell every `…Data` is the same array (see the U_* layout), one cold object per span instead of ten
 * (bench/model.bench.ts). A series that already existed keeps its own array, hence a pair per series.
 */

/** The call counters and duration histogram of one (provider, model, tenant, operation). */
interface OpCell {
  /** `model_api_calls_total{status="success"}`: `successData[successOffset]`. */
  readonly successData: SeriesData;
  readonly successOffset: number;
  /** `model_api_calls_total{status="error"}`: `errorData[errorOffset]`. */
  readonly errorData: SeriesData;
  readonly errorOffset: number;
  /** `model_api_duration_seconds`: the histogram in `durationData` from `durationOffset`. */
  readonly durationData: SeriesData;
  readonly durationOffset: number;
}

/** An {@link OpCell} pointing at these series' numbers. */
function opCell(success: CounterSeries, error: CounterSeries, duration: HistogramSeries): OpCell {
  return {
    successData: success.data,
    successOffset: success.offset,
    errorData: error.data,
    errorOffset: error.offset,
    durationData: duration.data,
    durationOffset: duration.offset,
  };
}

/** The series a new {@link UsageCell} is built from. */
interface UsageSeries {
  /** `model_api_tokens_total` by `token_type`. */
  readonly input: CounterSeries;
  readonly cacheRead: CounterSeries;
  readonly cacheWrite: CounterSeries;
  readonly output: CounterSeries;
  /** `model_api_cost_cents_total`. */
  readonly cost: CounterSeries;
}

/**
 * What one (provider, model, tenant) updates: token counters, the cost counter and, for its first operation, the
 * call counters and duration. Money is kept exact here as whole cents plus an integer pico-dollar remainder; the
 * exported value is the only float.
 */
class UsageCell {
  /** The operation the cell was created for; its call counters and duration are `first`. */
  readonly firstOperation: string;
  readonly first: OpCell;
  /** `model_api_tokens_total` by token type, and `model_api_cost_cents_total`: `…Data[…Offset]`. */
  readonly inputData: SeriesData;
  readonly inputOffset: number;
  readonly cacheReadData: SeriesData;
  readonly cacheReadOffset: number;
  readonly cacheWriteData: SeriesData;
  readonly cacheWriteOffset: number;
  readonly outputData: SeriesData;
  readonly outputOffset: number;
  readonly costData: SeriesData;
  readonly costOffset: number;
  cents = 0;
  pico = 0;
  /** Operations other than the first. */
  ops: Map<string, OpCell> | undefined;
  /** Time to first token of streamed calls, created on the first one. */
  ttft: HistogramSeries | undefined = undefined;

  constructor(series: UsageSeries, firstOperation: string, first: OpCell) {
    this.firstOperation = firstOperation;
    this.first = first;
    this.inputData = series.input.data;
    this.inputOffset = series.input.offset;
    this.cacheReadData = series.cacheRead.data;
    this.cacheReadOffset = series.cacheRead.offset;
    this.cacheWriteData = series.cacheWrite.data;
    this.cacheWriteOffset = series.cacheWrite.offset;
    this.outputData = series.output.data;
    this.outputOffset = series.output.offset;
    this.costData = series.cost.data;
    this.costOffset = series.cost.offset;
  }

  addCost(pico: number): void {
    let p = this.pico + pico;
    if (p >= PICO_PER_CENT) {
      const whole = Math.floor(p / PICO_PER_CENT);
      this.cents += whole;
      p -= whole * PICO_PER_CENT;
    }
    this.pico = p;
    // Whole cents stay exact up to 2^53 cents.
    this.costData[this.costOffset] = this.cents + p / PICO_PER_CENT;
  }
}

/** Layout of a new usage cell's array: four token counters, cost, the first operation's success and error counters, then its duration histogram. */
const U_INPUT = 0;
const U_CACHE_READ = 1;
const U_CACHE_WRITE = 2;
const U_OUTPUT = 3;
const U_COST = 4;
const U_SUCCESS = 5;
const U_ERROR = 6;
const U_DURATION = 7;
/** Layout of an operation cell's own array (operations after a usage cell's first). */
const OP_SUCCESS = 0;
const OP_ERROR = 1;
const OP_DURATION = 2;
const MODEL_BOUNDARIES = METRIC_MODEL_API_DURATION.boundaries ?? [];

/** gen_ai.client.* series of one (operation, provider, request model). */
interface SemconvCell {
  readonly inputTokens: HistogramSeries;
  readonly outputTokens: HistogramSeries;
  readonly duration: HistogramSeries;
  readonly errors: Map<string, HistogramSeries>;
  /** Streaming latency, created on the first streamed call. */
  firstChunk: HistogramSeries | undefined;
  perChunk: HistogramSeries | undefined;
}

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
  private readonly _maxErrorTypes: number;
  private readonly _errorTypesFolded: CounterSeries;
  private readonly _calls: CounterFamily;
  private readonly _duration: HistogramFamily;
  private readonly _tokens: CounterFamily;
  private readonly _cost: CounterFamily;
  private readonly _tokenUsage: HistogramFamily;
  private readonly _opDuration: HistogramFamily;
  private readonly _unpriced: CounterFamily;
  private readonly _ttft: HistogramFamily;
  private readonly _firstChunk: HistogramFamily;
  private readonly _perChunk: HistogramFamily;
  private readonly _modelsFolded: CounterSeries;
  /** provider → model label → tenant index (see TenantRegistry.index) → cell */
  private readonly _cells = new Map<string, Map<string, UsageCell[]>>();
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
    this._maxErrorTypes = options.maxErrorTypes;
    this._calls = store.counter(METRIC_MODEL_API_CALLS);
    this._duration = store.histogram(METRIC_MODEL_API_DURATION);
    this._tokens = store.counter(METRIC_MODEL_API_TOKENS);
    this._cost = store.counter(METRIC_MODEL_API_COST);
    this._tokenUsage = store.histogram(METRIC_GEN_AI_TOKEN_USAGE);
    this._opDuration = store.histogram(METRIC_GEN_AI_OPERATION_DURATION);
    this._unpriced = store.counter(METRIC_MODELS_UNPRICED);
    this._ttft = store.histogram(METRIC_MODEL_API_TIME_TO_FIRST_TOKEN);
    this._firstChunk = store.histogram(METRIC_GEN_AI_TIME_TO_FIRST_CHUNK);
    this._perChunk = store.histogram(METRIC_GEN_AI_TIME_PER_OUTPUT_CHUNK);
    this._modelsFolded = store.counter(METRIC_LABELS_FOLDED).get(['model']);
    this._errorTypesFolded = store.counter(METRIC_LABELS_FOLDED).get(['error_type']);
  }

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    try {
      const call = modelCallOf(span);
      if (call !== undefined) this._record(span, call);
    } catch (err) {
      warnOnce('model-onEnd', `model usage metrics skipped a span: ${describeError(err)}`);
    }
  }

  private _record(span: ReadableSpan, call: ModelCall): void {
    const cell = tenantCellOf(span);
    const tenantIndex = cell !== undefined ? this._tenants.indexOf(cell) : this._tenants.indexOfAttribute(span.attributes[ATTR_TENANT_ID]);
    const tenant = this._tenants.labelAt(tenantIndex);
    const model = this._modelLabel(call.requestModel !== '' ? call.requestModel : call.pricedModel);
    const failed = call.errorType !== undefined || span.status.code === SpanStatusCode.ERROR;
    const d = span.duration;
    const seconds = d[0] + d[1] / 1e9;

    const u = this._usageCell(call.provider, model, tenant, tenantIndex, call.operation);
    const op = call.operation === u.firstOperation ? u.first : this._opCell(u, call.operation, call.provider, model, tenant);
    if (failed) op.errorData[op.errorOffset]++;
    else op.successData[op.successOffset]++;
    recordHistogram(op.durationData, op.durationOffset, MODEL_BOUNDARIES, seconds);

    if (call.usageKnown) {
      u.inputData[u.inputOffset] += call.input;
      u.cacheReadData[u.cacheReadOffset] += call.cacheRead;
      u.cacheWriteData[u.cacheWriteOffset] += call.cacheWrite5m + call.cacheWrite1h;
      u.outputData[u.outputOffset] += call.output;
      if (call.costPico !== undefined) u.addCost(call.costPico);
      else this._countUnpriced(model);
    }
    const ttfc = call.firstChunkSeconds;
    if (ttfc !== undefined) (u.ttft ??= this._ttft.get([call.provider, model, tenant])).record(ttfc);

    if (!call.semconvMetrics) return;
    const s = this._semconvCell(call.operation, call.provider, model);
    if (call.usageKnown) {
      s.inputTokens.record(call.inputTotal);
      s.outputTokens.record(call.output);
    }
    if (failed) this._errorDuration(s, call, model, call.errorType ?? 'error').record(seconds);
    else s.duration.record(seconds);
    if (ttfc !== undefined) {
      (s.firstChunk ??= this._firstChunk.get([call.operation, call.provider, model])).record(ttfc);
      const gaps = call.chunkGaps;
      if (gaps !== undefined) mergeHistogram((s.perChunk ??= this._perChunk.get([call.operation, call.provider, model])), gaps);
    }
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

  private _usageCell(provider: string, model: string, tenant: string, tenantIndex: number, operation: string): UsageCell {
    let byModel = this._cells.get(provider);
    if (byModel === undefined) this._cells.set(provider, (byModel = new Map()));
    let byTenant = byModel.get(model);
    if (byTenant === undefined) byModel.set(model, (byTenant = []));
    let c = byTenant[tenantIndex];
    if (c === undefined) {
      const d = newSeriesData(U_DURATION + histogramSlots(MODEL_BOUNDARIES), [U_DURATION]);
      const t = this._tokens;
      const series: UsageSeries = {
        input: t.get([provider, model, tenant, 'input'], d, U_INPUT),
        cacheRead: t.get([provider, model, tenant, 'cache_read'], d, U_CACHE_READ),
        cacheWrite: t.get([provider, model, tenant, 'cache_write'], d, U_CACHE_WRITE),
        output: t.get([provider, model, tenant, 'output'], d, U_OUTPUT),
        cost: this._cost.get([provider, model, tenant], d, U_COST),
      };
      const first = opCell(
        this._calls.get([provider, model, tenant, operation, 'success'], d, U_SUCCESS),
        this._calls.get([provider, model, tenant, operation, 'error'], d, U_ERROR),
        this._duration.get([provider, model, tenant, operation], d, U_DURATION)
      );
      c = new UsageCell(series, operation, first);
      byTenant[tenantIndex] = c;
    }
    return c;
  }

  private _opCell(u: UsageCell, operation: string, provider: string, model: string, tenant: string): OpCell {
    let c = u.ops?.get(operation);
    if (c === undefined) {
      const d = newSeriesData(OP_DURATION + histogramSlots(MODEL_BOUNDARIES), [OP_DURATION]);
      c = opCell(
        this._calls.get([provider, model, tenant, operation, 'success'], d, OP_SUCCESS),
        this._calls.get([provider, model, tenant, operation, 'error'], d, OP_ERROR),
        this._duration.get([provider, model, tenant, operation], d, OP_DURATION)
      );
      (u.ops ??= new Map()).set(operation, c);
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
        firstChunk: undefined,
        perChunk: undefined,
      };
      byModel.set(model, c);
    }
    return c;
  }

  private _errorDuration(s: SemconvCell, call: ModelCall, model: string, type: string): HistogramSeries {
    let h = s.errors.get(type);
    if (h !== undefined) return h;
    let label = type;
    if (!this._errorTypes.has(label)) {
      if (this._errorTypes.size >= this._maxErrorTypes || label.length > 64) {
        this._errorTypesFolded.value++;
        label = MODEL_OTHER;
      } else {
        this._errorTypes.add(label);
      }
    }
    h = s.errors.get(label);
    if (h === undefined) {
      h = this._opDuration.get([call.operation, call.provider, model, label]);
      s.errors.set(label, h);
    }
    // Only admitted types are remembered under their own name: raw provider strings past the limit are not
    // kept, so hostile or ever-changing error text cannot grow the map (each costs a look-up instead).
    return h;
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** Adds a per-call histogram (a `SeriesData` at offset 0, same boundaries) into `dst`. */
function mergeHistogram(dst: HistogramSeries, src: SeriesData): void {
  const d = dst.data;
  const o = dst.offset;
  d[o] += src[0];
  d[o + 1] += src[1];
  if (src[2] < d[o + 2]) d[o + 2] = src[2];
  if (src[3] > d[o + 3]) d[o + 3] = src[3];
  for (let i = HISTOGRAM_HEADER; i < src.length; i++) d[o + i] += src[i];
}
