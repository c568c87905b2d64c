import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { clip, warn, describeError } from '../log';
import { PACKAGE_ROOT } from '../package';

/**
 * Prices of one model in one service tier, in integer pico-dollars (1e-12 USD) per token. A price given in
 * USD per million tokens with at most six decimals is an exact integer in this unit, so the cost of a call
 * (tokens × price) is an exact integer too: nothing is rounded per call.
 */
export interface TokenPrices {
  readonly input: number;
  readonly cacheRead: number;
  readonly cacheWrite5m: number;
  readonly cacheWrite1h: number;
  readonly output: number;
}

/** A model's entry in the table. */
export interface ModelPrice {
  /** The table key the model name matched. */
  readonly model: string;
  readonly provider: string;
  readonly standard: TokenPrices;
  /** Prices by service tier (`batch`, `flex`, `priority`, …); a tier not listed is billed at `standard`. */
  readonly tiers: ReadonlyMap<string, TokenPrices>;
}

/** Billed token counts of one call, by billing class (input is uncached input only). */
export interface BilledTokens {
  input: number;
  cacheRead: number;
  cacheWrite5m: number;
  cacheWrite1h: number;
  output: number;
}

/** Pico-dollars per cent. */
export const PICO_PER_CENT = 1e10;
/** The table shipped in the package. */
export const SHIPPED_PRICES_FILE = join(PACKAGE_ROOT, 'data', 'prices.json');

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

/** Cost of `t` at `p`, in pico-dollars (an exact integer while it stays below 2^53, i.e. $9,007 per call). */
export function costPico(p: TokenPrices, t: BilledTokens): number {
  return t.input * p.input + t.cacheRead * p.cacheRead + t.cacheWrite5m * p.cacheWrite5m + t.cacheWrite1h * p.cacheWrite1h + t.output * p.output;
}

interface RawTable {
  version?: unknown;
  service_tiers?: unknown;
  models?: unknown;
}

/** A parsed table: entries by model name and default tier multipliers. */
interface ParsedTable {
  readonly version: string;
  readonly multipliers: Map<string, number>;
  readonly models: Map<string, RawModel>;
}
interface RawModel {
  provider: string;
  usd: Record<'input' | 'cache_read' | 'cache_write_5m' | 'cache_write_1h' | 'output', number>;
  tiers: Map<string, Record<'input' | 'cache_read' | 'cache_write_5m' | 'cache_write_1h' | 'output', number>>;
}

/**
 * The price table in force: the one shipped in `data/prices.json`, with the models of an operator's file
 * (`TENANTSCOPE_PRICES_FILE`) merged over it (an entry of the file replaces the shipped entry of that model).
 * A file that cannot be read or fails validation is rejected as a whole with one log line naming the file and
 * the problem; the shipped table stays in force. Look-ups are memoised (bounded).
 */
export class PriceTable {
  /** `version` of the shipped table, plus `+<file>` when an override is merged. */
  readonly version: string;
  private readonly _entries = new Map<string, ModelPrice>();
  private readonly _memo = new Map<string, ModelPrice | null>();

  constructor(options: { overrideFile?: string; shippedFile?: string } = {}) {
    const shipped = PriceTable.parseFile(options.shippedFile ?? SHIPPED_PRICES_FILE);
    let version = 'none';
    let multipliers = new Map<string, number>();
    const raw = new Map<string, RawModel>();
    if (typeof shipped === 'string') {
      warn(`price table ${options.shippedFile ?? SHIPPED_PRICES_FILE}: ${shipped}; model costs are not computed`);
    } else {
      version = shipped.version;
      multipliers = shipped.multipliers;
      for (const [k, v] of shipped.models) raw.set(k, v);
    }
    if (options.overrideFile !== undefined) {
      const over = PriceTable.parseFile(options.overrideFile);
      if (typeof over === 'string') {
        warn(`TENANTSCOPE_PRICES_FILE ${options.overrideFile}: ${over}; using the shipped price table ${version}`);
      } else {
        for (const [k, v] of over.multipliers) multipliers.set(k, v);
        for (const [k, v] of over.models) raw.set(k, v);
        version = `${version}+${over.version}`;
      }
    }
    this.version = version;
    for (const [model, m] of raw) this._entries.set(model, build(model, m, multipliers));
  }

  /** Number of models in the table. */
  get size(): number {
    return this._entries.size;
  }

  /**
   * The entry for `model`: the exact name, else without a `provider/` prefix, a dated snapshot suffix
   * (`gpt-4o-2024-08-06` → `gpt-4o`, `claude-sonnet-4-5-20250929` → `claude-sonnet-4-5`) or `-latest`.
   * Never a fuzzy prefix match: an unknown model stays unpriced rather than guessed.
   */
  lookup(model: string): ModelPrice | undefined {
    let r = this._memo.get(model);
    if (r === undefined) {
      r = this._match(model.toLowerCase()) ?? null;
      if (this._memo.size >= MEMO_LIMIT) this._memo.clear();
      this._memo.set(model, r);
    }
    return r ?? undefined;
  }

  /** Prices for `model` in `tier` (undefined tier, `default`, `standard`, `auto` = standard). */
  static pricesFor(entry: ModelPrice, tier: string | undefined): TokenPrices {
    if (tier === undefined) return entry.standard;
    return entry.tiers.get(tier) ?? entry.standard;
  }

  private _match(name: string): ModelPrice | undefined {
    let n = name;
    let e = this._entries.get(n);
    if (e !== undefined) return e;
    const slash = n.lastIndexOf('/');
    if (slash !== -1) {
      n = n.slice(slash + 1);
      if ((e = this._entries.get(n)) !== undefined) return e;
    }
    const snap = SNAPSHOT_SUFFIX.exec(n);
    if (snap !== null) {
      n = n.slice(0, snap.index);
      if ((e = this._entries.get(n)) !== undefined) return e;
    }
    if (n.endsWith('-latest')) {
      n = n.slice(0, -7);
      if ((e = this._entries.get(n)) !== undefined) return e;
    }
    return undefined;
  }

  /**
   * Reads and validates a table file; returns the problem as a sentence when it is not usable. Only a regular file
   * of at most {@link MAX_PRICE_FILE_BYTES} is read: a FIFO would block the app's start for ever, `/dev/zero` would
   * fill its memory. The file is opened non-blocking and checked again on the open descriptor.
   */
  static parseFile(file: string): ParsedTable | string {
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

  /** Validates a parsed table document. */
  static parse(json: unknown): ParsedTable | string {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) return 'is not a JSON object';
    const doc = json as RawTable;
    const version = typeof doc.version === 'string' && doc.version !== '' ? doc.version : 'unversioned';
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
    const models = new Map<string, RawModel>();
    for (const [name, entry] of Object.entries(doc.models as Record<string, unknown>)) {
      if (name === '' || name.length > 128) return `model name "${clip(name)}" is empty or too long`;
      if (typeof entry !== 'object' || entry === null) return `models["${clip(name)}"] is not an object`;
      const e = entry as Record<string, unknown>;
      const usd = prices(e, `models["${clip(name)}"]`, undefined);
      if (typeof usd === 'string') return usd;
      const tiers = new Map<string, RawModel['usd']>();
      if (e.tiers !== undefined) {
        if (typeof e.tiers !== 'object' || e.tiers === null) return `models["${clip(name)}"].tiers is not an object`;
        for (const [tier, t] of Object.entries(e.tiers)) {
          if (!TIER_NAME.test(tier)) return `models["${clip(name)}"].tiers: "${clip(tier)}" is not a tier name`;
          if (typeof t !== 'object' || t === null) return `models["${clip(name)}"].tiers.${tier} is not an object`;
          const tp = prices(t as Record<string, unknown>, `models["${clip(name)}"].tiers.${tier}`, usd);
          if (typeof tp === 'string') return tp;
          tiers.set(tier, tp);
        }
      }
      models.set(name.toLowerCase(), { provider: typeof e.provider === 'string' ? e.provider : '', usd, tiers });
    }
    return { version, multipliers, models };
  }
}

const FIELDS = ['input', 'cache_read', 'cache_write_5m', 'cache_write_1h', 'output'] as const;

/** Reads the five USD prices of an entry; missing cache prices default to input, missing tier prices to `base`'s ratio-free values. */
function prices(e: Record<string, unknown>, where: string, base: RawModel['usd'] | undefined): RawModel['usd'] | string {
  const out = {} as RawModel['usd'];
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

function toPico(usd: RawModel['usd'], multiplier: number): TokenPrices {
  // Round half up to a whole pico-dollar; exact for any price with ≤ 6 decimals and a multiplier of 0.5.
  const p = (v: number): number => Math.round(v * multiplier * 1e6);
  return Object.freeze({
    input: p(usd.input),
    cacheRead: p(usd.cache_read),
    cacheWrite5m: p(usd.cache_write_5m),
    cacheWrite1h: p(usd.cache_write_1h),
    output: p(usd.output),
  });
}

function build(model: string, m: RawModel, multipliers: ReadonlyMap<string, number>): ModelPrice {
  const standard = toPico(m.usd, 1);
  const tiers = new Map<string, TokenPrices>();
  for (const [tier, mult] of multipliers) tiers.set(tier, toPico(m.usd, mult));
  for (const [tier, usd] of m.tiers) tiers.set(tier, toPico(usd, 1));
  return Object.freeze({ model, provider: m.provider, standard, tiers });
}

