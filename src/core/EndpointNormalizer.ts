import { ENDPOINT_OVERFLOW, ENDPOINT_UNMATCHED } from './semconv';

export interface EndpointNormalizerOptions {
  /** Distinct endpoint values metrics may see; later ones fold into `overflow`. */
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
  /** Admitted endpoints → a small index (the reserved values take 0 and 1), for compact tuple keys. */
  private readonly _admitted = new Map<string, number>([
    [ENDPOINT_UNMATCHED, 0],
    [ENDPOINT_OVERFLOW, 1],
  ]);
  /** Static raw paths (those that normalise to themselves), bounded (cleared when full) so hostile paths cannot grow it. */
  private readonly _memo = new Map<string, string>();
  /** Requests folded into `overflow`. */
  folded = 0;
  /**
   * A small index of the endpoint the last {@link endpoint} call returned (0 for `unmatched`, 1 for `overflow`),
   * for compact tuple keys without a second look-up.
   */
  lastIndex = 0;

  constructor(options: EndpointNormalizerOptions) {
    this._max = options.maxEndpoints;
    this._templates = (options.templates ?? []).map((text) => ({
      text,
      segments: splitPath(text).map((s) => (s.startsWith(':') || (s.startsWith('{') && s.endsWith('}')) ? undefined : s)),
    }));
  }

  /**
   * The endpoint label for a server request. `route` is the framework's template (`http.route`), `path` the raw
   * path (`url.path`), `status` the response status (a 404 without a route is folded into `unmatched`).
   */
  endpoint(route: unknown, path: unknown, status: number): string {
    let e: string;
    if (typeof route === 'string' && route !== '') {
      e = route.length > 256 ? ENDPOINT_OVERFLOW : route;
    } else if (status === 404 || typeof path !== 'string') {
      this.lastIndex = 0;
      return ENDPOINT_UNMATCHED;
    } else {
      e = this.normalizePath(path);
    }
    const i = this._admitted.get(e);
    if (i !== undefined) {
      this.lastIndex = i;
      return e;
    }
    if (this._admitted.size < this._max + 2) {
      this.lastIndex = this._admitted.size;
      this._admitted.set(e, this.lastIndex);
      return e;
    }
    this.folded++;
    this.lastIndex = 1;
    return ENDPOINT_OVERFLOW;
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
      out += '/*';
      return out;
    }
    const n = i - start;
    let folded: string;
    if (n > MAX_SEGMENT_LENGTH || !safe) folded = ':param';
    else if (digits === n) folded = ':id';
    else if (hex + dashes === n && hex === 32 && dashes <= 4 && UUID.test(path.slice(start, i))) folded = ':uuid';
    else if (hex === n && n >= 16) folded = ':hash';
    else if (n >= 8 && digits > 0) folded = ':id';
    else folded = path.slice(start, i);
    out += '/' + folded;
  }
  return segments === 0 ? '/' : out;
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
