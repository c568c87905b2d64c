import type { CounterSeries } from '../metrics/MetricFamily';
import { VALUE_INVALID, VALUE_OTHER } from '../semconv';

/** Default `TENANTSCOPE_CACHE_TYPE_PATTERN`: the segment before the first `:` (`conversation_context:42`). */
export const DEFAULT_CACHE_TYPE_PATTERN = '{type}:*';

const TYPE = '{type}';
/** Longest key looked at (keys are scanned, never stored); longer keys give `_OTHER`. */
const MAX_KEY_LENGTH = 1024;
const MAX_TYPE_LENGTH = 64;
/** A name, not an id: starts with a letter or `_`, then letters, digits, `_`, `-`, `.`. */
const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const DIGIT = /[0-9]/;
const HEX = /^[0-9a-f]+$/i;

/** One piece of a compiled pattern: literal text, `*` (any run of characters) or the type itself. */
type Token = { readonly lit: string } | '*' | typeof TYPE;

/**
 * Compiles a cache-type pattern: literal text with exactly one `{type}` and any number of `*`, where `{type}` and
 * each `*` match the shortest run up to the literal that follows them (or the rest of the key at the end). `{type}`
 * and `*` must be separated by literal text, so matching never backtracks. Returns an error message when invalid.
 */
export function compileCacheTypePattern(pattern: string): Token[] | string {
  if (pattern.length === 0 || pattern.length > 128) return 'must be 1-128 characters';
  if (!/^[\x21-\x7e]+$/.test(pattern)) return 'must be printable ASCII without spaces';
  const at = pattern.indexOf(TYPE);
  if (at === -1 || pattern.indexOf(TYPE, at + 1) !== -1) return 'must contain "{type}" exactly once';
  const tokens: Token[] = [];
  let lit = '';
  for (let i = 0; i < pattern.length; ) {
    if (i === at || pattern[i] === '*') {
      if (lit !== '') tokens.push({ lit });
      lit = '';
      const t: Token = i === at ? TYPE : '*';
      if (tokens.length > 0 && typeof tokens[tokens.length - 1] === 'string') return '"{type}" and "*" must be separated by literal text';
      tokens.push(t);
      i += i === at ? TYPE.length : 1;
    } else {
      lit += pattern[i++];
    }
  }
  if (lit !== '') tokens.push({ lit });
  return tokens;
}

/** The raw type a key gives under `tokens`, or undefined when the key does not match. */
function extract(tokens: readonly Token[], key: string): string | undefined {
  let pos = 0;
  let type: string | undefined;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (typeof t === 'object') {
      if (!key.startsWith(t.lit, pos)) return undefined;
      pos += t.lit.length;
      continue;
    }
    const next = tokens[i + 1];
    let end: number;
    if (next === undefined) end = key.length;
    else {
      end = key.indexOf((next as { lit: string }).lit, pos);
      if (end === -1) return undefined;
    }
    if (t === TYPE) {
      if (end === pos) return undefined;
      type = key.slice(pos, end);
    }
    pos = end;
  }
  return pos === key.length ? type : undefined;
}

/** True when `s` reads as a name rather than an id (the endpoint normaliser's rules for ids). */
export function isTypeName(s: string): boolean {
  if (s.length === 0 || s.length > MAX_TYPE_LENGTH || !NAME.test(s)) return false;
  if (s.length >= 8 && DIGIT.test(s)) return false; // conv_8f3k2j1, user-20391
  if (s.length >= 16 && HEX.test(s)) return false; // hashes
  return true;
}

export interface CacheTypesOptions {
  /** `TENANTSCOPE_CACHE_TYPE_PATTERN`, already validated (an invalid one falls back to the default). */
  pattern: string;
  /** Distinct cache types before later ones fold into `_OTHER`. */
  maxTypes: number;
  /** Counts folds into `_OTHER` (`tenantscope_labels_folded_total{label="cache_type"}`). */
  folded?: CounterSeries;
}

/**
 * Turns cache keys (Redis spans) and the app's cache names (`cacheLookup`) into a bounded `cache.type`: the
 * key's type by the configured pattern, `_OTHER` for a key that does not match, a type that looks like an id, or
 * a type past the distinct-type limit; `invalid` for a name the app passed that is not a usable label. Keys are
 * scanned, never kept.
 */
export class CacheTypes {
  private readonly _tokens: readonly Token[];
  private readonly _max: number;
  private readonly _folded: CounterSeries | undefined;
  /** Raw type → label (itself, or `_OTHER` for an id-like one); bounded by the limit plus id-like rejects. */
  private readonly _known = new Map<string, string>();
  private _admitted = 0;

  constructor(options: CacheTypesOptions) {
    const t = compileCacheTypePattern(options.pattern);
    this._tokens = typeof t === 'string' ? (compileCacheTypePattern(DEFAULT_CACHE_TYPE_PATTERN) as Token[]) : t;
    this._max = options.maxTypes;
    this._folded = options.folded;
  }

  /** The `cache.type` of a Redis key (a string or Buffer; anything else is `_OTHER`). */
  fromKey(key: unknown): string {
    let k: string;
    if (typeof key === 'string') k = key;
    else if (Buffer.isBuffer(key)) k = key.toString('latin1', 0, Math.min(key.length, MAX_KEY_LENGTH + 1));
    else return VALUE_OTHER;
    if (k.length > MAX_KEY_LENGTH) return VALUE_OTHER;
    const raw = extract(this._tokens, k);
    return raw === undefined ? VALUE_OTHER : this.admit(raw);
  }

  /** The label for a cache name the app passed (`cacheLookup`): `invalid` when it is not a usable name. */
  fromName(name: unknown): string {
    if (typeof name !== 'string' || name.length === 0 || name.length > MAX_TYPE_LENGTH || !NAME.test(name)) return VALUE_INVALID;
    return this.admit(name);
  }

  /**
   * The bounded label for a raw type: itself once admitted, `_OTHER` when it looks like an id or the limit is
   * reached (a fold, counted). Also re-bounds a `cache.type` attribute the processor reads off a span.
   */
  admit(raw: string): string {
    const known = this._known.get(raw);
    if (known !== undefined) return known;
    if (raw === VALUE_OTHER || raw === VALUE_INVALID) return raw;
    if (!isTypeName(raw)) return VALUE_OTHER;
    if (this._admitted >= this._max) {
      if (this._folded !== undefined) this._folded.value++;
      return VALUE_OTHER;
    }
    this._admitted++;
    this._known.set(raw, raw);
    return raw;
  }
}
