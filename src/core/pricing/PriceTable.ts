import { closeSync, constants, fstatSync, openSync, readFileSync, readSync, statSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { clip, describeError, warn, warnOnce } from '../log';

/**
 * Prices of one model in one condition, in integer pico-dollars (1e-12 USD) per token (per call for `call`). A
 * price given in USD per million tokens with at most six decimals is an exact integer in this unit, so the cost
 * of a call (tokens × price) is an exact integer too: nothing is rounded per call.
 */
export interface TokenPrices {
  /** Uncached input. */
  readonly input: number;
  readonly cacheRead: number;
  readonly cacheWrite5m: number;
  readonly cacheWrite1h: number;
  /** Output other than reasoning. */
  readonly output: number;
  /** Reasoning/thinking output (most models: the output price). */
  readonly reasoning: number;
  /** A flat price per call (a model priced per request), usually 0. */
  readonly call: number;
}

/**
 * Token counts of one call, by billing class: `input` is uncached input only; `output` includes `reasoning`
 * (as every provider reports it), which is billed at its own price where the source gives one.
 */
export interface BilledTokens {
  readonly input: number;
  readonly cacheRead: number;
  readonly cacheWrite5m: number;
  readonly cacheWrite1h: number;
  readonly output: number;
  readonly reasoning: number;
}

/**
 * Prices by the size of a call's input (long-context tiers): `prices[0]` applies up to `above[0]` input tokens
 * (cache reads and writes included), `prices[i]` above `above[i - 1]`. Most models have one entry and no bound.
 */
export interface PriceSchedule {
  readonly above: readonly number[];
  readonly prices: readonly TokenPrices[];
}

/** When a price applies (the source's conditional prices): always, from a date on, or in a daily UTC window. */
type Condition = { readonly kind: 'always' } | { readonly kind: 'since'; readonly ms: number } | { readonly kind: 'daily'; readonly from: number; readonly to: number };

/** One conditional price of a model: its standard schedule and one per service tier the table knows. */
export interface PriceVariant {
  readonly when: Condition;
  readonly standard: PriceSchedule;
  /** By service tier (`batch`, `flex`, `priority`…); a tier not listed is billed at `standard`. */
  readonly tiers: ReadonlyMap<string, PriceSchedule>;
}

/** A model's prices as the table resolved them. */
export interface ModelPrice {
  /** The source's model id, or the override file's key. */
  readonly model: string;
  /** The source's provider id (`openai`, `google`, `aws`…), or the override entry's `provider` ('' when none). */
  readonly provider: string;
  /** Where the prices come from. */
  readonly origin: 'genai-prices' | 'override';
  /** Conditional prices, in the source's order: the last whose condition holds applies, else the first. */
  readonly variants: readonly PriceVariant[];
  /**
   * The standard prices when they are the only ones that can apply (one condition, no long-context tier): the
   * per-call fast path of most models.
   */
  readonly flat: TokenPrices | undefined;
}

/** Pico-dollars per cent. */
export const PICO_PER_CENT = 1e10;
/** The npm package the shipped prices come from. */
export const PRICE_SOURCE = '@pydantic/genai-prices';

const MAX_USD_PER_MTOK = 100_000;
/** Largest price file read (the shipped table is about 8 KB). */
export const MAX_PRICE_FILE_BYTES = 1024 * 1024;

class NotReadable extends Error {}

/** The text of `file` if it is a regular file no larger than the cap; else throws {@link NotReadable}. */
function readRegularFile(file: string): string {
  const before = statSync(file);
  if (!before.isFile()) throw new NotReadable(`is not a regular file (${fileKind(before)}); not read`);
  if (before.size > MAX_PRICE_FILE_BYTES) throw new NotReadable(`is ${before.size} bytes, more than the ${MAX_PRICE_FILE_BYTES} allowed; not read`);
  // O_NONBLOCK: a path swapped for a FIFO after the check must not block the open.
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new NotReadable(`is not a regular file (${fileKind(st)}); not read`);
    const buf = Buffer.alloc(MAX_PRICE_FILE_BYTES + 1);
    let n = 0;
    for (;;) {
      const r = readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) break;
      n += r;
      if (n > MAX_PRICE_FILE_BYTES) throw new NotReadable(`is more than the ${MAX_PRICE_FILE_BYTES} bytes allowed; not read`);
    }
    return buf.toString('utf8', 0, n);
  } finally {
    closeSync(fd);
  }
}

function fileKind(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a file';
}
const MEMO_LIMIT = 2000;
/** Dated snapshot suffixes: `-2024-08-06`, `-20241022`, `-0613`. */
const SNAPSHOT_SUFFIX = /-(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4})$/;
const TIER_NAME = /^[a-z][a-z0-9_-]{0,31}$/;
/**
 * Service-tier multipliers applied when neither the override file nor the source names a tier price: OpenAI
 * and Anthropic batch and OpenAI flex are billed at half the standard price (the source shows standard prices
 * only and says so in its comments). A priority tier has per-model prices: without one it is billed at standard.
 */
const DEFAULT_TIER_MULTIPLIERS: ReadonlyArray<readonly [string, number]> = [
  ['batch', 0.5],
  ['flex', 0.5],
];
/**
 * Our provider names (`gen_ai.provider.name`) whose prices the source files under another id. Gateway names
 * (`groq`, `openrouter`, `deepseek`…) are the source's ids already.
 */
const SOURCE_PROVIDER: Readonly<Record<string, string>> = {
  'gcp.gemini': 'google',
  'gcp.vertex_ai': 'google',
  'gcp.gen_ai': 'google',
  'aws.bedrock': 'aws',
  'azure.ai.openai': 'azure',
  'x_ai': 'x-ai',
  'mistral_ai': 'mistral',
};

/**
 * Cost of `t` at `p`, in pico-dollars: an exact integer while it stays below 2^53 (about $9,007 per call).
 * Reasoning tokens are part of `t.output` and priced at `p.reasoning`.
 */
export function costPico(p: TokenPrices, t: BilledTokens): number {
  return (
    t.input * p.input +
    t.cacheRead * p.cacheRead +
    t.cacheWrite5m * p.cacheWrite5m +
    t.cacheWrite1h * p.cacheWrite1h +
    (t.output - t.reasoning) * p.output +
    t.reasoning * p.reasoning +
    p.call
  );
}

/** The source's package, loaded on first use (its bundled data is ~0.5 MB of code). */
interface GenAIPrices {
  calcPrice(usage: Record<string, number>, model: string, options: { providerId: string }): SourceResult | null;
}
interface SourceResult {
  provider: { id: string };
  model: { id: string; prices: SourcePrices | { constraint?: SourceConstraint; prices: SourcePrices }[] };
}
type SourcePrices = Record<string, number | { base: number; tiers: { start: number; price: number }[] } | undefined>;
type SourceConstraint = { type: 'start_date'; start_date: string } | { type: 'time_of_date'; start_time: string; end_time: string };

interface OverrideTable {
  readonly version: string;
  readonly multipliers: Map<string, number>;
  readonly models: Map<string, OverrideModel>;
}
type UsdFields = Record<'input' | 'cache_read' | 'cache_write_5m' | 'cache_write_1h' | 'output', number>;
interface OverrideModel {
  provider: string;
  usd: UsdFields;
  tiers: Map<string, UsdFields>;
}

/**
 * The prices in force: `@pydantic/genai-prices`' bundled data (a maintained source, refreshed by updating the
 * dependency; never fetched at run time: this package never calls its `updatePrices`), with an operator's
 * file (`TENANTSCOPE_PRICES_FILE`) merged over it, by model. A file that cannot be read or fails validation is
 * rejected as a whole with one log line naming the file and the problem; the source stays in force.
 *
 * A model is looked up once per (provider, model name) and memoised (bounded); each call then picks the
 * conditional price, service tier and long-context tier that apply and multiplies integers
 * ({@link PriceTable.costOf}). The source's float totals are never used.
 */
export class PriceTable {
  /** The source's package version (`0.1.8`), or `none` when it could not be loaded. */
  readonly sourceVersion: string;
  /** The override file's `version` (or `unversioned`), when one is merged. */
  readonly overrideVersion: string | undefined;
  /** `genai-prices <version>`, plus `+<override version>` when an override is merged. */
  readonly version: string;
  /** The bundled data: loaded at the first lookup (480 KB of source, ≈ 27 ms and 11 MiB at start otherwise); null when absent. */
  private _source: GenAIPrices | null | undefined;
  private readonly _multipliers: Map<string, number>;
  private readonly _overrides = new Map<string, ModelPrice>();
  private readonly _memo = new Map<string, Map<string, ModelPrice | null>>();
  private _memoSize = 0;
  /** The last provider looked up and its memo: calls come in runs of one provider. */
  private _lastProvider = '';
  private _lastByModel: Map<string, ModelPrice | null> | undefined;

  constructor(options: { overrideFile?: string; source?: 'genai-prices' | 'none' } = {}) {
    let sourceVersion = 'none';
    this._source = null;
    if (options.source !== 'none') {
      try {
        // Found now (a missing package is reported at start), loaded at the first lookup (start-up time).
        require.resolve('@pydantic/genai-prices');
        sourceVersion = readSourceVersion();
        this._source = undefined;
      } catch (err) {
        warn(`${PRICE_SOURCE} could not be loaded (${describeError(err)}): only TENANTSCOPE_PRICES_FILE prices apply`);
      }
    }
    this.sourceVersion = sourceVersion;
    this._multipliers = new Map(DEFAULT_TIER_MULTIPLIERS);
    let overrideVersion: string | undefined;
    if (options.overrideFile !== undefined) {
      const over = PriceTable.parseFile(options.overrideFile);
      if (typeof over === 'string') {
        warn(`TENANTSCOPE_PRICES_FILE ${options.overrideFile}: ${over}; using the ${PRICE_SOURCE} ${sourceVersion} prices alone`);
      } else {
        for (const [k, v] of over.multipliers) this._multipliers.set(k, v);
        for (const [k, v] of over.models) this._overrides.set(k, overrideEntry(k, v, this._multipliers));
        overrideVersion = over.version;
      }
    }
    this.overrideVersion = overrideVersion;
    this.version = `genai-prices ${sourceVersion}${overrideVersion !== undefined ? `+${overrideVersion}` : ''}`;
  }

  /** Number of models the override file prices. */
  get overrideCount(): number {
    return this._overrides.size;
  }

  /**
   * The prices of `model` as `provider` bills it: an override entry first (the exact name, else without a
   * `vendor/` prefix, a dated snapshot suffix or `-latest`; an entry naming a provider applies to that provider
   * only), else the source's entry for the provider/model pair (its own matching rules, dated snapshots
   * included). A provider the source does not know, or a model it does not list, is unpriced: never guessed.
   */
  lookup(provider: string, model: string): ModelPrice | undefined {
    let byModel = provider === this._lastProvider ? this._lastByModel : undefined;
    if (byModel === undefined) {
      byModel = this._memo.get(provider);
      if (byModel === undefined) this._memo.set(provider, (byModel = new Map()));
      this._lastProvider = provider;
      this._lastByModel = byModel;
    }
    let r = byModel.get(model);
    if (r === undefined) {
      r = this._resolve(provider, model) ?? null;
      if (this._memoSize >= MEMO_LIMIT) {
        // Bounded, so hostile model names cannot grow it: start over (a miss costs one resolution).
        this._memo.clear();
        this._memoSize = 0;
        this._memo.set(provider, (byModel = new Map()));
        this._lastProvider = provider;
        this._lastByModel = byModel;
      }
      byModel.set(model, r);
      this._memoSize++;
    }
    return r ?? undefined;
  }

  /**
   * Cost in pico-dollars of `t` with `entry`, in service tier `tier` (undefined, `default`, `standard`, `auto`:
   * standard), at `nowMs` (for prices that change on a date or by time of day), at the long-context tier the
   * call's total input falls in.
   */
  static costOf(entry: ModelPrice, t: BilledTokens, tier: string | undefined, nowMs: number): number {
    const flat = entry.flat;
    return costPico(flat !== undefined && tier === undefined ? flat : PriceTable.pricesFor(entry, t, tier, nowMs), t);
  }

  /** The per-token prices that apply to `t` (see {@link costOf}). */
  static pricesFor(entry: ModelPrice, t: BilledTokens, tier: string | undefined, nowMs: number): TokenPrices {
    const vs = entry.variants;
    const v = vs.length === 1 ? vs[0] : pickVariant(vs, nowMs);
    const s = tier === undefined ? v.standard : (v.tiers.get(tier) ?? v.standard);
    const prices = s.prices;
    if (prices.length === 1) return prices[0];
    const total = t.input + t.cacheRead + t.cacheWrite5m + t.cacheWrite1h;
    let i = 0;
    while (i < s.above.length && total > s.above[i]) i++;
    return prices[i];
  }

  /** True when `entry` has a price for service tier `tier` other than its standard one. */
  static hasTier(entry: ModelPrice, tier: string): boolean {
    return entry.variants[0].tiers.has(tier);
  }

  private _loadSource(): GenAIPrices | null {
    try {
      this._source = require('@pydantic/genai-prices') as GenAIPrices;
    } catch (err) {
      this._source = null;
      warn(`${PRICE_SOURCE} could not be loaded (${describeError(err)}): only TENANTSCOPE_PRICES_FILE prices apply`);
    }
    return this._source;
  }

  private _resolve(provider: string, model: string): ModelPrice | undefined {
    const o = this._override(provider, model.toLowerCase());
    if (o !== undefined) return o;
    if (model === '' || model.length > 256) return undefined;
    const source = this._source === undefined ? this._loadSource() : this._source;
    if (source === null) return undefined;
    const id = SOURCE_PROVIDER[provider] ?? provider;
    let found: SourceResult | null;
    try {
      // Only to find the entry (the source's matching rules); its float prices are not used.
      found = source.calcPrice({ input_tokens: 0, output_tokens: 0 }, model, { providerId: id });
    } catch (err) {
      warnOnce(`price-source:${id}:${model.slice(0, 64)}`, `${PRICE_SOURCE} failed on ${id}/${clip(model)}: ${describeError(err)}`);
      return undefined;
    }
    if (found === null) return undefined;
    const built = sourceEntry(found, this._multipliers);
    if (typeof built === 'string') {
      warnOnce(`price-entry:${found.provider.id}:${found.model.id}`, `${PRICE_SOURCE} entry ${found.provider.id}/${found.model.id} is not usable: ${built}`);
      return undefined;
    }
    return built;
  }

  private _override(provider: string, name: string): ModelPrice | undefined {
    if (this._overrides.size === 0) return undefined;
    let n = name;
    let e = this._overrideFor(provider, n);
    if (e !== undefined) return e;
    const slash = n.lastIndexOf('/');
    if (slash !== -1) {
      n = n.slice(slash + 1);
      if ((e = this._overrideFor(provider, n)) !== undefined) return e;
    }
    const snap = SNAPSHOT_SUFFIX.exec(n);
    if (snap !== null) {
      n = n.slice(0, snap.index);
      if ((e = this._overrideFor(provider, n)) !== undefined) return e;
    }
    if (n.endsWith('-latest')) {
      n = n.slice(0, -7);
      if ((e = this._overrideFor(provider, n)) !== undefined) return e;
    }
    return undefined;
  }

  private _overrideFor(provider: string, name: string): ModelPrice | undefined {
    const e = this._overrides.get(name);
    if (e === undefined) return undefined;
    if (e.provider === '' || e.provider === provider || e.provider === (SOURCE_PROVIDER[provider] ?? provider)) return e;
    return undefined;
  }

  /**
   * Reads and validates an override file; returns the problem as a sentence when it is not usable. Only a regular
   * file of at most {@link MAX_PRICE_FILE_BYTES} is read: a FIFO would block the app's start for ever, `/dev/zero`
   * would fill its memory. The file is opened non-blocking and checked again on the open descriptor.
   */
  static parseFile(file: string): OverrideTable | string {
    let text: string;
    try {
      text = readRegularFile(file);
    } catch (err) {
      return err instanceof NotReadable ? err.message : `cannot be read (${describeError(err)})`;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      return `is not valid JSON (${describeError(err)})`;
    }
    return PriceTable.parse(json);
  }

  /** Validates a parsed override document (format: data/prices.example.json). */
  static parse(json: unknown): OverrideTable | string {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) return 'is not a JSON object';
    const doc = json as { version?: unknown; service_tiers?: unknown; models?: unknown };
    const version = typeof doc.version === 'string' && doc.version !== '' ? clip(doc.version) : 'unversioned';
    const multipliers = new Map<string, number>();
    if (doc.service_tiers !== undefined) {
      if (typeof doc.service_tiers !== 'object' || doc.service_tiers === null) return '"service_tiers" is not an object';
      for (const [tier, m] of Object.entries(doc.service_tiers)) {
        if (!TIER_NAME.test(tier)) return `service tier "${clip(tier)}" is not a tier name`;
        if (typeof m !== 'number' || !Number.isFinite(m) || m < 0 || m > 100) return `service_tiers.${tier} is not a multiplier from 0 to 100`;
        multipliers.set(tier, m);
      }
    }
    if (typeof doc.models !== 'object' || doc.models === null || Array.isArray(doc.models)) return 'has no "models" object';
    const models = new Map<string, OverrideModel>();
    for (const [name, entry] of Object.entries(doc.models as Record<string, unknown>)) {
      if (name === '' || name.length > 128) return `model name "${clip(name)}" is empty or too long`;
      if (typeof entry !== 'object' || entry === null) return `models["${clip(name)}"] is not an object`;
      const e = entry as Record<string, unknown>;
      const usd = usdFields(e, `models["${clip(name)}"]`, undefined);
      if (typeof usd === 'string') return usd;
      const tiers = new Map<string, UsdFields>();
      if (e.tiers !== undefined) {
        if (typeof e.tiers !== 'object' || e.tiers === null) return `models["${clip(name)}"].tiers is not an object`;
        for (const [tier, t] of Object.entries(e.tiers)) {
          if (!TIER_NAME.test(tier)) return `models["${clip(name)}"].tiers: "${clip(tier)}" is not a tier name`;
          if (typeof t !== 'object' || t === null) return `models["${clip(name)}"].tiers.${tier} is not an object`;
          const tp = usdFields(t as Record<string, unknown>, `models["${clip(name)}"].tiers.${tier}`, usd);
          if (typeof tp === 'string') return tp;
          tiers.set(tier, tp);
        }
      }
      if (e.provider !== undefined && typeof e.provider !== 'string') return `models["${clip(name)}"].provider is not a string`;
      models.set(name.toLowerCase(), { provider: typeof e.provider === 'string' ? e.provider : '', usd, tiers });
    }
    return { version, multipliers, models };
  }
}

/** The source package's version, from its package.json (not in its `exports`, so read from disk). */
function readSourceVersion(): string {
  try {
    const main = require.resolve('@pydantic/genai-prices');
    const v = (JSON.parse(readFileSync(join(dirname(main), '..', 'package.json'), 'utf8')) as { version?: unknown }).version;
    return typeof v === 'string' ? clip(v) : 'unknown';
  } catch {
    return 'unknown';
  }
}

function pickVariant(vs: readonly PriceVariant[], nowMs: number): PriceVariant {
  // The source's rule: the last variant whose condition holds, else the first.
  for (let i = vs.length - 1; i >= 0; i--) {
    const w = vs[i].when;
    if (w.kind === 'always') return vs[i];
    if (w.kind === 'since') {
      if (nowMs >= w.ms) return vs[i];
    } else {
      const s = (nowMs % 86_400_000) / 1000;
      if (w.to < w.from ? s >= w.from || s < w.to : s >= w.from && s < w.to) return vs[i];
    }
  }
  return vs[0];
}

// --- building entries ---

const FIELDS = ['input', 'cache_read', 'cache_write_5m', 'cache_write_1h', 'output'] as const;

/** Reads the five USD prices of an override entry; missing cache prices default to input, tier prices to `base`'s. */
function usdFields(e: Record<string, unknown>, where: string, base: UsdFields | undefined): UsdFields | string {
  const out = {} as UsdFields;
  for (const f of FIELDS) {
    const v = e[f];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > MAX_USD_PER_MTOK) {
      return `${where}.${f} is not a price in USD per million tokens from 0 to ${MAX_USD_PER_MTOK}`;
    }
    if (Math.abs(v * 1e6 - Math.round(v * 1e6)) > 1e-6) return `${where}.${f} has more than 6 decimals`;
    out[f] = v;
  }
  if (base === undefined) {
    if (out.input === undefined) return `${where} has no "input" price`;
    if (out.output === undefined) return `${where} has no "output" price`;
  } else {
    out.input ??= base.input;
    out.output ??= base.output;
  }
  out.cache_read ??= base?.cache_read ?? out.input;
  out.cache_write_5m ??= base?.cache_write_5m ?? out.input;
  out.cache_write_1h ??= base?.cache_write_1h ?? out.cache_write_5m;
  return out;
}

/** USD per million tokens → pico-dollars per token, rounded half up (exact for prices with ≤ 6 decimals). */
function picoPerToken(usdPerMtok: number, multiplier: number): number {
  return Math.round(usdPerMtok * multiplier * 1e6);
}

function flat(p: TokenPrices): PriceSchedule {
  return { above: [], prices: [p] };
}

function scaled(s: PriceSchedule, m: number): PriceSchedule {
  return {
    above: s.above,
    prices: s.prices.map((p) =>
      Object.freeze({
        input: Math.round(p.input * m),
        cacheRead: Math.round(p.cacheRead * m),
        cacheWrite5m: Math.round(p.cacheWrite5m * m),
        cacheWrite1h: Math.round(p.cacheWrite1h * m),
        output: Math.round(p.output * m),
        reasoning: Math.round(p.reasoning * m),
        call: Math.round(p.call * m),
      })
    ),
  };
}

function withTiers(standard: PriceSchedule, multipliers: ReadonlyMap<string, number>, explicit?: ReadonlyMap<string, PriceSchedule>): Map<string, PriceSchedule> {
  const tiers = new Map<string, PriceSchedule>();
  for (const [tier, m] of multipliers) tiers.set(tier, scaled(standard, m));
  if (explicit !== undefined) for (const [tier, s] of explicit) tiers.set(tier, s);
  return tiers;
}

function overrideEntry(model: string, m: OverrideModel, multipliers: ReadonlyMap<string, number>): ModelPrice {
  const toPrices = (usd: UsdFields): TokenPrices =>
    Object.freeze({
      input: picoPerToken(usd.input, 1),
      cacheRead: picoPerToken(usd.cache_read, 1),
      cacheWrite5m: picoPerToken(usd.cache_write_5m, 1),
      cacheWrite1h: picoPerToken(usd.cache_write_1h, 1),
      output: picoPerToken(usd.output, 1),
      reasoning: picoPerToken(usd.output, 1),
      call: 0,
    });
  const standard = flat(toPrices(m.usd));
  const explicit = new Map<string, PriceSchedule>();
  for (const [tier, usd] of m.tiers) explicit.set(tier, flat(toPrices(usd)));
  return Object.freeze({
    model,
    provider: m.provider,
    origin: 'override' as const,
    variants: [{ when: { kind: 'always' as const }, standard, tiers: withTiers(standard, multipliers, explicit) }],
    flat: standard.prices[0],
  });
}

/** Source price keys we bill, and the class each prices. Keys we do not track (audio, images, searches) are ignored. */
const SOURCE_KEYS = ['input_mtok', 'cache_read_mtok', 'cache_write_mtok', 'cache_write_1h_mtok', 'output_mtok', 'output_reasoning_mtok', 'requests_kcount'] as const;

function sourceEntry(found: SourceResult, multipliers: ReadonlyMap<string, number>): ModelPrice | string {
  const raw = found.model.prices;
  const list = Array.isArray(raw) ? raw : [{ prices: raw }];
  if (list.length === 0) return 'no prices';
  const variants: PriceVariant[] = [];
  for (const item of list) {
    const when = condition(item.constraint);
    if (typeof when === 'string') return when;
    const standard = schedule(item.prices);
    if (typeof standard === 'string') return standard;
    variants.push({ when, standard, tiers: withTiers(standard, multipliers) });
  }
  const flat = variants.length === 1 && variants[0].standard.prices.length === 1 ? variants[0].standard.prices[0] : undefined;
  return Object.freeze({ model: found.model.id, provider: found.provider.id, origin: 'genai-prices' as const, variants, flat });
}

function condition(c: SourceConstraint | undefined): Condition | string {
  if (c === undefined) return { kind: 'always' };
  if (c.type === 'start_date') {
    const ms = Date.parse(`${c.start_date}T00:00:00Z`);
    return Number.isFinite(ms) ? { kind: 'since', ms } : `bad start_date ${clip(String(c.start_date))}`;
  }
  if (c.type === 'time_of_date') {
    const from = secondOfDay(c.start_time);
    const to = secondOfDay(c.end_time);
    return from !== undefined && to !== undefined ? { kind: 'daily', from, to } : 'bad time_of_date window';
  }
  return `unknown price condition ${clip(JSON.stringify(c))}`;
}

/** `HH:MM:SS[.fff](Z|±HH:MM)` → seconds after UTC midnight. */
function secondOfDay(t: string): number | undefined {
  const m = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|([+-])(\d{2}):(\d{2}))$/.exec(t);
  if (m === null) return undefined;
  const local = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) + Number(`0.${m[4] ?? '0'}`);
  const offset = m[5] === 'Z' ? 0 : (m[6] === '+' ? 1 : -1) * (Number(m[7]) * 3600 + Number(m[8]) * 60);
  return (((local - offset) % 86_400) + 86_400) % 86_400;
}

/**
 * The source's prices for one condition as a schedule. A tiered price applies its tier's price to all tokens of
 * its class once the call's total input exceeds the tier's start (the source's rule); the thresholds of all
 * classes are merged so each interval has one full set of prices. A class with no price of its own is billed
 * as the source bills it: cache reads and writes at the input price, 1-hour writes at the cache-write price,
 * reasoning at the output price.
 */
function schedule(p: SourcePrices): PriceSchedule | string {
  const starts = new Set<number>();
  for (const k of SOURCE_KEYS) {
    const v = p[k];
    if (v === undefined) continue;
    if (typeof v === 'number') {
      if (!Number.isFinite(v) || v < 0) return `${k} is not a price`;
    } else if (typeof v === 'object' && v !== null && typeof v.base === 'number' && Array.isArray(v.tiers)) {
      for (const t of v.tiers) {
        if (!Number.isSafeInteger(t.start) || t.start < 0 || typeof t.price !== 'number' || !(t.price >= 0)) return `${k} has a bad tier`;
        starts.add(t.start);
      }
    } else {
      return `${k} is not a price`;
    }
  }
  const above = [...starts].sort((a, b) => a - b);
  const prices: TokenPrices[] = [];
  for (let i = 0; i <= above.length; i++) {
    // Input size of this interval: just above the previous bound (0 for the first).
    const size = i === 0 ? 0 : above[i - 1] + 1;
    const at = (k: (typeof SOURCE_KEYS)[number]): number | undefined => {
      const v = p[k];
      if (v === undefined) return undefined;
      if (typeof v === 'number') return v;
      let price = v.base;
      for (const t of v.tiers) if (size > t.start) price = t.price;
      return price;
    };
    const input = at('input_mtok') ?? 0;
    const cacheWrite = at('cache_write_mtok') ?? input;
    const output = at('output_mtok') ?? 0;
    const perThousandCalls = at('requests_kcount');
    prices.push(
      Object.freeze({
        input: picoPerToken(input, 1),
        cacheRead: picoPerToken(at('cache_read_mtok') ?? input, 1),
        cacheWrite5m: picoPerToken(cacheWrite, 1),
        cacheWrite1h: picoPerToken(at('cache_write_1h_mtok') ?? cacheWrite, 1),
        output: picoPerToken(output, 1),
        reasoning: picoPerToken(at('output_reasoning_mtok') ?? output, 1),
        // USD per 1,000 calls → pico-dollars per call.
        call: perThousandCalls === undefined ? 0 : Math.round(perThousandCalls * 1e9),
      })
    );
  }
  return { above, prices };
}
