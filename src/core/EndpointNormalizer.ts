import { MAX_KEY_ENDPOINT_INDEX } from './RequestKey';
import { ENDPOINT_OVERFLOW, ENDPOINT_UNMATCHED } from './semconv';

export interface EndpointNormalizerOptions {
  /**
   * Distinct endpoint values metrics may see; later ones fold into `overflow`. At most
   * `MAX_KEY_ENDPOINT_INDEX - 1` (131,070; the config allows 100,000), so every index fits a request key.
   */
  maxEndpoints: number;
  /** Route templates such as `/v1/chats/:chatId/messages`, matched segment by segment before the default folding. */
  templates?: readonly string[];
}

const MAX_SEGMENTS = 8;
const MAX_SEGMENT_LENGTH = 64;
const MEMO_LIMIT = 5000;
const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const HEX_HASH = /^[0-9a-f]{16,}$/i;
const NUMBER = /^[0-9]+$/;
const SAFE_SEGMENT = /^[A-Za-z0-9._~-]+$/;
const DIGIT = /[0-9]/;

/** Index of `unmatched` in {@link EndpointMatch.index}. */
export const ENDPOINT_INDEX_UNMATCHED = 0;
/** Index of `overflow` in {@link EndpointMatch.index}. */
export const ENDPOINT_INDEX_OVERFLOW = 1;

/**
 * What {@link EndpointNormalizer.resolve} found for one request. The caller owns one and passes it to every call,
 * so resolving allocates nothing per span; each call overwrites all three fields.
 */
export class EndpointMatch {
  /** The `endpoint` label value. */
  label: string = ENDPOINT_UNMATCHED;
  /**
   * A small dense index of `label`, the same for the same label on every call: {@link ENDPOINT_INDEX_UNMATCHED},
   * {@link ENDPOINT_INDEX_OVERFLOW}, then admitted endpoints in admission order, at most `maxEndpoints + 1`
   * (within a request key's bound, see src/core/RequestKey.ts).
   */
  index = ENDPOINT_INDEX_UNMATCHED;
  /** True when this request's endpoint was new past the limit and folded into `overflow` (count it). */
  folded = false;
}

interface Template {
  readonly text: string;
  /** Literal segments, or `undefined` where the template has a `:param`. */
  readonly segments: readonly (string | undefined)[];
}

/**
 * Turns a request into a bounded `endpoint` label: the framework's route template when there is one,
 * otherwise the raw path with ids, UUIDs and hashes folded into placeholders. Raw ids never become series.
 */
export class EndpointNormalizer {
  private readonly _max: number;
  private readonly _templates: Template[];
  /** Admitted endpoints → their {@link EndpointMatch.index} (the reserved values take 0 and 1). */
  private readonly _admitted = new Map<string, number>([
    [ENDPOINT_UNMATCHED, ENDPOINT_INDEX_UNMATCHED],
    [ENDPOINT_OVERFLOW, ENDPOINT_INDEX_OVERFLOW],
  ]);
  /** Static raw paths (those that normalise to themselves), bounded (cleared when full) so hostile paths cannot grow it. */
  private readonly _memo = new Map<string, string>();
  /** The match {@link endpoint} fills, for callers that want the label only. */
  private readonly _scratch = new EndpointMatch();

  constructor(options: EndpointNormalizerOptions) {
    this._max = Math.min(options.maxEndpoints, MAX_KEY_ENDPOINT_INDEX - 1);
    this._templates = (options.templates ?? []).map((text) => ({
      text,
      segments: splitPath(text).map((s) => (s.startsWith(':') || (s.startsWith('{') && s.endsWith('}')) ? undefined : s)),
    }));
  }

  /**
   * Resolves a server request's endpoint into `out` and returns it. `route` is the framework's template
   * (`http.route`), `path` the raw path (`url.path`), `status` the response status (a 404 without a route is
   * folded into `unmatched`).
   */
  resolve(route: unknown, path: unknown, status: number, out: EndpointMatch): EndpointMatch {
    let e: string;
    if (typeof route === 'string' && route !== '') {
      e = route.length > 256 ? ENDPOINT_OVERFLOW : route;
    } else if (status === 404 || typeof path !== 'string') {
      out.label = ENDPOINT_UNMATCHED;
      out.index = ENDPOINT_INDEX_UNMATCHED;
      out.folded = false;
      return out;
    } else {
      e = this.normalizePath(path);
    }
    let i = this._admitted.get(e);
    out.folded = false;
    if (i === undefined) {
      if (this._admitted.size < this._max + 2) {
        i = this._admitted.size;
        this._admitted.set(e, i);
      } else {
        e = ENDPOINT_OVERFLOW;
        i = ENDPOINT_INDEX_OVERFLOW;
        out.folded = true;
      }
    }
    out.label = e;
    out.index = i;
    return out;
  }

  /** The endpoint label for a server request (see {@link resolve}). */
  endpoint(route: unknown, path: unknown, status: number): string {
    return this.resolve(route, path, status, this._scratch).label;
  }

  /**
   * Folds a raw path into a template-like string. Pure. Paths that come out unchanged (static routes, which
   * repeat) are memoised; paths with ids are not, since they rarely repeat and would only churn the memo
   * (bench/handler.bench.ts: 5,000 ids per route re-normalised through split and regexes cost 3-6 µs a request).
   */
  normalizePath(path: string): string {
    let n = this._memo.get(path);
    if (n === undefined) {
      n = this._templates.length > 0 ? this._normalizeWithTemplates(path) : normalizeScan(path);
      if (n === path) {
        if (this._memo.size >= MEMO_LIMIT) this._memo.clear();
        this._memo.set(path, n);
      }
    }
    return n;
  }

  private _normalizeWithTemplates(path: string): string {
    const q = path.search(/[?#]/);
    const segments = splitPath(q === -1 ? path : path.slice(0, q));
    for (const t of this._templates) {
      if (matches(t, segments)) return t.text;
    }
    if (segments.length === 0) return '/';
    let out = '';
    const n = Math.min(segments.length, MAX_SEGMENTS);
    for (let i = 0; i < n; i++) out += '/' + foldSegment(segments[i]);
    if (segments.length > MAX_SEGMENTS) out += '/*';
    return out;
  }
}

/**
 * The default folding in one pass over the characters, without splitting or regexes on the common path; the
 * same result as folding each non-empty segment with {@link foldSegment}.
 */
function normalizeScan(path: string): string {
  const len = path.length;
  // While every segment so far is kept as it is and separated by one slash, the output is the path's own prefix
  // `path.slice(0, same)`: nothing is built until a segment folds (most paths fold one id at the end, or none).
  let same = 0;
  let lazy = true;
  let out = '';
  let segments = 0;
  let i = 0;
  while (i < len) {
    let c = path.charCodeAt(i);
    if (c === 63 /* ? */ || c === 35 /* # */) break;
    if (c === 47 /* / */) {
      i++;
      continue;
    }
    // A segment: classify its characters as we go.
    const start = i;
    let safe = true;
    let digits = 0;
    let hex = 0;
    let dashes = 0;
    while (i < len) {
      c = path.charCodeAt(i);
      if (c === 47 || c === 63 || c === 35) break;
      if (c >= 48 && c <= 57) {
        digits++;
        hex++;
      } else if ((c >= 97 && c <= 102) || (c >= 65 && c <= 70)) hex++;
      else if (c === 45) dashes++;
      else if (!((c >= 103 && c <= 122) || (c >= 71 && c <= 90) || c === 46 || c === 95 || c === 126)) safe = false;
      i++;
    }
    if (++segments > MAX_SEGMENTS) {
      if (lazy) out = path.slice(0, same);
      out += '/*';
      return out;
    }
    const n = i - start;
    let folded: string | undefined;
    if (n > MAX_SEGMENT_LENGTH || !safe) folded = ':param';
    else if (digits === n) folded = ':id';
    else if (hex + dashes === n && hex === 32 && dashes <= 4 && UUID.test(path.slice(start, i))) folded = ':uuid';
    else if (hex === n && n >= 16) folded = ':hash';
    else if (n >= 8 && digits > 0) folded = ':id';
    if (lazy) {
      if (folded === undefined && start - 1 === same) {
        same = i;
        continue;
      }
      out = path.slice(0, same);
      lazy = false;
    }
    out += '/' + (folded ?? path.slice(start, i));
  }
  if (segments === 0) return '/';
  if (lazy) return same === len ? path : path.slice(0, same);
  return out;
}

function splitPath(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

function matches(t: Template, segments: string[]): boolean {
  if (t.segments.length !== segments.length) return false;
  for (let i = 0; i < segments.length; i++) {
    const lit = t.segments[i];
    if (lit !== undefined && lit !== segments[i]) return false;
  }
  return true;
}

function foldSegment(s: string): string {
  if (s.length > MAX_SEGMENT_LENGTH || !SAFE_SEGMENT.test(s)) return ':param';
  if (NUMBER.test(s)) return ':id';
  if (UUID.test(s)) return ':uuid';
  if (HEX_HASH.test(s)) return ':hash';
  // Mixed letters and digits of some length look like generated ids (conv_8f3k2j1, 2024-05-30, ord-20391).
  if (s.length >= 8 && DIGIT.test(s)) return ':id';
  return s;
}
