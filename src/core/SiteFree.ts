import type { HrTime, SpanContext, TraceState } from '@opentelemetry/api';

/*
 * Objects a request keeps while it runs or waits for export (a span's context, start, end and duration; the HTTP
 * server instrumentation's per-request state and RPC metadata: instrumentations/httpserver/), made without an object
 * or array literal.
 *
 * V8 gives every object and array literal an allocation site and watches, at each scavenge, how many of the site's
 * young objects are still alive. A site whose objects mostly survive (85 %) is *pretenured*: from then on its
 * objects are allocated straight in the old generation, and the decision is not taken back. Objects a request keeps
 * qualify, in a warm-up or whenever spans wait in the export queue across a scavenge (`--trace-pretenuring` shows
 * the decisions in the pg + redis bench). A pretenured object keeps the young objects it points to alive through the
 * remembered set until the next full GC, dead or not: the per-request state pointed to the server span, so every
 * ended server span, with all it refers to, was copied by one scavenge and promoted by the next. In the bench: about
 * 850 bytes promoted and 3.1-3.7 µs of scavenges per request before, 124-302 bytes and 1.0-1.6 µs after, as with
 * `--no-allocation-site-pretenuring` (`--trace-gc-nvp`, docs/benchmarks.md). CPU per request moved within the noise:
 * with less promoted, V8 lowers its old-generation limit and runs mark-compacts about three times as often.
 *
 * What has no allocation site to pretenure: a class instance, `{}` followed by stores, and an array `slice` makes
 * (a builtin's allocation). `new Array(n)` has one: with all span times made by it, the fixture of
 * test/unit/SiteFree.test.ts saw its arrays pretenured. The test checks each part where V8 allocated it, next to a
 * literal control that V8 does pretenure. Cost: a `slice` and two stores ≈ 17 ns, an array literal ≈ 10.
 */

/** What {@link hrTimeOf} copies: `slice` makes its array in a builtin, with no allocation site. */
const PAIR: readonly number[] = [0, 0];

/** An `HrTime` `[seconds, nanos]`, not from an array literal nor `new Array` (which has a site V8 pretenures too). */
export function hrTimeOf(seconds: number, nanos: number): HrTime {
  const t = PAIR.slice();
  t[0] = seconds;
  t[1] = nanos;
  return t as HrTime;
}

/** `@opentelemetry/core`'s `millisToHrTime`, the same arithmetic, into {@link hrTimeOf}. */
export function millisToHrTimeOf(epochMillis: number): HrTime {
  return hrTimeOf(Math.trunc(epochMillis / 1e3), Math.round((epochMillis % 1e3) * 1e6));
}

/** A plain span context `{ traceId, spanId, traceFlags, traceState }`, not from an object literal. */
export function spanContextOf(traceId: string, spanId: string, traceFlags: number, traceState: TraceState | undefined): SpanContext {
  const sc = {} as SpanContext;
  sc.traceId = traceId;
  sc.spanId = spanId;
  sc.traceFlags = traceFlags;
  sc.traceState = traceState;
  return sc;
}
