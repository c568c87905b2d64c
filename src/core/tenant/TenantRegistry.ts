import type { createHmac as CreateHmac } from 'node:crypto';
import { TENANT_INVALID, TENANT_OVERFLOW, TENANT_UNKNOWN } from '../semconv';
import type { TenantCell } from './TenantCell';

/**
 * `node:crypto`'s `createHmac`, loaded at the first hashed tenant id: only a hash key needs it. Crypto and its ~20
 * internal modules cost a start about 5 ms of CPU and 1 MiB (measured with the bundle's crypto stand-in, the other
 * require that loaded it at start: docs/benchmarks.md, round seven).
 */
let hmac: typeof CreateHmac | undefined;

/** The charset and length a tenant id must have to be used as given. */
export const TENANT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
/** Char codes (< 128) a tenant id may use: 1 after the first character, 2 also as the first. */
const ID_CHAR = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z0-9]/.test(ch)) ID_CHAR[c] = 2;
  else if (/[._:-]/.test(ch)) ID_CHAR[c] = 1;
}

/**
 * {@link TENANT_ID_PATTERN} by a character table: the same answer for every string (test/unit/TenantRegistry.test.ts),
 * without a regular expression run on every request's tenant header.
 */
export function isTenantIdSpelling(s: string): boolean {
  const n = s.length;
  if (n === 0 || n > 64) return false;
  const first = s.charCodeAt(0);
  if (first >= 128 || ID_CHAR[first] !== 2) return false;
  for (let i = 1; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || ID_CHAR[c] === 0) return false;
  }
  return true;
}

/** Reserved label values, in the order of their dense indexes (0, 1, 2). */
const RESERVED_LABELS = [TENANT_UNKNOWN, TENANT_INVALID, TENANT_OVERFLOW];
const RESERVED = new Set(RESERVED_LABELS);
const RESERVED_INDEX = new Map(RESERVED_LABELS.map((l, i) => [l, i]));
const OVERFLOW_INDEX = RESERVED_INDEX.get(TENANT_OVERFLOW) as number;

/**
 * True for a value spelled like a reserved label in any case (`UNKNOWN`, `Invalid`): dashboards must not show
 * `unknown` and `UNKNOWN` side by side. Only 7- and 8-character values are lower-cased, so common ids cost nothing.
 */
function isReserved(s: string): boolean {
  return (s.length === 7 || s.length === 8) && RESERVED.has(s.toLowerCase());
}
/** Bound on the memo of hashed ids, so hostile traffic cannot grow it. */
const HASH_MEMO_LIMIT = 10_000;

export interface TenantRegistryOptions {
  /** Distinct tenants the metrics may see; later ones fold into `overflow`. */
  maxTenants: number;
  /** When set, ids on spans and metrics are replaced by a keyed hash. */
  hashKey?: string;
}

/**
 * Turns untrusted tenant values into the id that goes on spans and the label that goes on metrics.
 * One admission set serves every metric family, so per-tenant ratios across families stay consistent.
 */
export class TenantRegistry {
  private readonly _max: number;
  private readonly _hashKey: string | undefined;
  /** Admitted ids → their small index (reserved values take 0–2), so processors can index arrays by tenant. */
  private readonly _admitted = new Map<string, number>();
  /** Labels by dense index: the reserved values, then admitted ids in admission order. */
  private readonly _labels: string[] = [...RESERVED_LABELS];
  private readonly _hashMemo = new Map<string, string>();

  constructor(options: TenantRegistryOptions) {
    this._max = options.maxTenants;
    this._hashKey = options.hashKey;
  }

  /** Number of distinct tenants admitted to metrics so far. */
  get admittedCount(): number {
    return this._admitted.size;
  }

  /**
   * The id for spans: the validated (and, if configured, hashed) id, `invalid` for a value that fails
   * validation or is spelled like a reserved value in any case, `unknown` when there is none.
   */
  spanId(raw: unknown): string {
    if (raw === undefined || raw === null || raw === '') return TENANT_UNKNOWN;
    if (typeof raw !== 'string' || !isTenantIdSpelling(raw) || isReserved(raw)) return TENANT_INVALID;
    return this._hashKey === undefined ? raw : this._hash(raw);
  }

  /** The metric label for a span id from {@link spanId}: admitted ids as they are, later ones `overflow`. */
  label(spanId: string): string {
    if (RESERVED.has(spanId)) return spanId;
    if (this._admitted.has(spanId)) return spanId;
    if (this._admitted.size < this._max) {
      this._admitted.set(spanId, this._labels.length);
      this._labels.push(spanId);
      return spanId;
    }
    return TENANT_OVERFLOW;
  }

  /**
   * A dense index for a label from {@link label}: 0–2 for the reserved values, then admission order. Lets
   * per-tenant tables be arrays rather than hash maps (bench/processor.bench.ts).
   */
  index(label: string): number {
    return this._admitted.get(label) ?? RESERVED_INDEX.get(label) ?? OVERFLOW_INDEX;
  }

  /** Calls `fn` with the label of every tenant admitted so far, in admission order (not for per-span use). */
  forEachAdmitted(fn: (label: string) => void): void {
    for (let i = RESERVED_LABELS.length; i < this._labels.length; i++) fn(this._labels[i]);
  }

  /** The label whose dense index is `index` (see {@link index}). */
  labelAt(index: number): string {
    return this._labels[index] ?? TENANT_OVERFLOW;
  }

  /**
   * The dense index of the metric label of `cell`'s tenant in this registry; the answer is cached on the cell
   * for this registry, so a span of an already-seen request costs one comparison. A cell another registry
   * created, or one cached by another registry, is resolved here again: labels never cross registries.
   */
  indexOf(cell: TenantCell): number {
    if (cell.cachedBy === this) return cell.cachedIndex;
    // An admitted id (the common case: a known tenant on a new request) in one look-up.
    const i = this._admitted.get(cell.id) ?? this.index(this.label(cell.id));
    cell.cachedBy = this;
    cell.cachedIndex = i;
    return i;
  }

  /** The dense index of the metric label for a raw `tenant.id` attribute value (a span with no tenant cell). */
  indexOfAttribute(raw: unknown): number {
    if (raw === undefined) return RESERVED_INDEX.get(TENANT_UNKNOWN) as number;
    return this.index(this.label(this.spanId(raw)));
  }

  private _hash(id: string): string {
    let h = this._hashMemo.get(id);
    if (h === undefined) {
      // 16 hex chars (64 bits): collisions are negligible at any realistic tenant count.
      hmac ??= (process.getBuiltinModule('node:crypto') as typeof import('node:crypto')).createHmac;
      h = 't' + hmac('sha256', this._hashKey as string).update(id).digest('hex').slice(0, 16);
      if (this._hashMemo.size >= HASH_MEMO_LIMIT) this._hashMemo.clear();
      this._hashMemo.set(id, h);
    }
    return h;
  }
}
