import { VALUE_OTHER } from './semconv';

/*
 * A request key packs one HTTP request tuple (endpoint, method, status) into one small integer, so a metric
 * processor can tell per span whether the tuple is the one it cached, with one number comparison instead of
 * three string comparisons or a nested Map walk (bench/processor.bench.ts). Bit fields, low to high:
 *
 *   bits  0–9   status          0 … 1023  (HTTP statuses are 100–599; 0 stands for "unknown")
 *   bits 10–13  method index    0 … 15    (0 is `_OTHER`, then HTTP_METHOD_LABELS)
 *   bits 14–30  endpoint index  0 … 131071 (EndpointNormalizer's dense index: 0 `unmatched`, 1 `overflow`, …)
 *
 * 31 bits in all: the key is a non-negative int32 (a small integer to V8, exact as a double), and distinct
 * tuples within these bounds get distinct keys. `requestKey` rejects anything outside them.
 */
const STATUS_BITS = 10;
const METHOD_BITS = 4;
const ENDPOINT_BITS = 17;

/** Largest status a request key holds. */
export const MAX_KEY_STATUS = (1 << STATUS_BITS) - 1;
/** Largest method index a request key holds. */
export const MAX_KEY_METHOD_INDEX = (1 << METHOD_BITS) - 1;
/** Largest endpoint index a request key holds (EndpointNormalizer keeps its indexes at or below it). */
export const MAX_KEY_ENDPOINT_INDEX = (1 << ENDPOINT_BITS) - 1;

/** The `method` label values by method index: index 0 is `_OTHER` (any method not listed). */
export const HTTP_METHOD_LABELS: readonly string[] = [
  VALUE_OTHER,
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
];
const METHOD_INDEX = new Map(HTTP_METHOD_LABELS.map((m, i) => [m, i]));
METHOD_INDEX.delete(VALUE_OTHER);

/** The method index of `http.request.method` (0, labelled `_OTHER`, for anything not in {@link HTTP_METHOD_LABELS}). */
export function httpMethodIndex(method: string): number {
  return METHOD_INDEX.get(method) ?? 0;
}

/**
 * The key of a request tuple. Each argument must be an integer from 0 to its `MAX_KEY_*` bound; anything else
 * (negative, fractional, NaN, too large) throws a `RangeError` instead of colliding with another tuple's key.
 */
export function requestKey(endpointIndex: number, methodIndex: number, status: number): number {
  // `(x & max) === x` holds exactly for integers 0 … max (max = 2^n − 1).
  if (
    (endpointIndex & MAX_KEY_ENDPOINT_INDEX) !== endpointIndex ||
    (methodIndex & MAX_KEY_METHOD_INDEX) !== methodIndex ||
    (status & MAX_KEY_STATUS) !== status
  ) {
    outOfBounds(endpointIndex, methodIndex, status);
  }
  return (endpointIndex << (METHOD_BITS + STATUS_BITS)) | (methodIndex << STATUS_BITS) | status;
}

/** Kept out of {@link requestKey} so the hot function stays small enough to inline. */
function outOfBounds(endpointIndex: number, methodIndex: number, status: number): never {
  throw new RangeError(
    `request key out of bounds: endpoint index ${endpointIndex} (0–${MAX_KEY_ENDPOINT_INDEX}), ` +
      `method index ${methodIndex} (0–${MAX_KEY_METHOD_INDEX}), status ${status} (0–${MAX_KEY_STATUS})`
  );
}
